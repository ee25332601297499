//! The providers: where to send the user (authorization endpoint), where to get tokens (token
//! endpoint), which scopes IMAP, POP3 and SMTP need, and what else the authorization request
//! must say so that a refresh token comes back.
//!
//! Google and Microsoft are built in (their endpoints are stable and documented); any other
//! provider is found by its issuer URL (OpenID Connect discovery, RFC 8414), whose answer must
//! name the same issuer.

use crate::OAuthError;
use crate::http::{self, HttpError};
use postern_model::{OAuthProvider, OAuthSettings};
use postern_store::OAuthServer;

/// Google's scope for IMAP, POP3 and SMTP (there is no narrower one).
pub const GOOGLE_MAIL_SCOPE: &str = "https://mail.google.com/";
/// Microsoft's scopes of an incoming server.
pub const MICROSOFT_INCOMING_SCOPES: &[&str] = &[
    "offline_access",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
];
/// Microsoft's scopes of an outgoing server.
pub const MICROSOFT_OUTGOING_SCOPES: &[&str] =
    &["offline_access", "https://outlook.office.com/SMTP.Send"];

/// A provider's endpoints and what its authorization request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Where the user grants access.
    pub authorization: String,
    /// Where codes and refresh tokens are exchanged.
    pub token: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Further parameters of the authorization request (offline access, consent).
    pub extra: Vec<(&'static str, &'static str)>,
}

/// The endpoints of a built-in provider; `None` for a generic one (discovery).
pub fn built_in(settings: &OAuthSettings, server: OAuthServer) -> Option<Endpoints> {
    let strings = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let endpoints = match settings.provider {
        OAuthProvider::Google => Endpoints {
            authorization: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token: "https://oauth2.googleapis.com/token".into(),
            scopes: vec![GOOGLE_MAIL_SCOPE.into()],
            // a refresh token only comes with offline access, and again only with consent
            extra: vec![("access_type", "offline"), ("prompt", "consent")],
        },
        OAuthProvider::Microsoft => {
            let tenant = settings
                .tenant
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .unwrap_or("common");
            let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
            Endpoints {
                authorization: format!("{base}/authorize"),
                token: format!("{base}/token"),
                scopes: strings(match server {
                    OAuthServer::Incoming(_) => MICROSOFT_INCOMING_SCOPES,
                    OAuthServer::Outgoing(_) => MICROSOFT_OUTGOING_SCOPES,
                }),
                extra: vec![],
            }
        }
        OAuthProvider::Generic => return None,
    };
    Some(with_scopes(endpoints, settings))
}

/// The configured scopes, when given, replace the provider's.
fn with_scopes(mut e: Endpoints, settings: &OAuthSettings) -> Endpoints {
    if let Some(scopes) = settings.scopes.as_ref().filter(|s| !s.is_empty()) {
        e.scopes = scopes.clone();
    }
    e
}

#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The endpoints of `settings`: built in, or discovered from the issuer.
pub(crate) async fn endpoints(
    http: &reqwest::Client,
    settings: &OAuthSettings,
    server: OAuthServer,
) -> Result<Endpoints, OAuthError> {
    if let Some(e) = built_in(settings, server) {
        return Ok(e);
    }
    let issuer = settings
        .issuer
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let d: Discovery = http::get_json(http, &url).await.map_err(|e| match e {
        HttpError::Unavailable(e) | HttpError::Refused { error: e, .. } => {
            OAuthError::Provider(format!("discovery of {issuer}: {e}"))
        }
    })?;
    if d.issuer.trim_end_matches('/') != issuer {
        return Err(OAuthError::Config(format!(
            "the discovery document of {issuer} names another issuer, {}",
            http::short(&d.issuer, 200)
        )));
    }
    let endpoints = Endpoints {
        authorization: d.authorization_endpoint,
        token: d.token_endpoint,
        scopes: vec!["openid".into(), "offline_access".into()],
        // offline_access is granted with consent only (OpenID Connect Core 11)
        extra: vec![("prompt", "consent")],
    };
    Ok(with_scopes(endpoints, settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_model::{IncomingServerId, OutgoingServerId};

    #[test]
    fn microsoft_tenant_and_scopes_per_direction() {
        let s = OAuthSettings {
            provider: OAuthProvider::Microsoft,
            tenant: Some("contoso.onmicrosoft.com".into()),
            client_id: "id".into(),
            ..Default::default()
        };
        let e = built_in(&s, OAuthServer::Outgoing(OutgoingServerId(1))).unwrap();
        assert_eq!(
            e.token,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(e.scopes.iter().any(|s| s.ends_with("SMTP.Send")));
        let common = OAuthSettings { tenant: None, ..s };
        let e = built_in(&common, OAuthServer::Incoming(IncomingServerId(1))).unwrap();
        assert!(e.authorization.contains("/common/"));
        assert!(
            e.scopes
                .iter()
                .any(|s| s.ends_with("IMAP.AccessAsUser.All"))
        );
    }

    #[test]
    fn google_asks_for_offline_access_and_configured_scopes_win() {
        let s = OAuthSettings {
            provider: OAuthProvider::Google,
            client_id: "id".into(),
            ..Default::default()
        };
        let e = built_in(&s, OAuthServer::Incoming(IncomingServerId(1))).unwrap();
        assert_eq!(e.scopes, vec![GOOGLE_MAIL_SCOPE.to_owned()]);
        assert!(e.extra.contains(&("access_type", "offline")));
        let custom = OAuthSettings {
            scopes: Some(vec!["a".into(), "b".into()]),
            ..s
        };
        let e = built_in(&custom, OAuthServer::Incoming(IncomingServerId(1))).unwrap();
        assert_eq!(e.scopes, vec!["a".to_owned(), "b".to_owned()]);
    }
}
