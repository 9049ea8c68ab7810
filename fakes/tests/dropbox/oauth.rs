//! OAuth 2 refresh: the token endpoint, token lifetimes and its errors.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use connector_fakes::{FakeDropbox, OAuthApp};

use crate::support::*;

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
