//! Drives the fake Dropbox over real HTTP the way a client would, to pin its
//! wire behaviour: paging, removed members, argument checks, cursors, auth,
//! wire styles and every injectable fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use connector_fakes::team::Role;
use connector_fakes::{
    DropboxConfig, DropboxFault, FakeDropbox, MemberStatus, OAuthApp, Team, WireStyle,
};
use serde_json::{Value, json};

const TOKEN: &str = "sl.test-token";
const LIST: &str = "/2/team/members/list_v2";
const CONTINUE: &str = "/2/team/members/list/continue_v2";
const TOKEN_PATH: &str = "/oauth2/token";
const FORM: &str = "application/x-www-form-urlencoded";
const CLIENT_ID: &str = "app-key";
const SECRET: &str = "app-secret";
const REFRESH: &str = "rt-refresh";

struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn error_tag(&self) -> String {
        let v = self.json();
        let summary = v["error_summary"].as_str().expect("error_summary");
        let tag = v["error"][".tag"].as_str().expect("error tag").to_string();
        assert!(summary.starts_with(&format!("{tag}/")), "{summary}");
        tag
    }
}

async fn post_raw(
    server: &FakeDropbox,
    path: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let client = reqwest::Client::new();
    let mut req = client
        .post(format!("{}{path}", server.url()))
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Answer {
        status: resp.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        retry_after: header("retry-after"),
        body: resp.text().await.expect("body"),
    }
}

async fn post(server: &FakeDropbox, path: &str, body: Value) -> Answer {
    post_raw(
        server,
        path,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json"),
        &body.to_string(),
    )
    .await
}

fn start(size: usize) -> FakeDropbox {
    FakeDropbox::start(DropboxConfig::new(Team::generate(size, 1), TOKEN)).expect("start")
}

/// Pages through the whole team; returns every member and the page sizes.
async fn list_all(
    server: &FakeDropbox,
    limit: u32,
    include_removed: bool,
) -> (Vec<Value>, Vec<(usize, bool)>) {
    let mut answer = post(
        server,
        LIST,
        json!({"limit": limit, "include_removed": include_removed}),
    )
    .await;
    let mut members = Vec::new();
    let mut pages = Vec::new();
    loop {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        let page = answer.json();
        let batch = page["members"].as_array().expect("members").clone();
        let has_more = page["has_more"].as_bool().expect("has_more");
        pages.push((batch.len(), has_more));
        members.extend(batch);
        if !has_more {
            break;
        }
        let cursor = page["cursor"].as_str().expect("cursor").to_string();
        answer = post(server, CONTINUE, json!({ "cursor": cursor })).await;
    }
    (members, pages)
}

fn ids(members: &[Value]) -> Vec<String> {
    members
        .iter()
        .map(|m| m["profile"]["team_member_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_a_2501_team_exactly_once() {
    let server = start(2501);
    let (members, pages) = list_all(&server, 1000, true).await;
    assert_eq!(pages, vec![(1000, true), (1000, true), (501, false)]);
    let got = ids(&members);
    let expected: Vec<String> =
        server.with_team(|t| t.members().map(|m| m.team_member_id).collect());
    assert_eq!(got, expected);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 2501);
    let stats = server.stats();
    assert_eq!(stats.pages_served, 3);
    assert_eq!(stats.members_served, 2501);
    assert_eq!(stats.by_status.get(&200), Some(&3));

    // Without include_removed (the default) removed members are left out.
    let (listed, pages) = list_all(&server, 1000, false).await;
    let removed = server.with_team(|t| (0..t.len()).filter(|&i| t.status(i).is_removed()).count());
    assert!(removed > 50);
    assert_eq!(listed.len(), 2501 - removed);
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0], (1000, true));
    assert_eq!(pages[1], (1000, true));
    assert_eq!(pages[2], (2501 - removed - 2000, false));
    assert!(
        listed
            .iter()
            .all(|m| m["profile"]["status"][".tag"] != "removed")
    );
    assert_eq!(
        ids(&listed).iter().collect::<HashSet<_>>().len(),
        listed.len()
    );
}

#[tokio::test]
async fn default_limit_and_cursor_remembers_flags() {
    let server = start(1500);
    // `{}` takes the defaults: limit 1000, include_removed false.
    let page = post(&server, LIST, json!({})).await.json();
    assert_eq!(page["members"].as_array().unwrap().len(), 1000);
    assert_eq!(page["has_more"], true);

    // include_removed and limit carry over through the cursor.
    let first = post(&server, LIST, json!({"limit": 4, "include_removed": true}))
        .await
        .json();
    let statuses: Vec<&str> = first["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["profile"]["status"][".tag"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "invited", "suspended", "removed"]);
    let second = post(&server, CONTINUE, json!({"cursor": first["cursor"]}))
        .await
        .json();
    let second = second["members"].as_array().unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(second[1]["profile"]["status"][".tag"], "removed");
    assert_eq!(
        second[1]["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": true})
    );

    let plain = post(&server, LIST, json!({"limit": 4})).await.json();
    let plain_ids = ids(plain["members"].as_array().unwrap());
    let expected: Vec<String> = server.with_team(|t| {
        [0, 1, 2, 4]
            .iter()
            .map(|&i| t.member(i).team_member_id)
            .collect()
    });
    assert_eq!(plain_ids, expected);
}

