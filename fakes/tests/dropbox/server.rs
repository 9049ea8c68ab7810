//! The server's lifetime: shutting down, dropping, and serving without a
//! runtime of the caller's.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

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
