//! The secret key that seals tokens at rest (AES-256-GCM, aws-lc-rs): from `POSTERN_SECRET_KEY`
//! (base64 of 32 bytes, the same on every node), else the file `secret.key` of the data
//! directory, made on first use with mode 0600 when Postern may make it (one node, SQLite).
//!
//! A sealed value is `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`; the additional data names what
//! it is (`incoming-servers/4/refresh_token`), so that a sealed value copied onto another row or
//! column does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use postern_model::Secret;
use std::path::{Path, PathBuf};

/// The environment variable of the key.
pub const KEY_ENV: &str = "POSTERN_SECRET_KEY";
/// The key's file name in the data directory.
pub const KEY_FILE: &str = "secret.key";

/// Why the key could not be had, or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key, and none may be made.
    #[error(
        "no secret key to seal OAuth tokens with: set {KEY_ENV} (base64 of 32 random bytes, the \
         same on every node), or put it in {0}"
    )]
    Missing(PathBuf),
    /// The key is not 32 bytes of base64, or its file is readable by others.
    #[error("the secret key is unusable: {0}")]
    Invalid(String),
    /// Reading or writing the key file failed.
    #[error("the secret key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A sealed value does not open with this key (another key, or altered).
    #[error("a sealed token does not open with this secret key (was the key changed?)")]
    Open,
}

/// The key. Never printed.
pub struct SecretKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretKey, KeyError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| KeyError::Invalid(format!("{} bytes, expected 32", bytes.len())))?;
        Ok(SecretKey {
            key: LessSafeKey::new(unbound),
        })
    }

    /// The key of `POSTERN_SECRET_KEY` (given as `env`), else of `DATA_DIR/secret.key`; when
    /// neither exists, a new one is written there if `may_create`, else [`KeyError::Missing`].
    pub fn load(
        env: Option<&str>,
        data_dir: &Path,
        may_create: bool,
    ) -> Result<SecretKey, KeyError> {
        if let Some(text) = env.map(str::trim).filter(|t| !t.is_empty()) {
            return Self::from_base64(text, KEY_ENV);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_mode(&path)?;
                Self::from_base64(text.trim(), &path.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => Self::create(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(KeyError::Missing(path)),
            Err(e) => Err(KeyError::Io(path, e)),
        }
    }

    fn from_base64(text: &str, origin: &str) -> Result<SecretKey, KeyError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| KeyError::Invalid(format!("{origin} is not base64")))?;
        Self::from_bytes(&bytes).map_err(|e| KeyError::Invalid(format!("{origin}: {e}")))
    }

    fn create(path: &Path) -> Result<SecretKey, KeyError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut bytes = [0u8; 32];
        fill(&mut bytes);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| KeyError::Io(dir.to_owned(), e))?;
        }
        // create_new: two processes starting at once do not overwrite each other's key
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match file {
            Ok(mut f) => {
                let text = format!("{}\n", STANDARD.encode(bytes));
                f.write_all(text.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| KeyError::Io(path.to_owned(), e))?;
                tracing::info!(path = %path.display(), "made the key that seals OAuth tokens");
                Self::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(None, path.parent().unwrap_or(Path::new(".")), false)
            }
            Err(e) => Err(KeyError::Io(path.to_owned(), e)),
        }
    }

    /// Seals `plain` for `what` (the additional data).
    pub fn seal(&self, plain: &str, what: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        fill(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(what.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seals any input under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("v1.{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed for `what`.
    pub fn open(&self, sealed: &str, what: &str) -> Result<Secret, KeyError> {
        let body = sealed.strip_prefix("v1.").ok_or(KeyError::Open)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| KeyError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(KeyError::Open);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Open)?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(what.as_bytes()), &mut data)
            .map_err(|_| KeyError::Open)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| KeyError::Open)
    }
}

/// Random bytes from the system's generator.
pub(crate) fn fill(buf: &mut [u8]) {
    use aws_lc_rs::rand::SecureRandom as _;
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .expect("the system's random generator");
}

/// A key file readable by group or others is refused: it opens every token.
fn check_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| KeyError::Io(path.to_owned(), e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Invalid(format!(
            "{} has mode {mode:o}: it must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_what_they_were_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load(None, dir.path(), true).unwrap();
        let sealed = key.seal("refresh-token-value", "incoming-servers/1/refresh_token");
        assert!(!sealed.contains("refresh-token-value"));
        let open = key
            .open(&sealed, "incoming-servers/1/refresh_token")
            .unwrap();
        assert_eq!(open.expose(), "refresh-token-value");
        assert!(
            key.open(&sealed, "incoming-servers/2/refresh_token")
                .is_err()
        );
        // the same key again from the file, which is the owner's only
        let again = SecretKey::load(None, dir.path(), false).unwrap();
        assert!(
            again
                .open(&sealed, "incoming-servers/1/refresh_token")
                .is_ok()
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_key_is_an_error_when_it_may_not_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let e = SecretKey::load(None, dir.path(), false).unwrap_err();
        assert!(e.to_string().contains(KEY_ENV), "{e}");
        let e = SecretKey::load(Some("not base64!"), dir.path(), true).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
        let other = SecretKey::load(Some(&STANDARD.encode([7u8; 32])), dir.path(), false).unwrap();
        let mine = SecretKey::load(None, dir.path(), true).unwrap();
        assert!(other.open(&mine.seal("x", "w"), "w").is_err());
    }
}
