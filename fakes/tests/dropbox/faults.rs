//! Every injectable fault: on listing (status codes, queueing, page delay),
//! a redirect, a huge body, echoed credentials, and on member actions
//! (nothing applied, a garbled answer, the write limit).

use std::time::{Duration, Instant};

use connector_fakes::{DropboxConfig, DropboxFault, FakeDropbox, MemberStatus, Team};
use serde_json::{Value, json};

use crate::support::*;

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
