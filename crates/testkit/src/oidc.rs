//! A real OAuth 2 / OpenID Connect provider on loopback (npm's `oidc-provider`, run by node from
//! `oidc/server.js`), and a private Dovecot whose IMAP logins are checked against it (Dovecot's
//! `oauth2` passdb, by token introspection): the parts of the OAuth tests (feature `oidc`).
//!
//! `scripts/test.sh` installs node, npm and `oidc-provider` (into a cache directory, exported as
//! `POSTERN_TEST_OIDC_MODULES`); without them the tests that need them fail, saying so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `node_modules` directory holding `oidc-provider`.
fn modules() -> PathBuf {
    if let Some(dir) = std::env::var_os("POSTERN_TEST_OIDC_MODULES") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    home.join("postern-test/oidc/node_modules")
}

/// A running provider, killed when dropped. Its client `postern` (secret `client_secret`)
/// may come back to `redirect_uri` only; its client `dovecot` may only introspect.
pub struct OidcServer {
    child: Child,
    log: tempfile::NamedTempFile,
    /// `http://127.0.0.1:PORT`: the issuer URL.
    pub issuer: String,
    /// The client id Postern uses.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The introspecting client's secret (Dovecot's).
    pub introspection_secret: String,
    http: reqwest::Client,
}

impl OidcServer {
    /// Starts the provider; its access tokens live `access_ttl` seconds.
    pub fn start(redirect_uri: &str, access_ttl: u64) -> OidcServer {
        let modules = modules();
        assert!(
            modules.join("oidc-provider").is_dir(),
            "{} has no oidc-provider: scripts/test.sh installs it (npm)",
            modules.display()
        );
        let port = crate::free_port();
        let client_secret = format!("client-secret-{}", crate::unique("s"));
        let introspection_secret = format!("introspection-{}", crate::unique("s"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/server.js");
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("node")
            .arg(script)
            .env("NODE_PATH", &modules)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_CLIENT_SECRET", &client_secret)
            .env("OIDC_INTROSPECTION_SECRET", &introspection_secret)
            .env("OIDC_ACCESS_TTL", access_ttl.to_string())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("node (scripts/test.sh installs nodejs)");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the provider's first line");
        let errors = std::fs::read_to_string(log.path()).unwrap_or_default();
        assert!(
            first.starts_with("listening"),
            "the OIDC provider did not start: {first:?} {errors}"
        );
        // drained for as long as it runs: a closed pipe would end it at its next line
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        OidcServer {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "postern".into(),
            log,
            client_secret,
            introspection_secret,
            http: reqwest::Client::new(),
        }
    }

    /// What the provider wrote on stderr (its warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Revokes a token at the provider's revocation endpoint (RFC 7009), as the `postern`
    /// client: a refresh token revokes its whole grant, an access token only itself.
    pub async fn revoke(&self, token: &str, hint: &str) {
        let r = self
            .http
            .post(format!("{}/token/revocation", self.issuer))
            .form(&[
                ("token", token),
                ("token_type_hint", hint),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
            .send()
            .await
            .expect("the revocation endpoint");
        assert!(r.status().is_success(), "revocation: {}", r.status());
    }

    /// Whether the provider holds `token` for active (RFC 7662), asked as Dovecot asks.
    pub async fn active(&self, token: &str) -> bool {
        let r = self
            .http
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth("dovecot", Some(&self.introspection_secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("the introspection endpoint");
        let body: serde_json::Value = r.json().await.expect("introspection JSON");
        body["active"].as_bool().unwrap_or(false)
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private Dovecot (IMAP without TLS, on loopback) whose logins are XOAUTH2 tokens checked
/// by introspection at an [`OidcServer`]; the token's `sub` must be the login. Stopped when
/// dropped. As root it runs as `nobody` (as the Dovecot of scripts/test.sh).
pub struct OAuthDovecot {
    dir: tempfile::TempDir,
    run_as: Vec<String>,
    /// The IMAP port.
    pub imap_port: u16,
}

impl OAuthDovecot {
    /// Starts it for the mailboxes of `users`.
    pub fn start(oidc: &OidcServer, users: &[&str]) -> OAuthDovecot {
        let root = crate::is_root();
        let user = if root {
            "nobody".to_owned()
        } else {
            std::env::var("USER").unwrap_or_else(|_| id("-un"))
        };
        let run_as: Vec<String> = if root {
            ["runuser", "-u", "nobody", "--"].map(String::from).to_vec()
        } else {
            vec![]
        };
        let dir = tempfile::Builder::new()
            .prefix("postern-oauth-dovecot.")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let port = crate::free_port();
        prepare(d, oidc, users, (&user, port));
        if root {
            let ok = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(d)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of the Dovecot directory");
            let _ = Command::new("chmod").arg("0755").arg(d).status();
        }
        let mut cmd = dovecot_command(&run_as);
        // its output to a file: the daemon keeps the descriptors it was given
        let start_log = std::fs::File::create(d.join("start.log")).unwrap();
        let status = cmd
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(start_log.try_clone().unwrap())
            .stderr(start_log)
            .status()
            .expect("dovecot (scripts/test.sh installs dovecot-imapd)");
        let log = || {
            ["start.log", "dovecot.log"]
                .map(|f| std::fs::read_to_string(d.join(f)).unwrap_or_default())
                .join("")
        };
        assert!(status.success(), "Dovecot did not start: {}", log());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot does not listen: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        OAuthDovecot {
            dir,
            run_as,
            imap_port: port,
        }
    }

    /// The maildir of `user` (mail delivered there with [`crate::dovecot::deliver`]).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user).join("Maildir")
    }

    /// Dovecot's log (logins refused, introspection answers).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for OAuthDovecot {
    fn drop(&mut self) {
        let _ = dovecot_command(&self.run_as)
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `dovecot`, run as the user of `run_as` (`runuser -u nobody --`) when given.
fn dovecot_command(run_as: &[String]) -> Command {
    match run_as.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("/usr/sbin/dovecot");
            c
        }
        None => Command::new("/usr/sbin/dovecot"),
    }
}

/// The directory of a private Dovecot: its run and state directories, a maildir per user,
/// the passdb's settings (introspection at `oidc`) and the configuration on `port`.
fn prepare(d: &Path, oidc: &OidcServer, users: &[&str], (user, port): (&str, u16)) {
    for sub in ["run", "state"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    for u in users {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(d.join("mail").join(u).join("Maildir").join(sub)).unwrap();
        }
    }
    let host = oidc.issuer.trim_start_matches("http://");
    let introspection = format!(
        "http://dovecot:{}@{host}/token/introspection",
        oidc.introspection_secret
    );
    std::fs::write(
        d.join("oauth2.conf.ext"),
        format!(
            "introspection_mode = post\nintrospection_url = {introspection}\n\
             username_attribute = sub\nactive_attribute = active\nactive_value = true\n"
        ),
    )
    .unwrap();
    std::fs::write(d.join("dovecot.conf"), conf(d, user, port)).unwrap();
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Dovecot's configuration: IMAP only, no TLS, XOAUTH2 checked by the `oauth2` passdb.
fn conf(d: &Path, user: &str, port: u16) -> String {
    let d = d.display();
    format!(
        "# Private Dovecot of the OAuth tests: loopback only, nothing outside {d}.
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
auth_debug = yes
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 0
ssl = no
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
mail_location = maildir:{d}/mail/%u/Maildir
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
",
        group = group_of(user),
    )
}

fn group_of(user: &str) -> String {
    let out = Command::new("id")
        .arg("-gn")
        .arg(user)
        .output()
        .expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
