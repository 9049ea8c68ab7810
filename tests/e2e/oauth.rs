//! OAuth 2 refresh tokens: the host fetches, refreshes and injects
//! short-lived access tokens; the component never sees any of them.

use std::time::Duration;

use connector_fakes::{DropboxConfig, OAuthApp, Team};
use oomnitza_connect::bindings::{ConnectorError, FetchRequest, RecordKind, Value};
use oomnitza_connect::config::Config;
use oomnitza_connect::integration::Integration;

use crate::support::{DROPBOX_TOKEN, World};

const CLIENT_SECRET: &str = "app-secret-5d1e";
const REFRESH_TOKEN: &str = "refresh-secret-c0ffee";

/// A world whose Dropbox only accepts tokens issued for the refresh token.
fn oauth_world(members: usize) -> World {
    let mut cfg = DropboxConfig::new(Team::generate(members, 42), "static-token-unused-by-host");
    cfg.oauth = Some(OAuthApp::new("app-id", Some(CLIENT_SECRET), REFRESH_TOKEN));
    let mut world = World::with_dropbox(cfg);
    oomnitza_connect::credentials::store_secret(
        &world.dir.path().join("secrets.toml"),
        "dropbox_refresh_token",
        REFRESH_TOKEN,
    )
    .expect("store refresh token");
    oomnitza_connect::credentials::store_secret(
        &world.dir.path().join("secrets.toml"),
        "dropbox_client_secret",
        CLIENT_SECRET,
    )
    .expect("store client secret");
    world.edit(
        "token = { file = \"secrets.toml\", key = \"dropbox_token\" }",
        "oauth = { client_id = \"app-id\", client_secret = { file = \"secrets.toml\", key = \"dropbox_client_secret\" }, refresh_token = { file = \"secrets.toml\", key = \"dropbox_refresh_token\" } }",
    );
    world
}

fn all_secrets(world: &World) -> Vec<String> {
    let mut s = vec![
        CLIENT_SECRET.to_string(),
        REFRESH_TOKEN.to_string(),
        DROPBOX_TOKEN.to_string(),
    ];
    s.extend(world.dropbox.issued_tokens());
    s
}

#[test]
fn a_refresh_token_drives_the_sync_and_no_token_is_printed() {
    let world = oauth_world(1500);
    let run = world.run(&["-vv", "sync"]);
    run.assert_ok();
    assert_eq!(world.oomnitza.user_count(), 1500);
    assert_eq!(
        world.dropbox.token_requests(),
        1,
        "one refresh serves the run"
    );
    let issued = world.dropbox.issued_tokens();
    for r in world
        .dropbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/2/"))
    {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {}", issued[0]).as_str())
        );
    }
    for secret in all_secrets(&world) {
        assert!(!run.stdout.contains(&secret), "stdout leaks a secret");
        assert!(!run.stderr.contains(&secret), "stderr leaks a secret");
        for u in world.oomnitza.users() {
            assert!(!u.to_string().contains(&secret));
        }
    }
}

#[test]
fn a_revoked_refresh_token_ends_the_run_asking_to_reauthorize() {
    let world = oauth_world(10);
    world.dropbox.revoke_refresh_token();
    let started = std::time::Instant::now();
    let run = world.run(&["sync"]);
    run.assert_fails_with("re-authorize this integration");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no retries once the grant is gone"
    );
    let ready = world.oomnitza.ready_portions();
    assert_eq!(ready.len(), 1, "the failed run is reported to Oomnitza");
    assert!(
        ready[0]["body"]["error_message"]
            .as_str()
            .unwrap()
            .contains("re-authorize")
    );
    for secret in all_secrets(&world) {
        assert!(!run.stderr.contains(&secret));
    }
}

async fn prepare(world: &World) -> Integration {
    Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .expect("integration")
}

