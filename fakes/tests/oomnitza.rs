//! Drives the fake Oomnitza over real HTTP the way a connector would, to pin
//! its behaviour: the Authorization2 check, strict bulk validation, upsert
//! semantics per integration preference, finalize, ready portions and
//! faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use connector_fakes::{FakeOomnitza, OomnitzaConfig, OomnitzaFault};
use serde_json::{Value, json};

const TOKEN: &str = "oomnitza-api-token";
const PORTION: &str = "6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10";
const PORTION2: &str = "0a7d3b2e-1111-4c4c-8d8d-123456789abc";
const PORTION3: &str = "9e2a6c1d-2222-4b4b-9c9c-abcdefabcdef";

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn start() -> FakeOomnitza {
    FakeOomnitza::start(OomnitzaConfig::new(TOKEN)).expect("start")
}

async fn send(
    server: &FakeOomnitza,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<String>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.url()));
    if let Some(t) = token {
        req = req.header("Authorization2", t);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.expect("request");
    Answer {
        status: resp.status().as_u16(),
        retry_after: resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
        body: resp.text().await.unwrap(),
    }
}

async fn post(server: &FakeOomnitza, path: &str, body: &Value) -> Answer {
    send(
        server,
        reqwest::Method::POST,
        path,
        Some(TOKEN),
        Some("application/json; charset=utf-8"),
        Some(body.to_string()),
    )
    .await
}

fn payload(portion: &str, preference: (bool, bool), records: Value) -> Value {
    json!({
        "connector_version": "1.2.0",
        "connector_name": "Dropbox Users",
        "portion": portion,
        "data_type": "users",
        "sync_field": ["EMAIL"],
        "insert_only": preference.0,
        "update_only": preference.1,
        "test_run": false,
        "records": records,
        "error": null,
    })
}

fn user(email: &str, first: &str) -> Value {
    json!({"USER": email, "EMAIL": email, "FIRST_NAME": first, "PERMISSIONS_ID": 25})
}

fn counts(a: &Answer) -> [u64; 5] {
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    ["created", "updated", "unchanged", "skipped", "failed"].map(|k| v[k].as_u64().unwrap())
}

const UPSERT: (bool, bool) = (false, false);
const INSERT_ONLY: (bool, bool) = (true, false);
const UPDATE_ONLY: (bool, bool) = (false, true);

#[tokio::test]
async fn authorization2_is_required_exactly() {
    let server = start();
    let get = |token: Option<&'static str>| {
        let server = &server;
        async move {
            send(
                server,
                reqwest::Method::GET,
                "/api/v2/mappings?name=AuthTest",
                token,
                None,
                None,
            )
            .await
        }
    };
    let ok = get(Some(TOKEN)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!([]));
    for bad in [None, Some("wrong"), Some("OOMNITZA-API-TOKEN")] {
        let a = get(bad).await;
        assert_eq!(a.status, 401, "{bad:?}");
        assert_eq!(a.json(), json!({"errors": "Unauthorized"}));
    }
    // The standard Authorization header is not what Oomnitza reads.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v2/mappings?name=AuthTest", server.url()))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Bulk needs the token too.
    let a = send(
        &server,
        reqwest::Method::POST,
        "/api/v3/bulk",
        None,
        Some("application/json"),
        Some(payload(PORTION, UPSERT, json!([])).to_string()),
    )
    .await;
    assert_eq!(a.status, 401);
    server.set_api_token("rotated");
    assert_eq!(get(Some(TOKEN)).await.status, 401);
    assert_eq!(server.request_count(), 7);
    assert_eq!(server.user_count(), 0);
}

