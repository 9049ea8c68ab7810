//! What the files of this test binary share: posting to the fake over real
//! HTTP and reading the answer, paging through the team, the OAuth refresh
//! exchange, and the 10-member team the member-action tests act on.

use std::collections::HashSet;

use connector_fakes::{DropboxConfig, FakeDropbox, OAuthApp, Team};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "sl.test-token";
pub(crate) const LIST: &str = "/2/team/members/list_v2";
pub(crate) const CONTINUE: &str = "/2/team/members/list/continue_v2";
pub(crate) const TOKEN_PATH: &str = "/oauth2/token";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";
pub(crate) const CLIENT_ID: &str = "app-key";
pub(crate) const SECRET: &str = "app-secret";
pub(crate) const REFRESH: &str = "rt-refresh";

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn error_tag(&self) -> String {
        let v = self.json();
        let summary = v["error_summary"].as_str().expect("error_summary");
        let tag = v["error"][".tag"].as_str().expect("error tag").to_string();
        assert!(summary.starts_with(&format!("{tag}/")), "{summary}");
        tag
    }
}

pub(crate) async fn post_raw(
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

pub(crate) async fn post(server: &FakeDropbox, path: &str, body: Value) -> Answer {
    post_raw(
        server,
        path,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json"),
        &body.to_string(),
    )
    .await
}

pub(crate) fn start(size: usize) -> FakeDropbox {
    FakeDropbox::start(DropboxConfig::new(Team::generate(size, 1), TOKEN)).expect("start")
}

/// Pages through the whole team; returns every member and the page sizes.
pub(crate) async fn list_all(
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

pub(crate) fn ids(members: &[Value]) -> Vec<String> {
    members
        .iter()
        .map(|m| m["profile"]["team_member_id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// OAuth 2 refresh

pub(crate) fn start_oauth(app: OAuthApp) -> FakeDropbox {
    let mut config = DropboxConfig::new(Team::generate(10, 1), TOKEN);
    config.oauth = Some(app);
    FakeDropbox::start(config).expect("start")
}

pub(crate) fn confidential() -> OAuthApp {
    OAuthApp::new(CLIENT_ID, Some(SECRET), REFRESH)
}

pub(crate) async fn token_raw(server: &FakeDropbox, body: &str) -> Answer {
    post_raw(server, TOKEN_PATH, None, Some(FORM), body).await
}

pub(crate) fn refresh_body() -> String {
    format!(
        "grant_type=refresh_token&refresh_token={REFRESH}&client_id={CLIENT_ID}&client_secret={SECRET}"
    )
}

/// A successful refresh; returns the new access token.
pub(crate) async fn refresh(server: &FakeDropbox) -> String {
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

// ---------------------------------------------------------------------------
// Member actions
//
// A 10-member team holds only forced members: 0 the one Team admin, 1 and 9
// invited, 2 suspended, 3 and 5 removed, 4 active (limited), 6, 7 and 8
// active User management, Support and Billing admins.

pub(crate) const SUSPEND: &str = "/2/team/members/suspend";
pub(crate) const UNSUSPEND: &str = "/2/team/members/unsuspend";
pub(crate) const REMOVE: &str = "/2/team/members/remove";
pub(crate) const JOB_STATUS: &str = "/2/team/members/remove/job_status/get";
pub(crate) const GET_INFO: &str = "/2/team/members/get_info_v2";
pub(crate) const ROLES: &str = "/2/team/members/get_available_team_member_roles";
pub(crate) const SET_ROLES: &str = "/2/team/members/set_admin_permissions_v2";

/// A 10-member team whose active members all have verified emails.
pub(crate) fn start_actions(config: impl FnOnce(&mut DropboxConfig)) -> FakeDropbox {
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

pub(crate) fn member(server: &FakeDropbox, i: usize) -> connector_fakes::Member {
    server.with_team(|t| t.member(i))
}

pub(crate) fn by_email(server: &FakeDropbox, i: usize) -> Value {
    json!({".tag": "email", "email": member(server, i).email})
}

pub(crate) fn by_id(server: &FakeDropbox, i: usize) -> Value {
    json!({".tag": "team_member_id", "team_member_id": member(server, i).team_member_id})
}

pub(crate) fn nobody() -> Value {
    json!({".tag": "email", "email": "nobody@example.com"})
}

/// Posts and returns the 409 tag, failing on any other status.
pub(crate) async fn conflict(server: &FakeDropbox, path: &str, body: Value) -> String {
    let a = post(server, path, body.clone()).await;
    assert_eq!(a.status, 409, "{path} {body}: {}", a.body);
    assert_eq!(a.content_type, "application/json");
    a.error_tag()
}

/// Posts and returns the 200 JSON answer.
pub(crate) async fn ok(server: &FakeDropbox, path: &str, body: Value) -> Value {
    let a = post(server, path, body.clone()).await;
    assert_eq!(a.status, 200, "{path} {body}: {}", a.body);
    assert_eq!(a.content_type, "application/json");
    a.json()
}

/// Member `i` as `list_v2` (with removed members) shows it.
pub(crate) async fn listed(server: &FakeDropbox, i: usize) -> Value {
    let page = ok(server, LIST, json!({"include_removed": true})).await;
    page["members"][i].clone()
}

pub(crate) fn now_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    connector_fakes::team::format_timestamp(secs as i64)
}
