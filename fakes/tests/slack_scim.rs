//! Drives the fake Slack SCIM API over real HTTP to pin its wire behaviour:
//! paging and its cap, filters, the PatchOp checks, auth, unknown routes
//! and the injected rate limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use connector_fakes::slack_scim::{ERROR_SCHEMA, MAX_COUNT, PATCH_SCHEMA, user_id};
use connector_fakes::{FakeSlackScim, SlackScimConfig, SlackScimFault, Team};
use serde_json::{Value, json};

const TOKEN: &str = "xoxp-test-token";

struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    json: Value,
}

async fn call(
    server: &FakeSlackScim,
    method: reqwest::Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.url()));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let header = |n| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        content_type,
        retry_after,
        json,
    }
}

async fn get(server: &FakeSlackScim, path: &str) -> Answer {
    call(
        server,
        reqwest::Method::GET,
        path,
        Some(&format!("Bearer {TOKEN}")),
        None,
    )
    .await
}

async fn patch(server: &FakeSlackScim, id: &str, body: Value) -> Answer {
    call(
        server,
        reqwest::Method::PATCH,
        &format!("/scim/v2/Users/{id}"),
        Some(&format!("Bearer {TOKEN}")),
        Some(body),
    )
    .await
}

fn start(n: usize) -> FakeSlackScim {
    FakeSlackScim::start(SlackScimConfig::from_team(&Team::generate(n, 3), TOKEN)).unwrap()
}

#[track_caller]
fn assert_error(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.json);
    assert_eq!(a.content_type, "application/scim+json");
    assert_eq!(a.json["schemas"], json!([ERROR_SCHEMA]));
    assert_eq!(a.json["status"], status.to_string());
    assert!(a.json["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn pages_by_start_index_and_count() {
    let server = start(25);
    let a = get(&server, "/scim/v2/Users?startIndex=11&count=10").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/scim+json");
    assert_eq!(a.json["totalResults"], 25);
    assert_eq!(a.json["startIndex"], 11);
    assert_eq!(a.json["itemsPerPage"], 10);
    assert_eq!(a.json["Resources"][0]["id"], user_id(10));
    let last = get(&server, "/scim/v2/Users?startIndex=21&count=10").await;
    assert_eq!(last.json["itemsPerPage"], 5);
    // Slack's default page is 10; count=0 gives only the total.
    assert_eq!(
        get(&server, "/scim/v2/Users").await.json["itemsPerPage"],
        10
    );
    let zero = get(&server, "/scim/v2/Users?count=0").await;
    assert_eq!(
        (
            zero.json["totalResults"].clone(),
            zero.json["Resources"].clone()
        ),
        (json!(25), json!([]))
    );
    assert_eq!(server.pages_served(), 4);
    let user = &a.json["Resources"][0];
    for key in [
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "meta",
        "timezone",
    ] {
        assert!(!user[key].is_null(), "{key} in {user}");
    }
}

#[tokio::test]
async fn count_is_capped_at_the_documented_maximum() {
    let server = start(1005);
    let a = get(&server, "/scim/v2/Users?startIndex=1&count=5000").await;
    assert_eq!(a.json["itemsPerPage"], MAX_COUNT);
    assert_eq!(a.json["totalResults"], 1005);
}

#[tokio::test]
async fn rejects_bad_queries() {
    let server = start(3);
    for q in [
        "startIndex=x",
        "count=1.5",
        "startIndex=1&startIndex=2",
        "limit=5",
        "count=%zz",
    ] {
        assert_error(&get(&server, &format!("/scim/v2/Users?{q}")).await, 400);
    }
    let a = get(&server, "/scim/v2/Users?filter=displayName%20co%20%22a%22").await;
    assert_error(&a, 400);
    assert_eq!(a.json["scimType"], "invalidFilter");
}

#[tokio::test]
async fn filters_by_user_name_email_and_external_id() {
    let server = start(12);
    let u = server.users()[4].clone();
    let q = |attr: &str, v: &str| {
        format!(
            "/scim/v2/Users?filter={attr}%20eq%20%22{}%22",
            v.replace('@', "%40")
        )
    };
    for path in [
        q("userName", &u.user_name),
        q("emails", &u.email.to_uppercase()),
        q("emails.value", &u.email),
    ] {
        let a = get(&server, &path).await;
        assert_eq!(a.json["totalResults"], 1, "{path}");
        assert_eq!(a.json["Resources"][0]["id"], u.id);
    }
    if let Some(x) = &u.external_id {
        assert_eq!(
            get(&server, &q("externalId", x)).await.json["totalResults"],
            1
        );
    }
    assert_eq!(
        get(&server, &q("emails", "nobody@nowhere.test")).await.json["totalResults"],
        0
    );
}

#[tokio::test]
async fn patch_op_sets_active_and_is_validated() {
    let server = start(3);
    let id = user_id(1);
    let op = |value: Value| json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": value}]});
    let a = patch(&server, &id, op(json!(false))).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["active"], false);
    assert!(!server.users()[1].active);
    assert_eq!(
        get(&server, &format!("/scim/v2/Users/{id}")).await.json["active"],
        false
    );
    assert_eq!(
        patch(&server, &id, op(json!(true))).await.json["active"],
        true
    );
    for bad in [
        op(json!("False")),
        json!({"schemas": ["urn:x"], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": []}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "active"}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": true, "x": 1}]}),
    ] {
        assert_error(&patch(&server, &id, bad).await, 400);
    }
    assert!(server.users()[1].active, "refused patches change nothing");
    assert_error(&patch(&server, "W404", op(json!(false))).await, 404);
}

#[tokio::test]
async fn delete_deactivates() {
    let server = start(2);
    let id = user_id(0);
    let a = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/scim/v2/Users/{id}"),
        Some(&format!("Bearer {TOKEN}")),
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    assert!(!server.users()[0].active);
}

#[tokio::test]
async fn auth_and_unknown_routes() {
    let server = start(2);
    for auth in [None, Some("Bearer wrong"), Some(TOKEN)] {
        let a = call(&server, reqwest::Method::GET, "/scim/v2/Users", auth, None).await;
        assert_error(&a, 401);
    }
    assert_error(&get(&server, "/scim/v2/Groups").await, 404);
    assert_error(&get(&server, "/api/users.list").await, 404);
    assert_error(&get(&server, "/scim/v2/Users/W404").await, 404);
    let a = call(
        &server,
        reqwest::Method::POST,
        "/scim/v2/Users",
        Some(&format!("Bearer {TOKEN}")),
        Some(json!({})),
    )
    .await;
    assert_error(&a, 405);
    assert_eq!(server.requests()[0].authorization, None);
}

#[tokio::test]
async fn rate_limit_fault_once() {
    let server = start(2);
    server.inject(SlackScimFault::RateLimited { retry_after: 3 }, 1);
    let a = get(&server, "/scim/v2/Users").await;
    assert_error(&a, 429);
    assert_eq!(a.retry_after.as_deref(), Some("3"));
    assert_eq!(get(&server, "/scim/v2/Users").await.status, 200);
}