#[tokio::test]
async fn bulk_validation_names_the_field() {
    let server = start();
    let good = payload(PORTION, UPSERT, json!([user("a@x.com", "A")]));
    let with = |key: &str, value: Value| {
        let mut p = good.clone();
        p[key] = value;
        p
    };
    let without = |key: &str| {
        let mut p = good.clone();
        p.as_object_mut().unwrap().remove(key);
        p
    };
    let cases = vec![
        (with("connector_name", json!("")), "connector_name"),
        (without("connector_name"), "connector_name"),
        (with("portion", json!("run-1")), "portion"),
        (with("portion", json!(12)), "portion"),
        (with("data_type", json!("assets")), "data_type"),
        (with("sync_field", json!([])), "sync_field"),
        (with("sync_field", json!("EMAIL")), "sync_field"),
        (with("sync_field", json!([1])), "sync_field"),
        (with("insert_only", json!("false")), "insert_only"),
        (without("update_only"), "update_only"),
        (with("test_run", json!(null)), "test_run"),
        (
            {
                let mut p = good.clone();
                p["insert_only"] = json!(true);
                p["update_only"] = json!(true);
                p
            },
            "insert_only and update_only",
        ),
        (with("records", json!({})), "records"),
        (with("records", json!([1])), "records[0]"),
        (without("records"), "records"),
        (with("error", json!(5)), "error"),
        (with("extra", json!(1)), "extra"),
        (json!([]), "JSON object"),
    ];
    for (body, needle) in cases {
        let a = post(&server, "/api/v3/bulk", &body).await;
        assert_eq!(a.status, 400, "{needle}: {}", a.body);
        let msg = a.json()["errors"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    let a = send(
        &server,
        reqwest::Method::POST,
        "/api/v3/bulk",
        Some(TOKEN),
        Some("application/json"),
        Some("{not json".into()),
    )
    .await;
    assert_eq!(a.status, 400);
    for ct in [None, Some("text/plain")] {
        let a = send(
            &server,
            reqwest::Method::POST,
            "/api/v3/bulk",
            Some(TOKEN),
            ct,
            Some(good.to_string()),
        )
        .await;
        assert_eq!(a.status, 415);
    }
    assert_eq!(server.user_count(), 0);
    assert!(server.portions().is_empty());
    // And the good one goes through.
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &good).await),
        [1, 0, 0, 0, 0]
    );
    let a = send(
        &server,
        reqwest::Method::GET,
        "/api/v3/nothing",
        Some(TOKEN),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn create_and_update_upserts() {
    let server = start();
    let batch1 = json!([
        user("a@x.com", "A"),
        user("b@x.com", "B"),
        user("c@x.com", "C")
    ]);
    let a = post(&server, "/api/v3/bulk", &payload(PORTION, UPSERT, batch1)).await;
    assert_eq!(a.json()["portion"], PORTION);
    assert_eq!(counts(&a), [3, 0, 0, 0, 0]);
    let mut changed = user("b@x.com", "Bee");
    changed.as_object_mut().unwrap().remove("PERMISSIONS_ID");
    let batch2 = json!([user("a@x.com", "A"), changed, user("d@x.com", "D")]);
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &payload(PORTION, UPSERT, batch2)).await),
        [1, 1, 1, 0, 0]
    );
    assert_eq!(server.user_count(), 4);
    // Updates merge: fields the record does not carry are kept.
    let b = server.user_by("EMAIL", "b@x.com").unwrap();
    assert_eq!(b["FIRST_NAME"], "Bee");
    assert_eq!(b["PERMISSIONS_ID"], 25);
    let emails: Vec<Value> = server.users().iter().map(|u| u["EMAIL"].clone()).collect();
    assert_eq!(emails, ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]);
    assert!(server.user_by("EMAIL", "z@x.com").is_none());
    assert_eq!(
        server.user_by("PERMISSIONS_ID", "25").unwrap()["EMAIL"],
        "a@x.com"
    );

    let log = server.portion(PORTION).unwrap();
    assert_eq!(log.batches, 2);
    assert_eq!(log.records, 6);
    assert_eq!(
        (
            log.created,
            log.updated,
            log.unchanged,
            log.skipped,
            log.failed
        ),
        (4, 1, 1, 0, 0)
    );
    assert_eq!(log.connector_name, "Dropbox Users");
    assert_eq!(log.sync_field, ["EMAIL"]);
    assert!(!log.finalized && !log.test_run && !log.insert_only && !log.update_only);
}