#[tokio::test]
async fn member_wire_shape() {
    let server = start(200);
    let page = post(
        &server,
        LIST,
        json!({"limit": 200, "include_removed": true}),
    )
    .await
    .json();
    let members = page["members"].as_array().unwrap();
    for m in members {
        let p = &m["profile"];
        assert!(
            p["team_member_id"]
                .as_str()
                .unwrap()
                .starts_with("dbmid:AA")
        );
        assert!(p["email"].as_str().unwrap().contains('@'));
        assert!(p["email_verified"].is_boolean());
        assert!(p["name"]["display_name"].is_string());
        assert!(p["name"]["abbreviated_name"].is_string());
        assert!(p["groups"].is_array());
        assert!(
            p["member_folder_id"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .is_ok()
        );
        assert!(p["root_folder_id"].as_str().unwrap().parse::<u64>().is_ok());
        let tag = p["status"][".tag"].as_str().unwrap();
        assert!(["active", "invited", "suspended", "removed"].contains(&tag));
        assert!(["full", "limited"].contains(&p["membership_type"][".tag"].as_str().unwrap()));
        for ts in ["invited_on", "joined_on", "suspended_on"] {
            if let Some(v) = p.get(ts) {
                let s = v.as_str().unwrap();
                assert_eq!(s.len(), 20, "{s}");
                assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T');
            }
        }
        if tag == "invited" {
            assert!(p.get("account_id").is_none() && p.get("joined_on").is_none());
        } else {
            assert!(p["account_id"].as_str().unwrap().starts_with("dbid:"));
        }
        assert!(m["roles"].is_array());
    }
    let admin = &members[0];
    assert_eq!(
        admin["roles"],
        json!([{
            "role_id": Role::team_admin().role_id,
            "name": "Team admin",
            "description": Role::team_admin().description,
        }])
    );
}

#[tokio::test]
async fn bare_union_tags_and_unknown_fields() {
    let mut config = DropboxConfig::new(Team::generate(3000, 9), TOKEN);
    config.style = WireStyle {
        bare_union_tags: true,
        unknown_fields: true,
    };
    let server = FakeDropbox::start(config).unwrap();
    let (members, _) = list_all(&server, 1000, true).await;
    assert_eq!(members.len(), 3000);
    assert_eq!(members[0]["profile"]["status"], "active");
    assert_eq!(members[0]["profile"]["membership_type"], "full");
    assert_eq!(members[0]["profile"]["future_field"], json!({"x": 1}));
    // Removed keeps its payload, so it stays an object.
    assert_eq!(members[3]["profile"]["status"][".tag"], "removed");
    let unknown = members
        .iter()
        .filter(|m| m["profile"]["status"] == "pending_verification")
        .count();
    assert!((10..=60).contains(&unknown), "{unknown}");
    let page = post(&server, LIST, json!({"limit": 1})).await.json();
    assert_eq!(page["future_field"], json!({"x": 1}));
}

#[tokio::test]
async fn rejects_bad_or_missing_tokens() {
    let server = start(10);
    for auth in [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("bearer {TOKEN}")),
        Some(TOKEN.to_string()),
    ] {
        let a = post_raw(
            &server,
            LIST,
            auth.as_deref(),
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(a.status, 401, "{auth:?}");
        assert_eq!(a.content_type, "application/json");
        assert_eq!(a.error_tag(), "invalid_access_token");
    }
    // Rotation: the old token stops working, the new one works.
    server.set_access_token("sl.rotated");
    assert_eq!(post(&server, LIST, json!({})).await.status, 401);
    let a = post_raw(
        &server,
        LIST,
        Some("Bearer sl.rotated"),
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(a.status, 200);
    let recorded = server.requests();
    assert_eq!(recorded.len(), 6);
    assert_eq!(
        recorded[5].authorization.as_deref(),
        Some("Bearer sl.rotated")
    );
    assert_eq!(recorded[5].path, LIST);
    assert_eq!(recorded[5].body, "{}");
    assert_eq!(recorded[5].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn rejects_bad_arguments_with_plain_text_400() {
    let server = start(10);
    let cases: Vec<(&str, &str, &str)> = vec![
        (LIST, r#"{"limit": 0}"#, "limit"),
        (LIST, r#"{"limit": 1001}"#, "limit"),
        (LIST, r#"{"limit": "x"}"#, "limit"),
        (LIST, r#"{"limit": -1}"#, "limit"),
        (LIST, r#"{"limit": 1.5}"#, "limit"),
        (LIST, r#"{"limit": null}"#, "limit"),
        (LIST, r#"{"include_removed": "yes"}"#, "include_removed"),
        (LIST, r#"{"limit": 10, "page_size": 5}"#, "page_size"),
        (LIST, "null", "expected object"),
        (LIST, "", "could not decode input as JSON"),
        (LIST, "{limit: 5}", "could not decode input as JSON"),
        (CONTINUE, "{}", "cursor"),
        (CONTINUE, r#"{"cursor": 5}"#, "cursor"),
        (CONTINUE, r#"{"cursor": "abc", "limit": 5}"#, "limit"),
    ];
    for (path, body, needle) in cases {
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(
            a.content_type.starts_with("text/plain"),
            "{}",
            a.content_type
        );
        let function = path.trim_start_matches("/2/");
        assert!(
            a.body
                .starts_with(&format!("Error in call to API function \"{function}\": ")),
            "{}",
            a.body
        );
        assert!(a.body.contains(needle), "{body}: {}", a.body);
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let a = post_raw(&server, LIST, Some(&format!("Bearer {TOKEN}")), ct, "{}").await;
        assert_eq!(a.status, 400);
        assert!(a.body.contains("Content-Type"), "{}", a.body);
    }
    let a = post_raw(
        &server,
        LIST,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json; charset=utf-8"),
        r#"{"limit": 1000}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    // Unknown routes and wrong methods.
    let a = post(&server, "/2/team/members/list", json!({})).await;
    assert_eq!(a.status, 404);
    let resp = reqwest::get(format!("{}{LIST}", server.url()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn rejects_forged_tampered_and_foreign_cursors() {
    let server = start(50);
    let other = start(50);
    let page = post(&server, LIST, json!({"limit": 5})).await.json();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    assert!(
        post(&server, CONTINUE, json!({ "cursor": cursor }))
            .await
            .status
            == 200
    );

    let mut tampered: Vec<char> = cursor.chars().collect();
    tampered[12] = if tampered[12] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let foreign = post(&other, LIST, json!({"limit": 5})).await.json()["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    for bad in [
        "",
        "ZtkX9",
        "not a cursor!",
        &tampered,
        &foreign,
        &format!("{cursor}AA"),
    ] {
        let a = post(&server, CONTINUE, json!({ "cursor": bad })).await;
        assert_eq!(a.status, 409, "{bad}: {}", a.body);
        assert_eq!(a.error_tag(), "invalid_cursor");
    }
}

#[tokio::test]
async fn every_fault() {
    let server = start(30);
    let first = post(&server, LIST, json!({"limit": 10})).await.json();
    let cursor = first["cursor"].clone();
    let second_page = post(&server, CONTINUE, json!({ "cursor": cursor }))
        .await
        .json()["members"]
        .clone();

    server.inject(DropboxFault::ExpiredToken, 1);
    let a = post(&server, LIST, json!({})).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_tag(), "expired_access_token");

    for (header, body) in [(true, true), (true, false), (false, true), (false, false)] {
        server.inject(
            DropboxFault::RateLimited {
                retry_after: 7,
                header,
                body,
            },
            1,
        );
        let a = post(&server, CONTINUE, json!({ "cursor": cursor })).await;
        assert_eq!(a.status, 429);
        assert_eq!(a.retry_after.as_deref(), header.then_some("7"));
        if body {
            let v = a.json();
            assert_eq!(v["error"]["reason"][".tag"], "too_many_requests");
            assert_eq!(v["error"]["retry_after"], 7);
            assert!(
                v["error_summary"]
                    .as_str()
                    .unwrap()
                    .starts_with("too_many_requests/")
            );
        } else {
            assert!(a.content_type.starts_with("text/plain"));
            assert!(serde_json::from_str::<Value>(&a.body).is_err());
        }
    }

    server.inject(DropboxFault::Conflict("other".into()), 1);
    let a = post(&server, LIST, json!({})).await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_tag(), "other");

    server.inject(DropboxFault::ServerError(503), 1);
    let a = post(&server, LIST, json!({})).await;
    assert_eq!(a.status, 503);
    assert!(a.content_type.starts_with("text/plain"));

    server.inject(DropboxFault::MalformedJson, 1);
    let a = post(&server, LIST, json!({})).await;
    assert_eq!(a.status, 200);
    assert!(a.body.starts_with("{\"members\":["));
    assert!(serde_json::from_str::<Value>(&a.body).is_err());

    server.inject(
        DropboxFault::BadRequest("missing_scope members.read".into()),
        1,
    );
    let a = post(&server, LIST, json!({})).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body, "missing_scope members.read");

    server.inject(DropboxFault::InvalidCursor, 1);
    let a = post(&server, CONTINUE, json!({ "cursor": cursor })).await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_tag(), "invalid_cursor");

    server.inject(DropboxFault::Slow(Duration::from_millis(300)), 1);
    let t = Instant::now();
    let a = post(&server, CONTINUE, json!({ "cursor": cursor })).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["members"].as_array().unwrap().len(), 10);

    // Faults change nothing: the cursor still gives the same page.
    let a = post(&server, CONTINUE, json!({ "cursor": cursor })).await;
    assert_eq!(a.json()["members"], second_page);
    assert_eq!(server.pending_faults(), 0);
    assert_eq!(server.stats().faults_applied, 11);
}

#[tokio::test]
async fn faults_queue_in_order_and_skip_invalid_requests() {
    let server = start(30);
    server.inject(DropboxFault::ServerError(500), 2);
    server.inject(DropboxFault::ExpiredToken, 1);
    assert_eq!(server.pending_faults(), 3);
    // A request that fails validation gets its own error and leaves the
    // queue alone.
    let a = post_raw(
        &server,
        LIST,
        Some("Bearer nope"),
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_tag(), "invalid_access_token");
    let a = post(&server, LIST, json!({"limit": 0})).await;
    assert_eq!(a.status, 400);
    assert_eq!(server.pending_faults(), 3);

    let statuses = [
        post(&server, LIST, json!({})).await.status,
        post(&server, LIST, json!({})).await.status,
        post(&server, LIST, json!({})).await.status,
        post(&server, LIST, json!({})).await.status,
    ];
    assert_eq!(statuses, [500, 500, 401, 200]);
    let stats = server.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.by_status.get(&500), Some(&2));
    assert_eq!(stats.by_status.get(&401), Some(&2));
    assert_eq!(stats.pages_served, 1);

    server.inject(DropboxFault::ServerError(502), 5);
    server.clear_faults();
    assert_eq!(post(&server, LIST, json!({})).await.status, 200);
}

#[tokio::test]
async fn page_delay_slows_every_page() {
    let mut config = DropboxConfig::new(Team::generate(25, 2), TOKEN);
    config.page_delay = Duration::from_millis(100);
    let server = FakeDropbox::start(config).unwrap();
    let t = Instant::now();
    let (members, pages) = list_all(&server, 10, true).await;
    assert_eq!(members.len(), 25);
    assert_eq!(pages.len(), 3);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn overlay_changes_are_served() {
    let server = start(20);
    let mut m = server.with_team(|t| t.member(10));
    assert_eq!(m.status, MemberStatus::Active);
    m.status = MemberStatus::Removed {
        is_recoverable: true,
        is_disconnected: false,
    };
    server.update_team(|t| t.set_member(10, m.clone()));
    let (listed, _) = list_all(&server, 1000, false).await;
    assert!(!ids(&listed).contains(&m.team_member_id));
    let (all, _) = list_all(&server, 1000, true).await;
    assert_eq!(all[10]["profile"]["status"][".tag"], "removed");
}

#[tokio::test]
async fn serves_a_100k_team_quickly() {
    let server = start(100_000);
    let t = Instant::now();
    let (members, pages) = list_all(&server, 1000, true).await;
    let elapsed = t.elapsed();
    assert_eq!(members.len(), 100_000);
    assert_eq!(pages.len(), 100);
    assert!(pages[..99].iter().all(|&(n, more)| n == 1000 && more));
    assert_eq!(pages[99], (1000, false));
    let unique: HashSet<&str> = members
        .iter()
        .map(|m| m["profile"]["team_member_id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 100_000);
    let emails: HashSet<&str> = members
        .iter()
        .map(|m| m["profile"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 100_000);
    println!(
        "100 pages of 1000 over HTTP (client parsing included): {elapsed:?}, {:?} a page",
        elapsed / 100
    );
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let server = start(5);
    let url = server.url();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with('/'));
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_eq!(post(&server, LIST, json!({})).await.status, 200);
    server.shutdown().await;
    let err = reqwest::Client::new()
        .post(format!("{url}{LIST}"))
        .send()
        .await;
    assert!(err.is_err());

    // Dropping stops it too (a fresh connection is refused shortly after).
    let server = start(5);
    let url = server.url();
    drop(server);
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if reqwest::Client::new()
            .post(format!("{url}{LIST}"))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
    }
    assert!(refused);
}

#[test]
fn works_without_a_caller_runtime() {
    let server = start(3);
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}{LIST}"))
            .bearer_auth(TOKEN)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 200);
}

// ---------------------------------------------------------------------------
// OAuth 2 refresh

fn start_oauth(app: OAuthApp) -> FakeDropbox {
    let mut config = DropboxConfig::new(Team::generate(10, 1), TOKEN);
    config.oauth = Some(app);
    FakeDropbox::start(config).expect("start")
}

fn confidential() -> OAuthApp {
    OAuthApp::new(CLIENT_ID, Some(SECRET), REFRESH)
}

async fn token_raw(server: &FakeDropbox, body: &str) -> Answer {
    post_raw(server, TOKEN_PATH, None, Some(FORM), body).await
}

fn refresh_body() -> String {
    format!(
        "grant_type=refresh_token&refresh_token={REFRESH}&client_id={CLIENT_ID}&client_secret={SECRET}"
    )
}

/// A successful refresh; returns the new access token.
async fn refresh(server: &FakeDropbox) -> String {
    let a = token_raw(server, &refresh_body()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.content_type, "application/json");
    let v = a.json();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from(["access_token", "token_type", "expires_in"])
    );
    assert_eq!(v["token_type"], "bearer");
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sl.") && token.len() > 20, "{token}");
    token
}

/// Lists with this bearer token; the status and, if not 200, the error tag.
async fn list_with(server: &FakeDropbox, token: &str) -> (u16, Option<String>) {
    let a = post_raw(
        server,
        LIST,
        Some(&format!("Bearer {token}")),
        Some("application/json"),
        "{}",
    )
    .await;
    let tag = (a.status != 200).then(|| a.error_tag());
    (a.status, tag)
}

fn oauth_error(a: &Answer) -> String {
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.content_type, "application/json");
    let v = a.json();
    assert!(
        v["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{v}"
    );
    v["error"].as_str().expect("error").to_string()
}

#[tokio::test]
async fn oauth_refresh_issues_tokens_valid_until_expiry() {
    let server = start_oauth(confidential());
    let a = token_raw(&server, &refresh_body()).await;
    assert_eq!(a.json()["expires_in"], 14_400);
    let first = a.json()["access_token"].as_str().unwrap().to_string();
    let second = refresh(&server).await;
    assert_ne!(first, second);
    assert_eq!(server.issued_tokens(), [first.clone(), second.clone()]);
    assert_eq!(server.token_requests(), 2);

    // Issued tokens and the static token are all accepted.
    for token in [first.as_str(), second.as_str(), TOKEN] {
        assert_eq!(list_with(&server, token).await, (200, None));
    }
    // Just before expiry still valid, at expiry expired; unknown stays invalid.
    server.advance_clock(Duration::from_secs(14_399));
    assert_eq!(list_with(&server, &first).await.0, 200);
    server.advance_clock(Duration::from_secs(1));
    for token in [&first, &second] {
        assert_eq!(
            list_with(&server, token).await,
            (401, Some("expired_access_token".into()))
        );
    }
    assert_eq!(
        list_with(&server, "sl.unknown").await,
        (401, Some("invalid_access_token".into()))
    );
    assert_eq!(list_with(&server, TOKEN).await, (200, None));
    // A refresh after expiry gives a fresh token.
    let third = refresh(&server).await;
    assert_eq!(list_with(&server, &third).await, (200, None));

    // Token requests are recorded like any other, secrets included.
    let recorded: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == TOKEN_PATH)
        .collect();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].body, refresh_body());
    assert_eq!(recorded[0].header("content-type"), Some(FORM));
    assert_eq!(server.stats().by_status.get(&401), Some(&3));
}

#[tokio::test]
async fn expire_access_tokens_and_custom_lifetime() {
    let mut app = confidential();
    app.expires_in = 60;
    let server = start_oauth(app);
    let a = token_raw(&server, &refresh_body()).await;
    assert_eq!(a.json()["expires_in"], 60);
    let old = a.json()["access_token"].as_str().unwrap().to_string();
    server.advance_clock(Duration::from_secs(59));
    assert_eq!(list_with(&server, &old).await.0, 200);
    server.advance_clock(Duration::from_secs(1));
    assert_eq!(list_with(&server, &old).await.0, 401);

    let a = refresh(&server).await;
    let b = refresh(&server).await;
    assert_eq!(list_with(&server, &a).await.0, 200);
    server.expire_access_tokens();
    for token in [&a, &b] {
        assert_eq!(
            list_with(&server, token).await,
            (401, Some("expired_access_token".into()))
        );
    }
    // Only tokens issued before the call expire; the static token never.
    let c = refresh(&server).await;
    assert_eq!(list_with(&server, &c).await.0, 200);
    assert_eq!(list_with(&server, TOKEN).await.0, 200);
    assert_eq!(server.issued_tokens().len(), 4);
}

#[tokio::test]
async fn oauth_request_and_client_errors() {
    let server = start_oauth(confidential());
    let g = "grant_type=refresh_token";
    let r = format!("refresh_token={REFRESH}");
    let c = format!("client_id={CLIENT_ID}");
    let s = format!("client_secret={SECRET}");
    let cases: Vec<(String, &str)> = vec![
        (format!("{r}&{c}&{s}"), "invalid_request"),
        (
            format!("grant_type=authorization_code&{r}&{c}&{s}"),
            "invalid_request",
        ),
        (format!("grant_type=&{r}&{c}&{s}"), "invalid_request"),
        (format!("{g}&{c}&{s}"), "invalid_request"),
        (format!("{g}&{r}&{s}"), "invalid_request"),
        (format!("{g}&{r}&{c}&{s}&{s}"), "invalid_request"),
        (format!("{g}&{r}&{c}&client_secret=%zz"), "invalid_request"),
        (String::new(), "invalid_request"),
        (format!("{g}&{r}&client_id=other&{s}"), "invalid_client"),
        (format!("{g}&{r}&{c}"), "invalid_client"),
        (format!("{g}&{r}&{c}&client_secret=wrong"), "invalid_client"),
        (format!("{g}&{r}&{c}&client_secret="), "invalid_client"),
        // Request and client errors come before the grant check.
        (format!("{g}&refresh_token=nope&{c}"), "invalid_client"),
        (format!("{g}&refresh_token=nope&{c}&{s}"), "invalid_grant"),
    ];
    for (body, expected) in &cases {
        let a = token_raw(&server, body).await;
        assert_eq!(oauth_error(&a), *expected, "{body}: {}", a.body);
    }
    // Form encoding only: JSON or a missing Content-Type is refused.
    for ct in [Some("application/json"), None] {
        let a = post_raw(&server, TOKEN_PATH, None, ct, &refresh_body()).await;
        assert_eq!(oauth_error(&a), "invalid_request");
    }
    let a = reqwest::Client::new()
        .get(format!("{}{TOKEN_PATH}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status().as_u16(), 405);
    // A charset parameter and any parameter order are fine.
    let a = post_raw(
        &server,
        TOKEN_PATH,
        None,
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        &format!("{s}&{c}&{r}&{g}"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Revoked: later refreshes get invalid_grant, with Dropbox's wording.
    server.revoke_refresh_token();
    let a = token_raw(&server, &refresh_body()).await;
    assert_eq!(oauth_error(&a), "invalid_grant");
    assert_eq!(
        a.json()["error_description"],
        "refresh token is invalid or revoked"
    );
    // The token issued before the revocation keeps working until it expires.
    let issued = server.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(list_with(&server, &issued[0]).await.0, 200);
    assert_eq!(server.token_requests(), cases.len() as u64 + 5);

    // Without an OAuth app every client is unknown.
    let plain = start(3);
    assert_eq!(
        oauth_error(&token_raw(&plain, &refresh_body()).await),
        "invalid_client"
    );
}

#[tokio::test]
async fn oauth_form_values_are_percent_decoded() {
    // Values that need encoding: space, plus, slash, ampersand, equals, é.
    let app = OAuthApp::new("key +/é", Some("s&c=r+t"), "rt/with+plus&amp=x y");
    let server = start_oauth(app);
    let body = "grant_type=refresh_token\
        &refresh_token=rt%2Fwith%2Bplus%26amp%3Dx+y\
        &client_id=key%20%2B%2f%C3%A9\
        &client_secret=s%26c%3dr%2Bt";
    let a = token_raw(&server, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A literal '+' decodes to a space, so an unencoded plus is wrong.
    let a = token_raw(
        &server,
        "grant_type=refresh_token&refresh_token=rt%2Fwith+plus%26amp%3Dx+y\
         &client_id=key%20%2B%2f%C3%A9&client_secret=s%26c%3dr%2Bt",
    )
    .await;
    assert_eq!(oauth_error(&a), "invalid_grant");
}

#[tokio::test]
async fn pkce_app_sends_no_secret() {
    let server = start_oauth(OAuthApp::new(CLIENT_ID, None, REFRESH));
    let body = format!("grant_type=refresh_token&refresh_token={REFRESH}&client_id={CLIENT_ID}");
    let a = token_raw(&server, &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(list_with(&server, &token).await.0, 200);
    let a = token_raw(&server, &format!("{body}&client_secret={SECRET}")).await;
    assert_eq!(oauth_error(&a), "invalid_client");
    let a = token_raw(&server, &body.replace(REFRESH, "other")).await;
    assert_eq!(oauth_error(&a), "invalid_grant");
}

#[tokio::test]
async fn token_endpoint_delay_applies_to_concurrent_refreshes() {
    let server = std::sync::Arc::new(start_oauth(confidential()));
    server.set_token_endpoint_delay(Duration::from_millis(300));
    let t = Instant::now();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            tokio::spawn(async move { refresh(&server).await })
        })
        .collect();
    let mut tokens = HashSet::new();
    for task in tasks {
        tokens.insert(task.await.unwrap());
    }
    let elapsed = t.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // Served concurrently, not one after another.
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    assert_eq!(tokens.len(), 3);
    assert_eq!(server.token_requests(), 3);
    // Errors are delayed too; member routes are not.
    let t = Instant::now();
    assert_eq!(
        oauth_error(&token_raw(&server, "").await),
        "invalid_request"
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    server.set_token_endpoint_delay(Duration::ZERO);
    let t = Instant::now();
    refresh(&server).await;
    assert_eq!(list_with(&server, TOKEN).await.0, 200);
    assert!(t.elapsed() < Duration::from_millis(300));
}

// ---------------------------------------------------------------------------
// Redirect, huge body, echoed credentials

#[tokio::test]
async fn redirect_fault() {
    let server = start(10);
    let target = "http://169.254.169.254/latest/meta-data/";
    server.inject(DropboxFault::Redirect(target.into()), 1);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .post(format!("{}{LIST}", server.url()))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(
        resp.headers().get("location").unwrap().to_str().unwrap(),
        target
    );
    assert!(resp.bytes().await.unwrap().is_empty());
    // An unusable Location is the test's mistake: a 500 says so.
    server.inject(DropboxFault::Redirect("bad\nvalue".into()), 1);
    assert_eq!(post(&server, LIST, json!({})).await.status, 500);
    assert_eq!(post(&server, LIST, json!({})).await.status, 200);
    assert_eq!(server.stats().faults_applied, 2);
}

#[tokio::test]
async fn huge_body_fault() {
    let server = start(30);
    let normal = post(&server, LIST, json!({"limit": 5})).await.json();
    let size = 8 << 20;
    server.inject(DropboxFault::HugeBody(size), 1);
    let a = post(&server, LIST, json!({"limit": 5})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/json");
    assert_eq!(a.body.len(), size);
    assert!(a.body.ends_with(" }"));
    let page = a.json();
    assert_eq!(page["members"], normal["members"]);
    assert_eq!(page["has_more"], true);
    // Its cursor is a real one.
    let next = post(&server, CONTINUE, json!({"cursor": page["cursor"]})).await;
    assert_eq!(next.status, 200);
    // Smaller than the page: the bare page.
    server.inject(DropboxFault::HugeBody(10), 1);
    let a = post(&server, LIST, json!({"limit": 5})).await;
    assert_eq!(a.json()["members"], normal["members"]);
    assert!(!a.body.ends_with(" }"));
}

#[tokio::test]
async fn echo_authorization_fault() {
    let server = start_oauth(confidential());
    let normal = post(&server, LIST, json!({"limit": 4})).await.json();
    server.inject(DropboxFault::EchoAuthorization, 2);
    let a = post(&server, LIST, json!({"limit": 4})).await;
    assert_eq!(a.status, 200);
    let page = a.json();
    assert_eq!(page["cursor"], format!("Bearer {TOKEN}"));
    assert_eq!(page["members"], normal["members"]);
    assert_eq!(page["has_more"], true);
    // An issued token is echoed just the same.
    let issued = refresh(&server).await;
    let a = post_raw(
        &server,
        LIST,
        Some(&format!("Bearer {issued}")),
        Some("application/json"),
        r#"{"limit": 4}"#,
    )
    .await;
    assert_eq!(a.json()["cursor"], format!("Bearer {issued}"));
    // Echoing it back is an invalid cursor, of course.
    let a = post(
        &server,
        CONTINUE,
        json!({"cursor": format!("Bearer {TOKEN}")}),
    )
    .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.error_tag(), "invalid_cursor");
}

// ---------------------------------------------------------------------------
// Member actions
//
// A 10-member team holds only forced members: 0 the one Team admin, 1 and 9
// invited, 2 suspended, 3 and 5 removed, 4 active (limited), 6, 7 and 8
// active User management, Support and Billing admins.

const SUSPEND: &str = "/2/team/members/suspend";
const UNSUSPEND: &str = "/2/team/members/unsuspend";
const REMOVE: &str = "/2/team/members/remove";
const JOB_STATUS: &str = "/2/team/members/remove/job_status/get";
const GET_INFO: &str = "/2/team/members/get_info_v2";
const ROLES: &str = "/2/team/members/get_available_team_member_roles";
const SET_ROLES: &str = "/2/team/members/set_admin_permissions_v2";

/// A 10-member team whose active members all have verified emails.
fn start_actions(config: impl FnOnce(&mut DropboxConfig)) -> FakeDropbox {
    let mut team = Team::generate(10, 1);
    for i in [0, 4, 6, 7, 8] {
        let mut m = team.member(i);
        if !m.email_verified {
            m.email_verified = true;
            team.set_member(i, m);
        }
    }
    let mut cfg = DropboxConfig::new(team, TOKEN);
    config(&mut cfg);
    FakeDropbox::start(cfg).expect("start")
}

fn member(server: &FakeDropbox, i: usize) -> connector_fakes::Member {
    server.with_team(|t| t.member(i))
}

fn by_email(server: &FakeDropbox, i: usize) -> Value {
    json!({".tag": "email", "email": member(server, i).email})
}

fn by_id(server: &FakeDropbox, i: usize) -> Value {
    json!({".tag": "team_member_id", "team_member_id": member(server, i).team_member_id})
}

fn nobody() -> Value {
    json!({".tag": "email", "email": "nobody@example.com"})
}

/// Posts and returns the 409 tag, failing on any other status.
async fn conflict(server: &FakeDropbox, path: &str, body: Value) -> String {
    let a = post(server, path, body.clone()).await;
    assert_eq!(a.status, 409, "{path} {body}: {}", a.body);
    assert_eq!(a.content_type, "application/json");
    a.error_tag()
}

/// Posts and returns the 200 JSON answer.
async fn ok(server: &FakeDropbox, path: &str, body: Value) -> Value {
    let a = post(server, path, body.clone()).await;
    assert_eq!(a.status, 200, "{path} {body}: {}", a.body);
    assert_eq!(a.content_type, "application/json");
    a.json()
}

/// Member `i` as `list_v2` (with removed members) shows it.
async fn listed(server: &FakeDropbox, i: usize) -> Value {
    let page = ok(server, LIST, json!({"include_removed": true})).await;
    page["members"][i].clone()
}

fn now_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    connector_fakes::team::format_timestamp(secs as i64)
}

#[tokio::test]
async fn suspend_and_unsuspend_change_the_listed_state() {
    let server = start_actions(|_| {});
    let m4 = member(&server, 4);
    let before = now_timestamp();
    // Email matches case-insensitively; the answer is `null`.
    let a = post(
        &server,
        SUSPEND,
        json!({"user": {".tag": "email", "email": m4.email.to_uppercase()}}),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "null"));
    let after = now_timestamp();
    let profile = listed(&server, 4).await["profile"].clone();
    assert_eq!(profile["status"], json!({".tag": "suspended"}));
    let suspended_on = profile["suspended_on"].as_str().unwrap();
    assert!(
        before.as_str() <= suspended_on && suspended_on <= after.as_str(),
        "{suspended_on}"
    );
    assert_eq!(
        server.member_by_email(&m4.email).unwrap().status,
        MemberStatus::Suspended
    );

    // Twice: the member is no longer active.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_id(&server, 4)})).await,
        "suspend_inactive_user"
    );
    let a = post(&server, UNSUSPEND, json!({"user": by_id(&server, 4)})).await;
    assert_eq!((a.status, a.body.as_str()), (200, "null"));
    let profile = listed(&server, 4).await["profile"].clone();
    assert_eq!(profile["status"], json!({".tag": "active"}));
    assert!(profile.get("suspended_on").is_none());
    assert_eq!(
        conflict(&server, UNSUSPEND, json!({"user": by_id(&server, 4)})).await,
        "unsuspend_non_suspended_member"
    );

    // wipe_data defaults to true and is logged as sent otherwise.
    ok(
        &server,
        SUSPEND,
        json!({"user": by_email(&server, 4), "wipe_data": false}),
    )
    .await;
    // By external id.
    let (k, external) = server.with_team(|t| {
        (0..t.len())
            .filter(|&i| t.status(i) == MemberStatus::Active && i != 0)
            .find_map(|i| t.member(i).external_id.map(|x| (i, x)))
            .unwrap()
    });
    ok(
        &server,
        SUSPEND,
        json!({"user": {".tag": "external_id", "external_id": external}}),
    )
    .await;
    assert_eq!(member(&server, k).status, MemberStatus::Suspended);

    // Everyone else who cannot be (un)suspended.
    let cases = [
        (SUSPEND, by_email(&server, 1), "suspend_inactive_user"),
        (SUSPEND, by_email(&server, 2), "suspend_inactive_user"),
        (SUSPEND, by_email(&server, 3), "user_not_in_team"),
        (SUSPEND, by_id(&server, 5), "user_not_in_team"),
        (SUSPEND, nobody(), "user_not_found"),
        (
            SUSPEND,
            json!({".tag": "team_member_id", "team_member_id": "dbmid:AAnope"}),
            "user_not_found",
        ),
        (
            SUSPEND,
            json!({".tag": "external_id", "external_id": "1"}),
            "user_not_found",
        ),
        (
            UNSUSPEND,
            by_email(&server, 0),
            "unsuspend_non_suspended_member",
        ),
        (
            UNSUSPEND,
            by_email(&server, 1),
            "unsuspend_non_suspended_member",
        ),
        (UNSUSPEND, by_email(&server, 3), "user_not_in_team"),
        (UNSUSPEND, nobody(), "user_not_found"),
    ];
    for (path, user, tag) in &cases {
        assert_eq!(
            conflict(&server, path, json!({ "user": user })).await,
            *tag,
            "{path} {user}"
        );
    }

    let log = server.action_log();
    assert_eq!(log.len(), 6 + cases.len());
    assert_eq!(log[0].route, "team/members/suspend");
    assert_eq!(
        log[0].team_member_id.as_deref(),
        Some(m4.team_member_id.as_str())
    );
    assert_eq!(log[0].outcome, "success");
    assert_eq!(log[0].args["wipe_data"], true);
    assert_eq!(log[0].args["user"][".tag"], "email");
    assert_eq!(log[1].outcome, "suspend_inactive_user");
    assert_eq!(log[2].route, "team/members/unsuspend");
    assert_eq!(log[2].args, json!({"user": by_id(&server, 4)}));
    assert_eq!(log[4].args["wipe_data"], false);
    let not_found = &log[6 + 4];
    assert_eq!(not_found.outcome, "user_not_found");
    assert_eq!(not_found.team_member_id, None);
    assert_eq!(
        log[6 + 2].team_member_id,
        Some(member(&server, 3).team_member_id)
    );
}

#[tokio::test]
async fn suspend_uses_the_fakes_clock() {
    let server = start_actions(|_| {});
    server.advance_clock(Duration::from_secs(400 * 86_400));
    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let suspended_on = member(&server, 4).suspended_on.unwrap();
    assert!(suspended_on > now_timestamp(), "{suspended_on}");
}

#[tokio::test]
async fn last_admin_rules_and_admin_roles() {
    let server = start_actions(|_| {});
    let team_admin = Role::team_admin().role_id;
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 0)})).await,
        "suspend_last_admin"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 0)})).await,
        "remove_last_admin"
    );
    assert_eq!(
        conflict(
            &server,
            SET_ROLES,
            json!({"user": by_email(&server, 0), "new_roles": []})
        )
        .await,
        "last_admin"
    );
    // Keeping the Team admin role is fine.
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_email(&server, 0), "new_roles": [team_admin]}),
    )
    .await;
    assert_eq!(v["roles"][0]["role_id"], team_admin);

    // A second Team admin lets the first go.
    let m6 = member(&server, 6);
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_id(&server, 6), "new_roles": [team_admin]}),
    )
    .await;
    assert_eq!(
        v,
        json!({
            "team_member_id": m6.team_member_id,
            "roles": [{
                "role_id": team_admin,
                "name": "Team admin",
                "description": Role::team_admin().description,
            }],
        })
    );
    assert_eq!(listed(&server, 6).await["roles"], v["roles"]);
    ok(&server, SUSPEND, json!({"user": by_email(&server, 0)})).await;
    // Now 6 is the only active one; a suspended admin does not count.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 6)})).await,
        "suspend_last_admin"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 6)})).await,
        "remove_last_admin"
    );
    let support = Role::support_admin().role_id;
    assert_eq!(
        conflict(
            &server,
            SET_ROLES,
            json!({"user": by_email(&server, 6), "new_roles": [support]})
        )
        .await,
        "last_admin"
    );
    ok(&server, UNSUSPEND, json!({"user": by_email(&server, 0)})).await;
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_email(&server, 6), "new_roles": []}),
    )
    .await;
    assert_eq!(v["roles"], json!([]));
    assert_eq!(listed(&server, 6).await["roles"], json!([]));
    // A missing or null new_roles is an empty list too.
    let v = ok(&server, SET_ROLES, json!({"user": by_email(&server, 7)})).await;
    assert_eq!(v["roles"], json!([]));

    for (user, roles, tag) in [
        (
            by_email(&server, 8),
            json!(["pid_dbtmr:9999"]),
            "role_not_found",
        ),
        (nobody(), json!([]), "user_not_found"),
        (by_email(&server, 3), json!([]), "user_not_in_team"),
        (
            by_email(&server, 2),
            json!([support]),
            "cannot_set_permissions",
        ),
        (
            by_email(&server, 1),
            json!([support]),
            "cannot_set_permissions",
        ),
    ] {
        assert_eq!(
            conflict(
                &server,
                SET_ROLES,
                json!({"user": user, "new_roles": roles})
            )
            .await,
            tag
        );
    }
    let log = server.action_log();
    assert!(
        log.iter()
            .filter(|r| r.route == "team/members/set_admin_permissions_v2")
            .count()
            >= 9
    );
    assert_eq!(log.last().unwrap().outcome, "cannot_set_permissions");

    let roles = ok(&server, ROLES, Value::Null).await;
    let expected: Vec<Value> = Role::standard()
        .iter()
        .map(|r| json!({"role_id": r.role_id, "name": r.name, "description": r.description}))
        .collect();
    assert_eq!(roles, json!({ "roles": expected }));
    assert_eq!(roles["roles"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn remove_validates_every_argument_rule() {
    let server = start_actions(|_| {});
    let user = by_email(&server, 4);
    let dest = by_email(&server, 6);
    let admin = by_email(&server, 0);
    let not_admin = by_email(&server, 7);
    let removed = by_email(&server, 3);
    let invited = by_email(&server, 1);
    let snapshot = server.snapshot();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"user": nobody()}), "user_not_found"),
        (json!({"user": removed}), "user_not_in_team"),
        (
            json!({"user": user, "wipe_data": false, "transfer_dest_id": user, "transfer_admin_id": admin}),
            "removed_and_transfer_dest_should_differ",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": user}),
            "removed_and_transfer_admin_should_differ",
        ),
        (
            json!({"user": user, "transfer_dest_id": nobody(), "transfer_admin_id": admin}),
            "transfer_dest_user_not_found",
        ),
        (
            json!({"user": user, "transfer_dest_id": removed, "transfer_admin_id": admin}),
            "transfer_dest_user_not_in_team",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": nobody()}),
            "transfer_admin_user_not_found",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": removed}),
            "transfer_admin_user_not_in_team",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest}),
            "unspecified_transfer_admin_id",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": not_admin}),
            "transfer_admin_is_not_admin",
        ),
        (
            json!({"user": user, "transfer_dest_id": invited, "transfer_admin_id": admin}),
            "recipient_not_verified",
        ),
        (
            json!({"user": user, "wipe_data": false, "keep_account": true,
                   "transfer_dest_id": dest, "transfer_admin_id": admin}),
            "cannot_keep_account_and_transfer",
        ),
        (
            json!({"user": user, "keep_account": true}),
            "cannot_keep_account_and_delete_data",
        ),
        (
            json!({"user": user, "wipe_data": false, "keep_account": true,
                   "permanently_delete_files": true}),
            "cannot_keep_account_and_permanently_delete",
        ),
        (
            json!({"user": invited, "wipe_data": false, "keep_account": true}),
            "cannot_keep_invited_user_account",
        ),
        (
            json!({"user": user, "retain_team_shares": true}),
            "cannot_retain_shares_when_data_wiped",
        ),
        (
            json!({"user": user, "wipe_data": false, "retain_team_shares": true}),
            "cannot_retain_shares_when_no_account_kept",
        ),
        (
            json!({"user": user, "permanently_delete_files": true,
                   "transfer_dest_id": dest, "transfer_admin_id": admin}),
            "cannot_permanently_delete_and_transfer",
        ),
    ];
    for (body, tag) in &cases {
        assert_eq!(
            conflict(&server, REMOVE, body.clone()).await,
            *tag,
            "{body}"
        );
    }
    // Refusals change no member, but each is logged with its tag.
    let after: Value = serde_json::from_str(&server.snapshot()).unwrap();
    let before: Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(after["changed"], before["changed"]);
    assert_eq!(after["actions"], cases.len());
    let log = server.action_log();
    for (record, (_, tag)) in log.iter().zip(&cases) {
        assert_eq!(record.route, "team/members/remove");
        assert_eq!(record.outcome, *tag);
        assert_eq!(record.transfer_dest_id, None);
    }
    assert_eq!(log[0].team_member_id, None);
    assert_eq!(
        log[2].team_member_id,
        Some(member(&server, 4).team_member_id)
    );
    // Defaults are filled in.
    assert_eq!(
        log[0].args,
        json!({
            "user": nobody(),
            "wipe_data": true,
            "transfer_dest_id": null,
            "transfer_admin_id": null,
            "keep_account": false,
            "retain_team_shares": false,
            "permanently_delete_files": false,
        })
    );
}

