//! The OAuth 2 token endpoint (`POST /oauth2/token`, refresh-token grant):
//! checking the request and issuing short-lived access tokens on the fake's
//! clock. Which tokens are valid is [`Shared::authorized`]'s.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;

use crate::form;
use crate::json::b64_encode;
use crate::server::{has_content_type, header_str, json_value, lock};

use super::server::{IssuedToken, Shared};

impl Shared {
    /// `POST /oauth2/token` with the refresh-token grant.
    pub(super) async fn token_endpoint(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&self.token_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if method != Method::POST {
            return oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                &format!("expected POST, got {method}"),
            );
        }
        match self.refresh(headers, body) {
            Ok((token, expires_in)) => json_value(
                StatusCode::OK,
                &serde_json::json!({
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": expires_in,
                }),
            ),
            Err((error, description)) => oauth_error(StatusCode::BAD_REQUEST, error, &description),
        }
    }

    /// Checks a refresh request; the new access token and its lifetime, or
    /// the OAuth error code and description.
    fn refresh(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(String, u32), (&'static str, String)> {
        let invalid_request = |msg: String| ("invalid_request", msg);
        if !has_content_type(headers, "application/x-www-form-urlencoded") {
            let got = header_str(headers, "content-type").unwrap_or_default();
            return Err(invalid_request(format!(
                "Content-Type must be application/x-www-form-urlencoded, got \"{got}\""
            )));
        }
        let pairs = form::parse(body).map_err(invalid_request)?;
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in &pairs {
            if fields.insert(name, value).is_some() {
                return Err(invalid_request(format!(
                    "parameter \"{name}\" is given more than once"
                )));
            }
        }
        let required = |name: &str| {
            fields
                .get(name)
                .copied()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid_request(format!("missing required parameter \"{name}\"")))
        };
        let grant_type = required("grant_type")?;
        if grant_type != "refresh_token" {
            return Err(invalid_request(format!(
                "unsupported grant_type \"{grant_type}\"; expected \"refresh_token\""
            )));
        }
        let refresh_token = required("refresh_token")?;
        let client_id = required("client_id")?;
        let secret = fields.get("client_secret").copied();

        let mut oauth = lock(&self.oauth);
        let invalid_client = |msg: &str| ("invalid_client", msg.to_string());
        let Some(app) = oauth.app.as_ref().filter(|a| a.client_id == client_id) else {
            return Err(invalid_client("unknown client_id"));
        };
        match (&app.client_secret, secret) {
            (Some(_), None) => return Err(invalid_client("missing client_secret")),
            (Some(expected), Some(got)) if expected != got => {
                return Err(invalid_client("invalid client_secret"));
            }
            (None, Some(_)) => {
                return Err(invalid_client(
                    "this app has no client_secret (PKCE); none may be sent",
                ));
            }
            _ => {}
        }
        if oauth.revoked || app.refresh_token != refresh_token {
            return Err((
                "invalid_grant",
                "refresh token is invalid or revoked".to_string(),
            ));
        }
        let expires_in = app.expires_in;
        let token = self.new_access_token(oauth.issued.len() as u64);
        oauth.issued.push(IssuedToken {
            token: token.clone(),
            expires_at: self.now() + Duration::from_secs(u64::from(expires_in)),
        });
        Ok((token, expires_in))
    }

    /// `sl.` and 32 unpredictable base64url characters.
    fn new_access_token(&self, serial: u64) -> String {
        let mut bytes = [0u8; 24];
        for (k, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = self.token_key.hash_one((serial, k, self.nonce));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        format!("sl.{}", b64_encode(&bytes))
    }
}

/// An OAuth 2 error body (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_value(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
    )
}
