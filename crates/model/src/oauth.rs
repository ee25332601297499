//! The OAuth settings of an incoming or outgoing server (`auth = "oauth"`): who issues the
//! tokens and as which registered client. The client secret comes in (config, API) but never
//! goes out: it is not serialised, and views carry only `has_client_secret`.

use crate::{OAuthProvider, Secret};
use serde::{Deserialize, Serialize};

/// The `oauth` table of a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// `google`, `microsoft` or `generic`.
    pub provider: OAuthProvider,
    /// Microsoft: `common` (default), `organizations`, `consumers` or the tenant's id or domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Generic: the issuer URL (its `/.well-known/openid-configuration` is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id of the application registered with the provider.
    pub client_id: String,
    /// Write-only client secret (prefer `client_secret_env`). An empty string clears it.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    /// Environment variable holding the client secret (wins over `client_secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Scopes asked for instead of the provider's defaults (space-separated in the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// In views: a client secret is stored. Ignored when given (an input read back from a
    /// view, as `PATCH` does, still parses).
    #[serde(default)]
    pub has_client_secret: bool,
}

impl OAuthSettings {
    /// The client secret: from `client_secret_env` when set there, else the stored one.
    /// `Err` names the variable that is missing.
    pub fn client_secret(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, String> {
        match self.client_secret_env.as_deref().filter(|v| !v.is_empty()) {
            Some(var) => match env(var).filter(|v| !v.is_empty()) {
                Some(v) => Ok(Some(Secret::new(v))),
                None if self.client_secret.is_some() => Ok(self.client_secret.clone()),
                None => Err(format!(
                    "the OAuth client secret is in ${var}, which is not set"
                )),
            },
            None => Ok(self.client_secret.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_goes_out() {
        let s: OAuthSettings = serde_json::from_str(
            r#"{"provider": "google", "client_id": "id", "client_secret": "hunter2"}"#,
        )
        .unwrap();
        assert_eq!(s.client_secret.as_ref().unwrap().expose(), "hunter2");
        let out = serde_json::to_string(&s).unwrap();
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains(r#""has_client_secret":false"#), "{out}");
        // what goes out comes back in (PATCH merges into the serialised input)
        let back: OAuthSettings = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (back.client_id, back.client_secret),
            ("id".to_owned(), None)
        );
    }

    #[test]
    fn the_variable_wins() {
        let s = OAuthSettings {
            client_secret: Some(Secret::new("stored")),
            client_secret_env: Some("X".into()),
            ..Default::default()
        };
        let got = s.client_secret(|_| Some("from-env".into())).unwrap();
        assert_eq!(got.unwrap().expose(), "from-env");
        let got = s.client_secret(|_| None).unwrap();
        assert_eq!(got.unwrap().expose(), "stored");
        let none = OAuthSettings {
            client_secret_env: Some("X".into()),
            ..Default::default()
        };
        assert!(none.client_secret(|_| None).unwrap_err().contains("$X"));
    }
}
