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