#[tokio::test]
async fn insert_only_and_update_only() {
    let server = start();
    let seed = json!([user("a@x.com", "A"), user("b@x.com", "B")]);
    post(&server, "/api/v3/bulk", &payload(PORTION, UPSERT, seed)).await;

    let batch = json!([user("a@x.com", "Changed"), user("n@x.com", "New")]);
    assert_eq!(
        counts(
            &post(
                &server,
                "/api/v3/bulk",
                &payload(PORTION2, INSERT_ONLY, batch.clone())
            )
            .await
        ),
        [1, 0, 0, 1, 0]
    );
    assert_eq!(
        server.user_by("EMAIL", "a@x.com").unwrap()["FIRST_NAME"],
        "A"
    );
    assert_eq!(server.user_count(), 3);

    let batch = json!([
        user("a@x.com", "Changed"),
        user("m@x.com", "Missing"),
        user("b@x.com", "B")
    ]);
    assert_eq!(
        counts(
            &post(
                &server,
                "/api/v3/bulk",
                &payload(PORTION3, UPDATE_ONLY, batch)
            )
            .await
        ),
        [0, 1, 1, 1, 0]
    );
    assert_eq!(
        server.user_by("EMAIL", "a@x.com").unwrap()["FIRST_NAME"],
        "Changed"
    );
    assert!(server.user_by("EMAIL", "m@x.com").is_none());
    let logs = server.portions();
    assert_eq!(logs.len(), 3);
    assert!(logs[1].insert_only && logs[2].update_only);

    // A portion keeps its preference: a batch with another one is refused.
    let a = post(
        &server,
        "/api/v3/bulk",
        &payload(PORTION3, UPSERT, json!([])),
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn failed_records_are_counted_not_applied() {
    let server = start();
    let mut no_email = user("x@x.com", "X");
    no_email.as_object_mut().unwrap().remove("EMAIL");
    let mut null_email = user("y@x.com", "Y");
    null_email["EMAIL"] = Value::Null;
    let mut empty_email = user("z@x.com", "Z");
    empty_email["EMAIL"] = json!("");
    let mut mapping_failed = user("e@x.com", "E");
    mapping_failed["error"] = json!("Failed to convert field FIRST_NAME");
    let mut ok_with_null_error = user("ok@x.com", "Ok");
    ok_with_null_error["error"] = Value::Null;
    let mut saas_user = user("s@x.com", "S");
    saas_user["saas"] =
        json!({"sync_key": "dbmid:AAx", "selected_saas_id": "123", "name": "Dropbox"});
    let mut bad_saas = user("t@x.com", "T");
    bad_saas["saas"] = json!({"name": "Dropbox"});
    let batch = json!([
        no_email,
        null_email,
        empty_email,
        mapping_failed,
        ok_with_null_error,
        saas_user,
        bad_saas
    ]);
    let mut body = payload(PORTION, UPSERT, batch);
    body["error"] = json!("2 members could not be read");
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &body).await),
        [2, 0, 0, 0, 5]
    );
    assert_eq!(server.user_count(), 2);
    let ok = server.user_by("EMAIL", "ok@x.com").unwrap();
    assert!(ok.get("error").is_none());
    assert_eq!(
        server.user_by("EMAIL", "s@x.com").unwrap()["saas"]["sync_key"],
        "dbmid:AAx"
    );

    let log = server.portion(PORTION).unwrap();
    assert_eq!(log.failed, 5);
    let errors = log.errors.join("\n");
    assert!(
        errors.contains("portion error: 2 members could not be read"),
        "{errors}"
    );
    assert!(
        errors.contains("record 1: missing sync field value: EMAIL"),
        "{errors}"
    );
    assert!(
        errors.contains("record 3: missing sync field value: EMAIL"),
        "{errors}"
    );
    assert!(
        errors.contains("record 4: Failed to convert field FIRST_NAME"),
        "{errors}"
    );
    assert!(errors.contains("record 7: saas.sync_key"), "{errors}");
}

#[tokio::test]
async fn finalize_and_ready_portions() {
    let server = start();
    post(
        &server,
        "/api/v3/bulk",
        &payload(PORTION, UPSERT, json!([user("a@x.com", "A")])),
    )
    .await;
    let path = format!("/api/v3/bulk/{PORTION}/finalize");
    assert_eq!(post(&server, &path, &json!({"x": 1})).await.status, 400);
    let a = post(&server, &path, &json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(server.portion(PORTION).unwrap().finalized);
    assert_eq!(post(&server, &path, &json!({})).await.status, 400);
    let a = post(
        &server,
        "/api/v3/bulk",
        &payload(PORTION, UPSERT, json!([user("b@x.com", "B")])),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.json()["errors"].as_str().unwrap().contains("finalized"));
    assert_eq!(server.user_count(), 1);
    let a = post(
        &server,
        &format!("/api/v3/bulk/{PORTION2}/finalize"),
        &json!({}),
    )
    .await;
    assert_eq!(a.status, 404);

    let failed = json!({
        "correlation_id": PORTION2,
        "failed": 1,
        "error_message": "Dropbox answered 401",
        "test_run": false,
        "error_type": "Fatal Error",
    });
    let empty = json!({"correlation_id": PORTION3, "is_empty_run": true});
    let ready = "/api/v3/bulk/Dropbox%20Users/add_ready_portion";
    assert_eq!(post(&server, ready, &failed).await.status, 200);
    assert_eq!(post(&server, ready, &empty).await.status, 200);
    for bad in [
        json!({"failed": 1, "error_message": "x", "test_run": false}),
        json!({"correlation_id": PORTION2, "failed": 2, "error_message": "x"}),
        json!({"correlation_id": PORTION2, "failed": 1}),
        json!({"correlation_id": PORTION2, "failed": 1, "error_message": "x", "error_type": "Oops"}),
        json!({"correlation_id": PORTION2, "is_empty_run": false}),
        json!({"correlation_id": PORTION2, "is_empty_run": true, "extra": 1}),
        json!({"correlation_id": PORTION2}),
    ] {
        let a = post(&server, ready, &bad).await;
        assert_eq!(a.status, 400, "{bad}");
    }
    let logged = server.ready_portions();
    assert_eq!(
        logged,
        vec![
            json!({"connector": "Dropbox Users", "body": failed}),
            json!({"connector": "Dropbox Users", "body": empty}),
        ]
    );
}

#[tokio::test]
async fn test_runs_are_capped() {
    let server = start();
    let records: Vec<Value> = (0..11).map(|i| user(&format!("u{i}@x.com"), "U")).collect();
    let mut body = payload(PORTION, UPSERT, json!(records[..10]));
    body["test_run"] = json!(true);
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &body).await),
        [10, 0, 0, 0, 0]
    );
    assert!(server.portion(PORTION).unwrap().test_run);
    body["records"] = json!([records[10]]);
    assert_eq!(post(&server, "/api/v3/bulk", &body).await.status, 400);
}