#[tokio::test]
async fn remove_transfers_and_is_not_repeatable() {
    let server = start_actions(|_| {});
    let m4 = member(&server, 4);
    let v = ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "wipe_data": false,
               "transfer_dest_id": by_email(&server, 6), "transfer_admin_id": by_id(&server, 0)}),
    )
    .await;
    assert_eq!(v, json!({".tag": "complete"}));
    let record = server.action_log().pop().unwrap();
    assert_eq!(record.outcome, "complete");
    assert_eq!(record.team_member_id, Some(m4.team_member_id.clone()));
    assert_eq!(
        record.transfer_dest_id,
        Some(member(&server, 6).team_member_id)
    );
    assert_eq!(
        record.transfer_admin_id,
        Some(member(&server, 0).team_member_id)
    );
    assert_eq!(record.args["wipe_data"], false);
    assert_eq!(record.args["transfer_dest_id"], by_email(&server, 6));

    assert_eq!(
        listed(&server, 4).await["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": true, "is_disconnected": false})
    );
    let (active, _) = list_all(&server, 1000, false).await;
    assert!(!ids(&active).contains(&m4.team_member_id));
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 4)})).await,
        "user_not_in_team"
    );
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await,
        "user_not_in_team"
    );

    // Kept as a Basic account: disconnected and not recoverable; admin
    // roles go with the membership.
    ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 8), "wipe_data": false, "keep_account": true,
               "retain_team_shares": true}),
    )
    .await;
    let m8 = listed(&server, 8).await;
    assert_eq!(
        m8["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": true})
    );
    assert_eq!(m8["roles"], json!([]));
    // Files deleted for good: not recoverable.
    ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 7), "permanently_delete_files": true}),
    )
    .await;
    assert_eq!(
        listed(&server, 7).await["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": false})
    );
    // An invited member can be removed (the invitation is withdrawn).
    ok(&server, REMOVE, json!({"user": by_email(&server, 9)})).await;
    assert!(member(&server, 9).status.is_removed());
}

