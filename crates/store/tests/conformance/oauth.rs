//! OAuth on every backend: the settings' client secret write-only and kept across updates,
//! grants connected, refreshed (a rotated refresh token kept, else the old one), failed; the
//! refresh lease held by one node at a time; authorization requests taken once, and not after
//! they expire.

use super::*;
use postern_model::{FetchAuth, IncomingServerId, OAuthProvider, OAuthSettings, Secret};

fn settings(secret: Option<&str>) -> OAuthSettings {
    OAuthSettings {
        provider: OAuthProvider::Generic,
        issuer: Some("https://id.example.com".into()),
        client_id: "postern".into(),
        client_secret: secret.map(Secret::new),
        ..Default::default()
    }
}

async fn server(tx: &mut Tx) -> IncomingServer {
    tx.create::<IncomingServer>(&IncomingServerInput {
        name: "gmail".into(),
        host: "imap.example.com".into(),
        username: "support@example.com".into(),
        auth: Some(FetchAuth::Oauth),
        oauth: Some(settings(Some("client-secret-1"))),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn tokens(refresh: Option<&str>, access: &str) -> SealedTokens {
    SealedTokens {
        refresh_token: refresh.map(str::to_owned),
        access_token: access.into(),
        expires_at: now_ms() + 3_600_000,
    }
}

conformance!(oauth_settings_keep_their_secret_write_only, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = server(&mut tx).await;
    let shown = serde_json::to_string(&s).unwrap();
    assert!(!shown.contains("client-secret-1"), "{shown}");
    assert!(s.oauth.0.as_ref().unwrap().has_client_secret);
    // an update without a secret keeps it; an apply of the same input is unchanged
    let mut input = s.to_input();
    input.oauth = Some(settings(None));
    let (after, change) = tx.upsert::<IncomingServer>(&input).await.unwrap();
    assert_eq!(change, Change::Unchanged);
    let target = tx
        .oauth_target(OAuthServer::Incoming(after.id))
        .await
        .unwrap();
    let kept = target.settings.unwrap().client_secret.unwrap();
    assert_eq!(kept.expose(), "client-secret-1");
    // `auth = "oauth"` needs its settings; a generic provider its issuer
    let mut bad = input.clone();
    bad.oauth = None;
    assert!(tx.update::<IncomingServer>(after.id, &bad).await.is_err());
    bad.oauth = Some(OAuthSettings {
        issuer: None,
        ..settings(None)
    });
    let e = tx
        .update::<IncomingServer>(after.id, &bad)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("issuer"), "{e}");
    tx.commit().await.unwrap();
});

conformance!(oauth_grants_refresh_rotate_and_fail, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = OAuthServer::Incoming(server(&mut tx).await.id);
    assert!(tx.oauth_grant(s).await.unwrap().is_none());
    tx.connect_oauth_grant(s, &tokens(Some("r1"), "a1"))
        .await
        .unwrap();
    tx.save_oauth_tokens(s, &tokens(None, "a2")).await.unwrap();
    let g = tx.oauth_grant(s).await.unwrap().unwrap();
    assert_eq!(
        (g.refresh_token.as_deref(), g.access_token.as_deref()),
        (Some("r1"), Some("a2"))
    );
    tx.save_oauth_tokens(s, &tokens(Some("r2"), "a3"))
        .await
        .unwrap();
    let g = tx.oauth_grant(s).await.unwrap().unwrap();
    assert_eq!(g.refresh_token.as_deref(), Some("r2"), "rotated");
    tx.expire_oauth_access_token(s).await.unwrap();
    let g = tx.oauth_grant(s).await.unwrap().unwrap();
    assert_eq!((g.access_token, g.expires_at), (None, Some(0)));
    tx.fail_oauth_grant(s, "invalid_grant: revoked")
        .await
        .unwrap();
    let view = tx
        .get::<IncomingServer>(IncomingServerId(s.id()))
        .await
        .unwrap();
    assert_eq!(view.oauth_state.as_deref(), Some("failed"));
    assert_eq!(view.oauth_error.as_deref(), Some("invalid_grant: revoked"));
    // connecting again replaces the failed grant
    tx.connect_oauth_grant(s, &tokens(Some("r3"), "a4"))
        .await
        .unwrap();
    let view = tx
        .get::<IncomingServer>(IncomingServerId(s.id()))
        .await
        .unwrap();
    assert_eq!(
        (view.oauth_state.as_deref(), view.oauth_error),
        (Some("connected"), None)
    );
    tx.commit().await.unwrap();
});

conformance!(concurrent oauth_refresh_lease_one_node_at_a_time, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = OAuthServer::Incoming(server(&mut tx).await.id);
    tx.connect_oauth_grant(s, &tokens(Some("r1"), "a1")).await.unwrap();
    tx.commit().await.unwrap();
    let take = |owner: &'static str, until: i64| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            let got = tx.take_oauth_lease(s, owner, until).await.unwrap();
            tx.commit().await.unwrap();
            got
        }
    };
    let later = now_ms() + 60_000;
    assert!(take("node-a", later).await);
    assert!(!take("node-b", later).await, "held by node-a");
    assert!(take("node-a", later).await, "renewed by its holder");
    let mut tx = store.begin().await.unwrap();
    tx.release_oauth_lease(s, "node-a").await.unwrap();
    tx.commit().await.unwrap();
    assert!(take("node-b", now_ms() - 1).await, "free once released");
    assert!(take("node-a", later).await, "an expired lease is taken over");
});

conformance!(oauth_requests_are_taken_once, |store| {
    let mut tx = store.begin().await.unwrap();
    let s = OAuthServer::Incoming(server(&mut tx).await.id);
    let request = OAuthRequest {
        server: s,
        verifier: "sealed-verifier".into(),
        redirect_uri: "https://postern.example.com/oauth/callback".into(),
    };
    tx.insert_oauth_request("state-1", &request, 900_000)
        .await
        .unwrap();
    tx.insert_oauth_request("state-2", &request, 900_000)
        .await
        .unwrap();
    let got = tx
        .take_oauth_request("state-1", 900_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.server, got.verifier.as_str()), (s, "sealed-verifier"));
    assert!(
        tx.take_oauth_request("state-1", 900_000)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(
        tx.take_oauth_request("unknown", 900_000)
            .await
            .unwrap()
            .is_none()
    );
    // older than the maximum age: refused (and gone)
    assert!(
        tx.take_oauth_request("state-2", -1)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
});