#[tokio::test]
async fn bulk_answers_can_leave_out_the_counts_and_users_can_be_removed() {
    let server = start();
    let body = payload(
        &portion(7),
        UPSERT,
        json!([user("a@x.com", "A"), user("b@x.com", "B")]),
    );
    server.answer_bulk_without_counts(true);
    let a = post(&server, "/api/v3/bulk", &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!({"portion": portion(7)}));
    // Applied and logged all the same.
    assert_eq!(server.user_count(), 2);
    assert_eq!(server.portion(&portion(7)).unwrap().created, 2);
    // Still as strict about what it is sent.
    let mut bad = body.clone();
    bad["extra"] = json!(1);
    assert_eq!(post(&server, "/api/v3/bulk", &bad).await.status, 400);
    server.answer_bulk_without_counts(false);
    let a = post(&server, "/api/v3/bulk", &body).await;
    assert_eq!(counts(&a), [0, 0, 2, 0, 0]);

    // An admin deletes a user in Oomnitza: a later bulk creates it again.
    assert!(server.remove_user("A@X.COM"));
    assert!(!server.remove_user("a@x.com"));
    assert_eq!(server.user_count(), 1);
    assert!(server.user_by("EMAIL", "a@x.com").is_none());
    assert_eq!(
        server.user_by("EMAIL", "b@x.com").unwrap()["FIRST_NAME"],
        "B"
    );
    let a = post(&server, "/api/v3/bulk", &body).await;
    assert_eq!(counts(&a), [1, 0, 1, 0, 0]);
    assert_eq!(server.user_count(), 2);
}

#[tokio::test]
async fn faults_apply_nothing() {
    let server = start();
    let body = payload(PORTION, UPSERT, json!([user("a@x.com", "A")]));
    server.inject(OomnitzaFault::ServerError(503), 1);
    server.inject(OomnitzaFault::RateLimited { retry_after: 3 }, 1);
    server.inject(OomnitzaFault::Unauthorized, 1);
    // An invalid request does not use up a fault.
    assert_eq!(post(&server, "/api/v3/bulk", &json!({})).await.status, 400);
    assert_eq!(server.pending_faults(), 3);

    assert_eq!(post(&server, "/api/v3/bulk", &body).await.status, 503);
    let a = post(&server, "/api/v3/bulk", &body).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.retry_after.as_deref(), Some("3"));
    let a = post(&server, "/api/v3/bulk", &body).await;
    assert_eq!(a.status, 401);
    assert_eq!(server.user_count(), 0);
    assert!(server.portions().is_empty());

    server.inject(OomnitzaFault::Slow(Duration::from_millis(200)), 1);
    let t = Instant::now();
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &body).await),
        [1, 0, 0, 0, 0]
    );
    assert!(t.elapsed() >= Duration::from_millis(200));

    // Finalize is subject to faults too.
    let path = format!("/api/v3/bulk/{PORTION}/finalize");
    server.inject(OomnitzaFault::ServerError(500), 2);
    assert_eq!(post(&server, &path, &json!({})).await.status, 500);
    assert_eq!(post(&server, &path, &json!({})).await.status, 500);
    assert!(!server.portion(PORTION).unwrap().finalized);
    assert_eq!(post(&server, &path, &json!({})).await.status, 200);
    assert!(server.portion(PORTION).unwrap().finalized);
}