#[tokio::test]
async fn async_remove_is_polled_to_completion() {
    let server = start_actions(|c| c.remove_async_polls = 2);
    let v = ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "wipe_data": false,
               "transfer_dest_id": by_email(&server, 6), "transfer_admin_id": by_email(&server, 0)}),
    )
    .await;
    assert_eq!(v[".tag"], "async_job_id");
    let job = v["async_job_id"].as_str().unwrap().to_string();
    assert!(job.starts_with("dbjid:") && job.len() > 20, "{job}");
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(server.action_log()[0].outcome, "async_job_id");
    // The member is gone at once.
    assert!(member(&server, 4).status.is_removed());

    let poll = json!({ "async_job_id": job });
    assert_eq!(
        ok(&server, JOB_STATUS, poll.clone()).await,
        json!({".tag": "in_progress"})
    );
    // The destination of a transfer in progress cannot be removed.
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 6)})).await,
        "member_is_transfer_destination"
    );
    assert_eq!(
        ok(&server, JOB_STATUS, poll.clone()).await,
        json!({".tag": "in_progress"})
    );
    for _ in 0..2 {
        assert_eq!(
            ok(&server, JOB_STATUS, poll.clone()).await,
            json!({".tag": "complete"})
        );
    }
    // Done: the destination is free again. Another job gets another id.
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 6)})).await;
    assert_eq!(v[".tag"], "async_job_id");
    assert_ne!(v["async_job_id"], job.as_str());

    assert_eq!(
        conflict(
            &server,
            JOB_STATUS,
            json!({"async_job_id": "dbjid:unknown"})
        )
        .await,
        "invalid_async_job_id"
    );
    // Back to synchronous answers.
    server.set_remove_async_polls(0);
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 7)})).await;
    assert_eq!(v, json!({".tag": "complete"}));
    // Polls are not actions.
    assert_eq!(server.action_log().len(), 4);
}