fn first_page(size: u32) -> FetchRequest {
    FetchRequest {
        kind: RecordKind::Users,
        cursor: None,
        page_size: size,
        options: vec![("include_removed".into(), Value::Boolean(true))],
        sync_time: "2026-11-27T00:00:00Z".into(),
        read_ahead: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let world = oauth_world(40);
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    let page = inst.fetch(&first_page(10)).await.unwrap().unwrap();
    assert_eq!(world.dropbox.token_requests(), 1);

    world.dropbox.expire_access_tokens();
    let mut next = first_page(10);
    next.cursor = page.cursor;
    let page2 = inst
        .fetch(&next)
        .await
        .unwrap()
        .expect("the component never saw the 401");
    assert_eq!(page2.records.len(), 10);
    assert_eq!(world.dropbox.token_requests(), 2, "refreshed exactly once");
    let stats = &integration.policy.stats;
    assert_eq!(
        stats
            .credential_retries
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_collapse_into_one() {
    let world = oauth_world(40);
    let integration = prepare(&world).await;
    let mut a = integration.instance().await.unwrap();
    let mut b = integration.instance().await.unwrap();
    a.fetch(&first_page(5)).await.unwrap().unwrap();
    assert_eq!(world.dropbox.token_requests(), 1);
    world.dropbox.expire_access_tokens();
    world
        .dropbox
        .set_token_endpoint_delay(Duration::from_millis(300));
    let req = first_page(5);
    let (ra, rb) = tokio::join!(a.fetch(&req), b.fetch(&req));
    ra.unwrap().unwrap();
    rb.unwrap().unwrap();
    assert_eq!(
        world.dropbox.token_requests(),
        2,
        "two callers, one refresh"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_about_to_expire_is_refreshed_before_use() {
    // Tokens that live 200 s are always inside the 300 s refresh margin:
    // the host refreshes before each use instead of waiting for a 401.
    let mut cfg = DropboxConfig::new(Team::generate(30, 42), "unused");
    let mut app = OAuthApp::new("app-id", Some(CLIENT_SECRET), REFRESH_TOKEN);
    app.expires_in = 200;
    cfg.oauth = Some(app);
    let mut world = World::with_dropbox(cfg);
    for (k, v) in [
        ("dropbox_refresh_token", REFRESH_TOKEN),
        ("dropbox_client_secret", CLIENT_SECRET),
    ] {
        oomnitza_connect::credentials::store_secret(&world.dir.path().join("secrets.toml"), k, v)
            .expect("store");
    }
    world.edit(
        "token = { file = \"secrets.toml\", key = \"dropbox_token\" }",
        "oauth = { client_id = \"app-id\", client_secret = { file = \"secrets.toml\", key = \"dropbox_client_secret\" }, refresh_token = { file = \"secrets.toml\", key = \"dropbox_refresh_token\" } }",
    );
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    inst.fetch(&first_page(5)).await.unwrap().unwrap();
    inst.fetch(&first_page(5)).await.unwrap().unwrap();
    assert_eq!(
        world.dropbox.token_requests(),
        2,
        "refreshed ahead of expiry each time"
    );
    let retries = integration
        .policy
        .stats
        .credential_retries
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(retries, 0, "no request ever met an expired token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_cannot_force_a_refresh_more_than_once_per_interval() {
    // An origin answering "expired" again and again must not make the host
    // hammer the token endpoint (or mint a token per request).
    let world = oauth_world(40);
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    let page = inst.fetch(&first_page(10)).await.unwrap().unwrap();
    world.dropbox.expire_access_tokens();
    let mut next = first_page(10);
    next.cursor = page.cursor;
    inst.fetch(&next).await.unwrap().expect("refreshed once");
    assert_eq!(world.dropbox.token_requests(), 2);

    world.dropbox.expire_access_tokens();
    for _ in 0..5 {
        let out = inst.fetch(&next).await.unwrap();
        assert!(
            matches!(out, Err(ConnectorError::Unauthorized(ref u)) if u.expired),
            "the 401 reaches the component: {out:?}"
        );
    }
    assert_eq!(
        world.dropbox.token_requests(),
        2,
        "no refresh within 30 s of the last forced one"
    );
}
