//! Bearer credentials the host attaches for a component: a long-lived
//! access token, or short-lived ones fetched with an OAuth 2 refresh token.
//!
//! Refresh follows the usual OAuth 2 token endpoint (Dropbox's among them) (`POST /oauth2/token`,
//! `grant_type=refresh_token`): a token is refreshed a little before it
//! expires, and once more when the vendor answers `expired_access_token`.
//! Concurrent refreshes collapse into one: callers pass the generation of
//! the token they saw fail, and only the first caller for a generation
//! refreshes. `invalid_grant` means the integration must be re-authorized;
//! it is remembered so the run can end with that message.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Secret;

/// Refresh this long before the token's announced expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    #[error(
        "the vendor rejected the refresh token (invalid_grant): re-authorize this integration and store the new refresh token (`oomnitza-connect credentials set`)"
    )]
    ReauthorizeRequired,
    #[error(
        "the OAuth token endpoint refused the client (invalid_client): check source.oauth.client_id and client_secret"
    )]
    InvalidClient,
    #[error("refreshing the access token failed: {0}")]
    Failed(String),
}

/// What the host attaches for one origin.
#[derive(Debug, Clone)]
pub enum Bearer {
    Static(Secret),
    OAuth(Arc<OAuthRefresher>),
}

impl Bearer {
    /// The token to send now, and its generation (for `refresh_after`).
    pub async fn current(&self) -> Result<(Secret, u64), OAuthError> {
        match self {
            Bearer::Static(s) => Ok((s.clone(), 0)),
            Bearer::OAuth(r) => r.current().await,
        }
    }
}

struct TokenState {
    token: Option<Secret>,
    expires_at: Instant,
    generation: u64,
    /// When a 401 last made us refresh (see [`MIN_FORCED_REFRESH_INTERVAL`]).
    forced_at: Option<Instant>,
}

/// The shortest time between two refreshes forced by a 401. An answer that
/// says "expired" cannot make the host hammer the token endpoint (or hand
/// out a new access token per request).
pub const MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

pub struct OAuthRefresher {
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    refresh_token: Secret,
    http: reqwest::Client,
    state: tokio::sync::Mutex<TokenState>,
    fatal: Mutex<Option<OAuthError>>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for OAuthRefresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRefresher")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuthRefresher {
    pub fn new(
        token_url: String,
        client_id: String,
        client_secret: Option<Secret>,
        refresh_token: Secret,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            token_url,
            client_id,
            client_secret,
            refresh_token,
            http,
            state: tokio::sync::Mutex::new(TokenState {
                token: None,
                expires_at: Instant::now(),
                generation: 0,
                forced_at: None,
            }),
            fatal: Mutex::new(None),
            refreshes: Default::default(),
        }
    }

    /// The error that ended refreshing for good, if any.
    pub fn fatal(&self) -> Option<OAuthError> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    /// The generation of the token held now (0 before the first).
    pub async fn generation(&self) -> u64 {
        self.state.lock().await.generation
    }

    /// How many times a new access token was fetched.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A valid token, refreshed first if it is missing or about to expire.
    pub async fn current(&self) -> Result<(Secret, u64), OAuthError> {
        let mut state = self.state.lock().await;
        match &state.token {
            Some(t) if Instant::now() + REFRESH_MARGIN < state.expires_at => {
                Ok((t.clone(), state.generation))
            }
            _ => self.refresh_locked(&mut state).await,
        }
    }

    /// Called after the vendor said token `generation` expired: refreshes
    /// unless another caller already did. `None` when a forced refresh
    /// happened less than [`MIN_FORCED_REFRESH_INTERVAL`] ago: the caller
    /// passes the 401 on instead of retrying.
    pub async fn refresh_after(
        &self,
        generation: u64,
    ) -> Result<Option<(Secret, u64)>, OAuthError> {
        let mut state = self.state.lock().await;
        match &state.token {
            Some(t) if state.generation != generation => Ok(Some((t.clone(), state.generation))),
            _ if state
                .forced_at
                .is_some_and(|at| at.elapsed() < MIN_FORCED_REFRESH_INTERVAL) =>
            {
                tracing::warn!(
                    "the vendor said the access token expired again within {} s of a refresh; not refreshing",
                    MIN_FORCED_REFRESH_INTERVAL.as_secs()
                );
                Ok(None)
            }
            _ => {
                state.forced_at = Some(Instant::now());
                self.refresh_locked(&mut state).await.map(Some)
            }
        }
    }

    async fn refresh_locked(&self, state: &mut TokenState) -> Result<(Secret, u64), OAuthError> {
        if let Some(e) = self.fatal() {
            return Err(e);
        }
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.expose()),
            ("client_id", self.client_id.as_str()),
        ];
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose()));
        }
        let body = zeroize::Zeroizing::new(form_encode(&form));
        let resp = self
            .http
            .post(&self.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .send()
            .await
            .map_err(|e| OAuthError::Failed(format!("POST {}: {e}", self.token_url)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| OAuthError::Failed(format!("reading the token answer: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !status.is_success() {
            let err = match json["error"].as_str() {
                Some("invalid_grant") => OAuthError::ReauthorizeRequired,
                Some("invalid_client") => OAuthError::InvalidClient,
                Some(other) => {
                    OAuthError::Failed(format!("token endpoint answered {status}: {other}"))
                }
                None => OAuthError::Failed(format!("token endpoint answered {status}")),
            };
            if matches!(
                err,
                OAuthError::ReauthorizeRequired | OAuthError::InvalidClient
            ) && let Ok(mut f) = self.fatal.lock()
            {
                *f = Some(err.clone());
            }
            return Err(err);
        }
        let token = json["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::Failed("the token answer has no access_token".into()))?;
        let expires_in = json["expires_in"].as_u64().unwrap_or(14_400);
        state.token = Some(Secret::new(token.to_string()));
        state.expires_at = Instant::now() + Duration::from_secs(expires_in);
        state.generation += 1;
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!("refreshed the access token (expires in {expires_in} s)");
        Ok((Secret::new(token.to_string()), state.generation))
    }
}

/// `application/x-www-form-urlencoded`.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(form_encode(&[("a b", "x&y=z/é")]), "a+b=x%26y%3Dz%2F%C3%A9");
    }
}