#[tokio::test]
async fn bare_union_tags_in_action_answers() {
    let server = start_actions(|c| {
        c.remove_async_polls = 1;
        c.style = WireStyle {
            bare_union_tags: true,
            unknown_fields: false,
        };
    });
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 4)})).await;
    let poll = json!({"async_job_id": v["async_job_id"]});
    assert_eq!(ok(&server, JOB_STATUS, poll.clone()).await, "in_progress");
    assert_eq!(ok(&server, JOB_STATUS, poll).await, "complete");
    server.set_remove_async_polls(0);
    assert_eq!(
        ok(&server, REMOVE, json!({"user": by_email(&server, 7)})).await,
        "complete"
    );
    let info = ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 0)]}),
    )
    .await;
    assert_eq!(info["members_info"][0]["profile"]["status"], "active");
}

#[tokio::test]
async fn get_info_mixes_found_and_not_found() {
    let server = start_actions(|_| {});
    let (x, external) = server.with_team(|t| {
        (0..t.len())
            .find_map(|i| t.member(i).external_id.map(|x| (i, x)))
            .unwrap()
    });
    let m0 = member(&server, 0);
    let selectors = json!([
        {".tag": "email", "email": m0.email.to_uppercase()},
        {".tag": "team_member_id", "team_member_id": member(&server, 3).team_member_id},
        {".tag": "email", "email": "Nobody@Example.com"},
        {".tag": "external_id", "external_id": external},
        {".tag": "team_member_id", "team_member_id": "dbmid:AAbogus"},
        {".tag": "external_id", "external_id": "1"},
    ]);
    let v = ok(&server, GET_INFO, json!({ "members": selectors })).await;
    let info = v["members_info"].as_array().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(info.len(), 6);
    let page = ok(&server, LIST, json!({"include_removed": true})).await;
    for (k, i) in [(0, 0), (1, 3), (3, x)] {
        let mut expected = page["members"][i].clone();
        expected[".tag"] = json!("member_info");
        assert_eq!(info[k], expected, "{k}");
    }
    // Removed members are found, status removed.
    assert_eq!(info[1]["profile"]["status"][".tag"], "removed");
    assert_eq!(
        info[2],
        json!({".tag": "id_not_found", "id_not_found": "Nobody@Example.com"})
    );
    assert_eq!(
        info[4],
        json!({".tag": "id_not_found", "id_not_found": "dbmid:AAbogus"})
    );
    assert_eq!(
        info[5],
        json!({".tag": "id_not_found", "id_not_found": "1"})
    );
    // Changes show at once; an empty list gives an empty answer.
    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let v = ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 4)]}),
    )
    .await;
    assert_eq!(
        v["members_info"][0]["profile"]["status"],
        json!({".tag": "suspended"})
    );
    assert_eq!(
        ok(&server, GET_INFO, json!({"members": []})).await,
        json!({"members_info": []})
    );
    // Reads are not actions.
    assert_eq!(server.action_log().len(), 1);
}