#[tokio::test]
async fn request_delay_and_bulk_volume() {
    let mut config = OomnitzaConfig::new(TOKEN);
    config.request_delay = Duration::from_millis(50);
    let server = FakeOomnitza::start(config).unwrap();
    let t = Instant::now();
    for batch in 0..20 {
        let records: Vec<Value> = (0..100)
            .map(|i| user(&format!("u{}@x.com", batch * 100 + i), "U"))
            .collect();
        let a = post(
            &server,
            "/api/v3/bulk",
            &payload(PORTION, UPSERT, json!(records)),
        )
        .await;
        assert_eq!(counts(&a), [100, 0, 0, 0, 0]);
    }
    assert!(t.elapsed() >= Duration::from_millis(1000));
    assert_eq!(server.user_count(), 2000);
    // Re-keyed lookups on another field build their index lazily.
    assert_eq!(
        server.user_by("USER", "u1999@x.com").unwrap()["EMAIL"],
        "u1999@x.com"
    );
    let mut by_user = payload(PORTION2, UPSERT, json!([user("u5@x.com", "Five")]));
    by_user["sync_field"] = json!(["USER"]);
    assert_eq!(
        counts(&post(&server, "/api/v3/bulk", &by_user).await),
        [0, 1, 0, 0, 0]
    );
    assert_eq!(
        server.user_by("EMAIL", "u5@x.com").unwrap()["FIRST_NAME"],
        "Five"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Reading users and SaaS users

/// A fresh portion id per call site.
fn portion(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// `GET path` with the token: status, `x-total-count`, JSON body.
async fn get_list(
    server: &FakeOomnitza,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, Option<usize>, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .query(query)
        .header("Authorization2", TOKEN)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let total = resp
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body: Value = resp.json().await.expect("JSON body");
    (status, total, body)
}

/// The users a filter (or no filter) selects: their emails, in order.
async fn emails(server: &FakeOomnitza, query: &[(&str, &str)]) -> Vec<String> {
    let (status, total, body) = get_list(server, "/api/v3/users", query).await;
    assert_eq!(status, 200, "{query:?}: {body}");
    let list: Vec<String> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap_or_default().to_string())
        .collect();
    if !query.iter().any(|(k, _)| *k == "limit" || *k == "skip") {
        assert_eq!(total, Some(list.len()), "{query:?}");
    }
    list
}

async fn patch(server: &FakeOomnitza, path: &str, body: &Value) -> Answer {
    send(
        server,
        reqwest::Method::PATCH,
        path,
        Some(TOKEN),
        Some("application/json"),
        Some(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn users_in_the_rest_view_with_stable_ids() {
    let server = start();
    let mut tami = user("tami@seagull.com", "Tami");
    tami["LAST_NAME"] = json!("Gull");
    tami["dropbox_user_id"] = json!("dbmid:AAA");
    tami["saas"] = json!({"sync_key": "dbmid:AAA", "selected_saas_id": "s1", "name": "Dropbox"});
    let records = json!([tami, user("bo@seagull.com", "Bo")]);
    counts(
        &post(
            &server,
            "/api/v3/bulk",
            &payload(&portion(1), UPSERT, records),
        )
        .await,
    );

    let (status, total, body) = get_list(&server, "/api/v3/users", &[]).await;
    assert_eq!((status, total), (200, Some(2)));
    let first = &body[0];
    let user_id = first["user_id"].as_str().unwrap().to_string();
    assert_eq!(user_id.len(), 32);
    // Every field of the schema, in order: the standard ones (null when
    // unset), then the custom ones any record holds.
    assert_eq!(
        *first,
        json!({
            "username": "tami@seagull.com",
            "full_name": "Tami Gull",
            "first_name": "Tami",
            "last_name": "Gull",
            "email": "tami@seagull.com",
            "suspended": null,
            "phone_number": null,
            "position": null,
            "role": 25,
            "external_id": null,
            "last_login_date": null,
            "user_id": user_id,
            "dropbox_user_id": "dbmid:AAA",
        })
    );
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(first), keys(&body[1]), "one schema for every user");
    assert_eq!(body[1]["dropbox_user_id"], Value::Null);
    assert_ne!(body[1]["user_id"], first["user_id"]);
    assert_eq!(body[1]["full_name"], "Bo");

    // An update keeps the id; the stored record is unchanged in shape.
    let records = json!([user("tami@seagull.com", "Tamara")]);
    counts(
        &post(
            &server,
            "/api/v3/bulk",
            &payload(&portion(2), UPSERT, records),
        )
        .await,
    );
    let (_, _, body) = get_list(&server, "/api/v3/users", &[]).await;
    assert_eq!(body[0]["user_id"], user_id.as_str());
    assert_eq!(body[0]["first_name"], "Tamara");
    assert_eq!(server.users()[0]["FIRST_NAME"], "Tamara");
    assert!(server.users()[0].get("user_id").is_none());

    // Controls: a REST-view record (its user_id kept) and a bulk one.
    let given = server.insert_user(json!({
        "username": "cy", "email": "cy@seagull.com", "role": 30, "user_id": "u-cy",
        "position": "CTO", "phone_number": "+1 555", "cost_center": "R&D",
    }));
    assert_eq!(given, "u-cy");
    let assigned = server.insert_user(json!({"USER": "di", "EMAIL": "di@seagull.com"}));
    assert_eq!(assigned.len(), 32);
    assert_eq!(
        server.user_by("EMAIL", "cy@seagull.com").unwrap()["PERMISSIONS_ID"],
        30
    );
    assert_eq!(
        server.user_by("EMAIL", "cy@seagull.com").unwrap()["POSITION"],
        "CTO"
    );
    let cy = &get_list(&server, "/api/v3/users", &[("filter", "user_id eq 'u-cy'")])
        .await
        .2[0];
    assert_eq!(cy["phone_number"], "+1 555");
    assert_eq!(cy["cost_center"], "R&D");
    assert_eq!(cy["role"], 30);
    // A later bulk upsert finds inserted users by their sync key.
    let records = json!([user("di@seagull.com", "Di")]);
    let c = counts(
        &post(
            &server,
            "/api/v3/bulk",
            &payload(&portion(3), UPSERT, records),
        )
        .await,
    );
    assert_eq!(c, [0, 1, 0, 0, 0]);

    assert!(server.set_user_field("CY@seagull.com", "role", json!(40)));
    assert!(server.set_user_field("di@seagull.com", "last_login_date", json!("2025-06-01")));
    assert!(!server.set_user_field("nobody@seagull.com", "role", json!(1)));
    let list = get_list(&server, "/api/v3/users", &[("filter", "role eq '40'")])
        .await
        .2;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["email"], "cy@seagull.com");
    assert_eq!(server.user_count(), 4);
    // A field set on one user exists for all (null elsewhere); a field
    // nobody has is absent, even when asked for.
    let (_, _, body) = get_list(
        &server,
        "/api/v3/users",
        &[("fields", "email,cost_center,offboardng_date")],
    )
    .await;
    for u in body.as_array().unwrap() {
        assert!(u.get("cost_center").is_some(), "{u}");
        assert!(u.get("offboardng_date").is_none(), "{u}");
    }
    assert_eq!(body[0]["cost_center"], Value::Null);
}

#[tokio::test]
async fn user_filters_every_operator() {
    let server = start();
    for (email, first, login) in [
        ("ann@x.com", "Ann", Some("2025-01-15T10:00:00Z")),
        ("bob@x.com", "Bob", Some("2025-03-01T00:00:00Z")),
        ("cat@x.com", "Cat", None),
        ("dan@x.com", "O'Dan", Some("2024-12-31T23:59:59Z")),
    ] {
        let mut record = json!({"EMAIL": email, "FIRST_NAME": first, "PERMISSIONS_ID": 25});
        if let Some(login) = login {
            record["last_login_date"] = json!(login);
        }
        server.insert_user(record);
    }
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("email eq 'bob@x.com'", vec!["bob@x.com"]),
        ("email EQ 'BOB@x.com'", vec![]),
        (
            "email ne 'bob@x.com'",
            vec!["ann@x.com", "cat@x.com", "dan@x.com"],
        ),
        ("email lt 'bob@x.com'", vec!["ann@x.com"]),
        ("email le 'bob@x.com'", vec!["ann@x.com", "bob@x.com"]),
        ("email gt 'bob@x.com'", vec!["cat@x.com", "dan@x.com"]),
        ("email ge 'cat@x.com'", vec!["cat@x.com", "dan@x.com"]),
        // ISO timestamps compare as strings; a missing field is ''.
        (
            "last_login_date lt '2025-01-01'",
            vec!["cat@x.com", "dan@x.com"],
        ),
        (
            "last_login_date ge '2025-01-01'",
            vec!["ann@x.com", "bob@x.com"],
        ),
        ("last_login_date eq ''", vec!["cat@x.com"]),
        (
            "email in ('dan@x.com', 'ann@x.com', 'zed@x.com')",
            vec!["ann@x.com", "dan@x.com"],
        ),
        ("first_name in ('O''Dan')", vec!["dan@x.com"]),
        (
            "last_login_date ge '2025-01-01' and email ne 'ann@x.com'",
            vec!["bob@x.com"],
        ),
        (
            "role eq '25' AND first_name gt 'B' And first_name lt 'D'",
            vec!["bob@x.com", "cat@x.com"],
        ),
        ("role ne '25'", vec![]),
        ("", vec!["ann@x.com", "bob@x.com", "cat@x.com", "dan@x.com"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            emails(&server, &[("filter", filter)]).await,
            expected,
            "{filter}"
        );
    }
    assert_eq!(server.user_count(), 4);

    for (filter, needle) in [
        ("email like 'a%'", "unknown operator 'like'"),
        ("email eq bob", "expected a quoted value after 'email eq'"),
        ("email eq 'bob", "unterminated"),
        ("email eq 'a' or email eq 'b'", "'or' is not supported"),
        ("email eq 'a' email eq 'b'", "expected 'and'"),
        ("email in 'a'", "expected '('"),
        ("email eq 'a' and", "expected a condition after 'and'"),
        ("email == 'a'", "unexpected character '='"),
    ] {
        let (status, total, body) = get_list(&server, "/api/v3/users", &[("filter", filter)]).await;
        assert_eq!((status, total), (400, None), "{filter}");
        let msg = body["errors"].as_str().unwrap();
        assert!(
            msg.starts_with("filter: ") && msg.contains(needle),
            "{filter}: {msg}"
        );
    }
}

#[tokio::test]
async fn user_paging_sorting_and_fields() {
    let server = start();
    for i in 0..150 {
        server.insert_user(
            json!({"EMAIL": format!("u{i:03}@x.com"), "USER": format!("u{i:03}"),
                                  "team": if i % 2 == 0 { "even" } else { "odd" }}),
        );
    }
    // Default limit 100, total before paging.
    let (status, total, body) = get_list(&server, "/api/v3/users", &[]).await;
    assert_eq!((status, total), (200, Some(150)));
    assert_eq!(body.as_array().unwrap().len(), 100);
    let page = emails(&server, &[("limit", "10"), ("skip", "145")]).await;
    assert_eq!(
        page,
        [
            "u145@x.com",
            "u146@x.com",
            "u147@x.com",
            "u148@x.com",
            "u149@x.com"
        ]
    );
    let (_, total, body) = get_list(
        &server,
        "/api/v3/users",
        &[("filter", "team eq 'odd'"), ("limit", "3"), ("skip", "1")],
    )
    .await;
    assert_eq!(total, Some(75));
    assert_eq!(body[0]["email"], "u003@x.com");
    let (_, total, body) = get_list(&server, "/api/v3/users", &[("skip", "500")]).await;
    assert_eq!((total, body), (Some(150), json!([])));
    // All of them in one page of the maximum size.
    let (_, _, body) = get_list(&server, "/api/v3/users", &[("limit", "1000")]).await;
    assert_eq!(body.as_array().unwrap().len(), 150);

    let sorted = emails(&server, &[("sortby", "-email"), ("limit", "3")]).await;
    assert_eq!(sorted, ["u149@x.com", "u148@x.com", "u147@x.com"]);
    // Ties keep insertion order.
    let by_team = emails(&server, &[("sortby", "team"), ("limit", "2")]).await;
    assert_eq!(by_team, ["u000@x.com", "u002@x.com"]);
    let by_team = emails(&server, &[("sortby", "-team"), ("limit", "2")]).await;
    assert_eq!(by_team, ["u001@x.com", "u003@x.com"]);

    let (_, _, body) = get_list(
        &server,
        "/api/v3/users",
        &[("fields", "email,user_id,nope"), ("limit", "1")],
    )
    .await;
    let keys: Vec<&String> = body[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{body}");
    assert!(body[0]["user_id"].is_string() && body[0]["email"] == "u000@x.com");

    for query in [
        [("limit", "0")],
        [("limit", "1001")],
        [("limit", "ten")],
        [("skip", "-1")],
        [("sortby", "")],
        [("page", "2")],
    ] {
        let (status, _, body) = get_list(&server, "/api/v3/users", &query).await;
        assert_eq!(status, 400, "{query:?}");
        assert!(
            body["errors"].as_str().unwrap().contains(query[0].0),
            "{body}"
        );
    }
    // The token and the method are checked.
    let a = send(
        &server,
        reqwest::Method::GET,
        "/api/v3/users",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    let a = post(&server, "/api/v3/users", &json!({})).await;
    assert_eq!(a.status, 405);
}

#[tokio::test]
async fn saas_users_follow_bulk_records_and_can_be_deactivated() {
    let server = start();
    let saas = |key: &str, role: Option<&str>| {
        let mut s = json!({"sync_key": key, "selected_saas_id": "saas-dropbox", "name": "Dropbox"});
        if let Some(role) = role {
            s["role"] = json!(role);
        }
        s
    };
    let mut a = user("a@x.com", "A");
    a["saas"] = saas("dbmid:A", Some("Team admin"));
    let mut b = user("b@x.com", "B");
    b["saas"] = saas("dbmid:B", None);
    let c = user("c@x.com", "C");
    counts(
        &post(
            &server,
            "/api/v3/bulk",
            &payload(&portion(1), UPSERT, json!([a, b, c])),
        )
        .await,
    );

    let list = server.saas_users();
    assert_eq!(list.len(), 2);
    let id_a = list[0]["saas_user_id"].as_str().unwrap().to_string();
    let id_b = list[1]["saas_user_id"].as_str().unwrap().to_string();
    assert_ne!(id_a, id_b);
    assert_eq!(
        list[0],
        json!({
            "saas_user_id": id_a,
            "sync_key": "dbmid:A",
            "selected_saas_id": "saas-dropbox",
            "name": "Dropbox",
            "email": "a@x.com",
            "role": "Team admin",
            "status": "active",
            "user_id": list[0]["user_id"],
        })
    );
    assert!(list[1].get("role").is_none());
    // Linked to the user record it came with.
    let owner = get_list(
        &server,
        "/api/v3/users",
        &[("filter", "email eq 'a@x.com'")],
    )
    .await
    .2;
    assert_eq!(owner[0]["user_id"], list[0]["user_id"]);
    let (status, total, body) = get_list(&server, "/api/v3/saas_users", &[]).await;
    assert_eq!((status, total), (200, Some(2)));
    // The stored SaaS users, each with every field of the schema (null
    // when unset).
    for (listed, stored) in body.as_array().unwrap().iter().zip(&list) {
        for (k, v) in stored.as_object().unwrap() {
            assert_eq!(&listed[k], v, "{k}");
        }
        for k in ["last_visit", "contract_id", "roles"] {
            assert_eq!(listed[k], Value::Null, "{k}");
        }
    }
    // A field an admin adds (set on one SaaS user) shows on all.
    assert!(server.set_saas_user_field(&id_a, "to_be_deleted_in_saas", json!("Yes")));
    assert!(!server.set_saas_user_field("nope", "to_be_deleted_in_saas", json!("Yes")));
    let (_, total, body) = get_list(
        &server,
        "/api/v3/saas_users",
        &[("filter", "to_be_deleted_in_saas eq 'Yes'")],
    )
    .await;
    assert_eq!(total, Some(1));
    assert_eq!(body[0]["saas_user_id"], id_a.as_str());
    let (_, _, body) = get_list(&server, "/api/v3/saas_users", &[]).await;
    assert_eq!(body[1]["to_be_deleted_in_saas"], Value::Null);

    let a = patch(
        &server,
        "/api/v3/saas_users/deactivate",
        &json!({"saas_user_ids": [id_a, "nope"]}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!([{"saas_user_id": id_a, "error": null}, {"saas_user_id": "nope", "error": "not found"}])
    );
    let (_, total, body) = get_list(
        &server,
        "/api/v3/saas_users",
        &[("filter", "status eq 'inactive'")],
    )
    .await;
    assert_eq!(total, Some(1));
    assert_eq!(body[0]["saas_user_id"], id_a.as_str());
    let (_, total, _) = get_list(
        &server,
        "/api/v3/saas_users",
        &[("filter", "status eq 'active' and role eq ''")],
    )
    .await;
    assert_eq!(total, Some(1));

    // A later sync of the same account updates it, keeping id and status.
    let mut a2 = user("a2@x.com", "A");
    a2["saas"] = saas("dbmid:A", Some("Member"));
    counts(
        &post(
            &server,
            "/api/v3/bulk",
            &payload(&portion(2), UPSERT, json!([a2])),
        )
        .await,
    );
    let list = server.saas_users();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["saas_user_id"], id_a.as_str());
    assert_eq!(list[0]["status"], "inactive");
    assert_eq!(list[0]["email"], "a2@x.com");
    assert_eq!(list[0]["role"], "Member");

    let a = patch(
        &server,
        "/api/v3/saas_users/activate",
        &json!({"saas_user_ids": [id_a]}),
    )
    .await;
    assert_eq!(a.json(), json!([{"saas_user_id": id_a, "error": null}]));
    assert_eq!(server.saas_users()[0]["status"], "active");

    // Controls.
    let given = server
        .insert_saas_user(json!({"saas_user_id": "s-9", "email": "x@y.z", "status": "inactive"}));
    assert_eq!(given, "s-9");
    let assigned = server.insert_saas_user(json!({"email": "w@y.z", "sync_key": "k"}));
    assert_eq!(server.saas_users()[3]["status"], "active");
    assert_eq!(server.saas_users()[3]["saas_user_id"], assigned.as_str());
    let a = patch(
        &server,
        "/api/v3/saas_users/activate",
        &json!({"saas_user_ids": ["s-9"]}),
    )
    .await;
    assert_eq!(a.json()[0]["error"], Value::Null);
    let (_, total, body) = get_list(
        &server,
        "/api/v3/saas_users",
        &[
            ("filter", "email in ('x@y.z', 'w@y.z')"),
            ("sortby", "-email"),
            ("fields", "email"),
        ],
    )
    .await;
    assert_eq!(
        (total, body),
        (Some(2), json!([{"email": "x@y.z"}, {"email": "w@y.z"}]))
    );

    // Strict bodies, methods and content type.
    for bad in [
        json!({}),
        json!({"saas_user_ids": "x"}),
        json!({"saas_user_ids": [true]}),
        json!({"saas_user_ids": [""]}),
        json!({"saas_user_ids": [], "extra": 1}),
        json!([]),
    ] {
        let a = patch(&server, "/api/v3/saas_users/deactivate", &bad).await;
        assert_eq!(a.status, 400, "{bad}");
        assert!(a.json()["errors"].is_string());
    }
    let a = patch(
        &server,
        "/api/v3/saas_users/deactivate",
        &json!({"saas_user_ids": []}),
    )
    .await;
    assert_eq!(a.json(), json!([]));
    let a = post(
        &server,
        "/api/v3/saas_users/deactivate",
        &json!({"saas_user_ids": []}),
    )
    .await;
    assert_eq!(a.status, 405);
    let a = send(
        &server,
        reqwest::Method::PATCH,
        "/api/v3/saas_users/activate",
        Some(TOKEN),
        Some("text/plain"),
        Some("{}".into()),
    )
    .await;
    assert_eq!(a.status, 415);
    let a = send(
        &server,
        reqwest::Method::PATCH,
        "/api/v3/saas_users/activate",
        None,
        Some("application/json"),
        Some(json!({"saas_user_ids": [id_a]}).to_string()),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(server.saas_users()[0]["status"], "active");
    let (status, _, _) = get_list(&server, "/api/v3/saas_users", &[("filter", "status")]).await;
    assert_eq!(status, 400);
}