#[tokio::test]
async fn action_routes_check_auth_content_type_and_arguments() {
    let server = start_actions(|_| {});
    let user = by_email(&server, 4);
    let cases: Vec<(&str, String, &str)> = vec![
        (SUSPEND, "{}".into(), "missing required field 'user'"),
        (SUSPEND, json!({"user": user, "x": 1}).to_string(), "unknown field 'x'"),
        (SUSPEND, json!({"user": user, "wipe_data": "yes"}).to_string(), "wipe_data: expected boolean"),
        (SUSPEND, json!({"user": user, "wipe_data": null}).to_string(), "wipe_data: expected boolean, got null"),
        (SUSPEND, json!({"user": "email"}).to_string(), "user: tag 'email' requires a value"),
        (SUSPEND, json!({"user": {".tag": "account_id", "account_id": "x"}}).to_string(), "unknown tag 'account_id'"),
        (SUSPEND, json!({"user": {"email": "a@b.co"}}).to_string(), "missing '.tag'"),
        (SUSPEND, json!({"user": {".tag": "email", "email": "not-an-email"}}).to_string(), "not a valid email"),
        (SUSPEND, json!({"user": {".tag": "external_id", "external_id": "7".repeat(65)}}).to_string(), "64"),
        (SUSPEND, "[]".into(), "expected object"),
        (SUSPEND, "{".into(), "could not decode input as JSON"),
        (UNSUSPEND, json!({"user": user, "wipe_data": true}).to_string(), "unknown field 'wipe_data'"),
        (REMOVE, json!({"user": user, "transfer_dest_id": 5}).to_string(), "transfer_dest_id: expected object"),
        (REMOVE, json!({"user": user, "keep_account": 1}).to_string(), "keep_account: expected boolean"),
        (REMOVE, json!({"user": user, "transfer": true}).to_string(), "unknown field 'transfer'"),
        (JOB_STATUS, "{}".into(), "missing required field 'async_job_id'"),
        (JOB_STATUS, json!({"async_job_id": ""}).to_string(), "async_job_id"),
        (JOB_STATUS, json!({"async_job_id": 5}).to_string(), "expected string"),
        (GET_INFO, json!({"members": user}).to_string(), "members: expected list"),
        (GET_INFO, json!({"members": [user, 5]}).to_string(), "members: [1]: expected object"),
        (GET_INFO, "{}".into(), "missing required field 'members'"),
        (ROLES, "{}".into(), "expected null, got object"),
        (ROLES, "".into(), "could not decode input as JSON"),
        (
            SET_ROLES,
            json!({"user": user, "new_roles": [Role::team_admin().role_id, Role::support_admin().role_id]}).to_string(),
            "more than the maximum of 1",
        ),
        (SET_ROLES, json!({"user": user, "new_roles": ["team_admin"]}).to_string(), "pattern"),
        (SET_ROLES, json!({"user": user, "new_roles": "pid_dbtmr:3451"}).to_string(), "expected list"),
        (SET_ROLES, json!({"user": user, "new_role": "team_admin"}).to_string(), "unknown field 'new_role'"),
    ];
    for (path, body, needle) in &cases {
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.body);
        assert!(a.content_type.starts_with("text/plain"));
        let function = path.trim_start_matches("/2/");
        assert!(
            a.body.starts_with(&format!(
                "Error in call to API function \"{function}\": request body: "
            )),
            "{}",
            a.body
        );
        assert!(a.body.contains(needle), "{path} {body}: {}", a.body);
    }
    for path in [
        SUSPEND, UNSUSPEND, REMOVE, JOB_STATUS, GET_INFO, ROLES, SET_ROLES,
    ] {
        let a = post_raw(
            &server,
            path,
            Some("Bearer wrong"),
            Some("application/json"),
            "null",
        )
        .await;
        assert_eq!(
            (a.status, a.error_tag()),
            (401, "invalid_access_token".into()),
            "{path}"
        );
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("text/plain"),
            "null",
        )
        .await;
        assert_eq!(a.status, 400, "{path}");
        assert!(a.body.contains("Content-Type"));
        let resp = reqwest::get(format!("{}{path}", server.url()))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{path}");
    }
    // None of that reached the team.
    assert!(server.action_log().is_empty());
    assert_eq!(member(&server, 4).status, MemberStatus::Active);
    // A charset parameter is fine, as on the list routes.
    let a = post_raw(
        &server,
        ROLES,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json; charset=utf-8"),
        "null",
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn snapshot_tells_whether_anything_changed() {
    let server = start_actions(|_| {});
    let before = server.snapshot();
    // Reads change nothing.
    list_all(&server, 3, true).await;
    ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 4)]}),
    )
    .await;
    ok(&server, ROLES, Value::Null).await;
    assert_eq!(server.snapshot(), before);
    // Neither does a refused action's state, but it counts as an action.
    conflict(&server, SUSPEND, json!({"user": by_email(&server, 1)})).await;
    let refused: Value = serde_json::from_str(&server.snapshot()).unwrap();
    let start: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(refused["changed"], start["changed"]);
    assert_eq!(
        (start["actions"].clone(), refused["actions"].clone()),
        (json!(0), json!(1))
    );

    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let after: Value = serde_json::from_str(&server.snapshot()).unwrap();
    assert_eq!(after["actions"], 2);
    let changed = after["changed"].as_array().unwrap();
    let entry = changed.iter().find(|c| c["index"] == 4).unwrap();
    assert_eq!(
        entry["member"]["profile"]["status"],
        json!({".tag": "suspended"})
    );
    // Sorted by index, and stable.
    let indices: Vec<u64> = changed
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    assert_eq!(indices, sorted);
    assert_eq!(server.snapshot(), server.snapshot());

    let m = server
        .member_by_email(&member(&server, 4).email.to_uppercase())
        .unwrap();
    assert_eq!(m.status, MemberStatus::Suspended);
    assert!(server.member_by_email("nobody@example.com").is_none());
}

#[tokio::test]
async fn action_faults_apply_nothing_or_garble_the_answer() {
    let server = start_actions(|_| {});
    server.inject_action(DropboxFault::ServerError(503), 1);
    server.inject_action(
        DropboxFault::RateLimited {
            retry_after: 3,
            header: true,
            body: true,
        },
        1,
    );
    server.inject(DropboxFault::ServerError(500), 1);
    assert_eq!(server.pending_action_faults(), 2);
    // A 400 leaves the queue alone; list faults stay with the list.
    assert_eq!(post(&server, SUSPEND, json!({})).await.status, 400);
    assert_eq!(
        post(&server, SUSPEND, json!({"user": by_email(&server, 4)}))
            .await
            .status,
        503
    );
    let a = post(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    assert_eq!((a.status, a.retry_after.as_deref()), (429, Some("3")));
    assert_eq!(member(&server, 4).status, MemberStatus::Active);
    assert!(server.action_log().is_empty());
    assert_eq!(post(&server, LIST, json!({})).await.status, 500);
    assert_eq!(server.pending_action_faults(), 0);

    // A garbled answer to a write that happened.
    server.inject_action(DropboxFault::MalformedJson, 1);
    let a = post(&server, REMOVE, json!({"user": by_email(&server, 4)})).await;
    assert_eq!(a.status, 200);
    assert!(
        serde_json::from_str::<Value>(&a.body).is_err(),
        "{}",
        a.body
    );
    assert!(member(&server, 4).status.is_removed());
    assert_eq!(server.action_log().len(), 1);

    server.inject_action(DropboxFault::Conflict("other".into()), 1);
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 6)})).await,
        "other"
    );
    server.inject_action(DropboxFault::Slow(Duration::from_millis(200)), 1);
    let t = Instant::now();
    ok(&server, SUSPEND, json!({"user": by_email(&server, 6)})).await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    server.inject_action(DropboxFault::HugeBody(4096), 1);
    let a = post(&server, UNSUSPEND, json!({"user": by_email(&server, 6)})).await;
    assert_eq!((a.status, a.body.len()), (200, 4096));
    assert_eq!(a.json(), Value::Null);
    assert_eq!(member(&server, 6).status, MemberStatus::Active);
    assert_eq!(server.stats().faults_applied, 7);
}

#[tokio::test]
async fn team_get_info_counts_the_members_not_removed() {
    const TEAM_INFO: &str = "/2/team/get_info";
    let server = start(2_345);
    let provisioned =
        server.with_team(|t| (0..t.len()).filter(|&i| !t.status(i).is_removed()).count());
    assert!(
        provisioned < 2_345,
        "the generated team has removed members"
    );
    let answer = post_raw(
        &server,
        TEAM_INFO,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json"),
        "null",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let info = answer.json();
    // TeamGetInfoResult, as the reference lists it: every field, no other.
    let mut keys: Vec<&str> = info
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "name",
            "num_licensed_users",
            "num_provisioned_users",
            "num_used_licenses",
            "policies",
            "team_id"
        ]
    );
    assert_eq!(info["num_provisioned_users"], provisioned);
    assert!(info["num_licensed_users"].as_u64().unwrap() >= provisioned as u64);
    assert!(info["name"].is_string() && info["team_id"].as_str().unwrap().starts_with("dbtid:"));
    assert_eq!(info["policies"]["emm_state"][".tag"], "disabled");
    assert_eq!(
        info["policies"]["sharing"]["shared_folder_member_policy"][".tag"],
        "team"
    );

    // Strict like Dropbox: the argument is `null`, the token and the
    // content type are checked, and it is a POST.
    for (body, needle) in [
        ("{}", "expected null, got object"),
        ("", "could not decode input as JSON"),
    ] {
        let a = post_raw(
            &server,
            TEAM_INFO,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.body.contains(needle), "{body}: {}", a.body);
        assert!(a.body.contains("team/get_info"), "{}", a.body);
    }
    let a = post_raw(
        &server,
        TEAM_INFO,
        Some("Bearer wrong"),
        Some("application/json"),
        "null",
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_tag(), "invalid_access_token");
    let a = post_raw(
        &server,
        TEAM_INFO,
        Some(&format!("Bearer {TOKEN}")),
        Some("text/plain"),
        "null",
    )
    .await;
    assert_eq!(a.status, 400);

    // A removal shows in the count.
    let email = server.with_team(|t| {
        (0..t.len())
            .map(|i| t.member(i))
            .find(|m| {
                matches!(m.status, connector_fakes::MemberStatus::Active) && m.roles.is_empty()
            })
            .expect("a plain active member")
            .email
    });
    let removed = post(
        &server,
        "/2/team/members/remove",
        json!({"user": {".tag": "email", "email": email}}),
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let after = post(&server, TEAM_INFO, Value::Null).await.json();
    assert_eq!(after["num_provisioned_users"], provisioned - 1);

    // Bare union tags, and unknown fields for clients to tolerate.
    let mut cfg = DropboxConfig::new(Team::generate(5, 1), TOKEN);
    cfg.style = connector_fakes::WireStyle {
        bare_union_tags: true,
        unknown_fields: true,
    };
    let bare = FakeDropbox::start(cfg).expect("start");
    let info = post(&bare, TEAM_INFO, Value::Null).await.json();
    assert_eq!(info["policies"]["emm_state"], "disabled");
    assert!(info.get("future_field").is_some());
}

#[tokio::test]
async fn another_teams_account_is_not_in_the_team() {
    let server = start_actions(|_| {});
    server.add_outsider("Someone@Elsewhere.example");
    let outsider = json!({".tag": "email", "email": "someone@elsewhere.example"});
    // Dropbox knows the address, but not as a member here.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": outsider})).await,
        "user_not_in_team"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": outsider})).await,
        "user_not_in_team"
    );
    // An unknown address is still not found.
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": nobody()})).await,
        "user_not_found"
    );
    // get_info_v2 finds no member for it.
    let info = ok(&server, GET_INFO, json!({"members": [outsider]})).await;
    assert_eq!(info["members_info"][0][".tag"], "id_not_found");
    // As a transfer destination.
    let tag = conflict(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "transfer_dest_id": outsider,
               "transfer_admin_id": by_email(&server, 0), "wipe_data": false}),
    )
    .await;
    assert_eq!(tag, "transfer_dest_user_not_in_team");
}

#[tokio::test]
async fn writes_over_the_write_limit_answer_429_and_change_nothing() {
    let server = start_actions(|c| c.action_delay = Duration::from_millis(30));
    server.set_write_limit(Some(2));
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for i in [4, 6, 7] {
        answers.push(
            post(
                &server,
                SUSPEND,
                json!({"user": by_email(&server, i), "wipe_data": false}),
            )
            .await,
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "each waited the delay"
    );
    assert_eq!(answers[0].status, 200);
    assert_eq!(answers[1].status, 200);
    let limited = &answers[2];
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    let body = limited.json();
    assert_eq!(body["error"]["reason"][".tag"], "too_many_write_operations");
    assert!(body["error"].get("retry_after").is_none());
    assert_eq!(server.write_limited(), 1);
    assert!(matches!(
        member(&server, 7).status,
        connector_fakes::MemberStatus::Active
    ));
    // Reads are not writes; the next window takes writes again.
    assert_eq!(
        post(
            &server,
            GET_INFO,
            json!({"members": [by_email(&server, 7)]})
        )
        .await
        .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let again = post(
        &server,
        SUSPEND,
        json!({"user": by_email(&server, 7), "wipe_data": false}),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    server.set_write_limit(None);
}
