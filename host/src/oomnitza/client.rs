//! HTTP client for the Oomnitza API: auth check, bulk upsert, finalize and
//! ready-portion reports, with retries of 429 and 5xx answers.
//!
//! The API token travels in the `Authorization2` header, marked sensitive;
//! errors name the route and status, never the token.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{BulkRequest, BulkResponse, ReadyPortion};
use crate::credentials::Secret;

#[derive(Debug, thiserror::Error)]
pub enum OomnitzaError {
    #[error(
        "Oomnitza rejected the API token (401 on {route}): check the oomnitza.token credential"
    )]
    Unauthorized { route: String },
    #[error("Oomnitza answered {status} on {route}: {body}")]
    Status {
        route: String,
        status: u16,
        body: String,
    },
    #[error("cannot reach Oomnitza at {route}: {message}")]
    Transport { route: String, message: String },
    #[error("Oomnitza sent an unreadable answer on {route}: {message}")]
    Decode { route: String, message: String },
}

impl OomnitzaError {
    /// The kind of failure, for outage reports: the status, or `network`.
    pub fn kind(&self) -> String {
        match self {
            OomnitzaError::Status { status, .. } => status.to_string(),
            OomnitzaError::Unauthorized { .. } => "401".into(),
            OomnitzaError::Transport { .. } => "network".into(),
            OomnitzaError::Decode { .. } => "unreadable answer".into(),
        }
    }

    /// Whether another attempt may succeed.
    fn retryable(&self) -> bool {
        match self {
            OomnitzaError::Status { status, .. } => *status == 429 || *status >= 500,
            OomnitzaError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// The query of a list route: all optional but the page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    /// `field op 'value' and ...`.
    pub filter: Option<&'a str>,
    /// Only these fields per record (empty: all).
    pub fields: &'a [String],
    /// A field to sort by, for stable paging.
    pub sortby: Option<&'a str>,
    pub limit: u32,
    pub skip: u64,
}

#[derive(Clone)]
pub struct OomnitzaClient {
    http: reqwest::Client,
    base: String,
    max_attempts: u32,
    /// Retries made, for the run summary.
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl OomnitzaClient {
    pub fn new(base_url: &str, token: &Secret, max_attempts: u32) -> Result<Self, OomnitzaError> {
        let mut headers = HeaderMap::new();
        let mut auth =
            HeaderValue::from_str(token.expose()).map_err(|_| OomnitzaError::Transport {
                route: base_url.into(),
                message: "the Oomnitza token is not a valid header value".into(),
            })?;
        auth.set_sensitive(true);
        headers.insert("Authorization2", auth);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oomnitza-connect/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OomnitzaError::Transport {
                route: base_url.into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            max_attempts: max_attempts.max(1),
            retries: Default::default(),
        })
    }

    /// Retries made so far by this client (and its clones).
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `GET /api/v2/mappings?name=AuthTest`: is the token good?
    pub async fn check_auth(&self) -> Result<(), OomnitzaError> {
        self.call::<(), serde_json::Value>(Method::GET, "/api/v2/mappings?name=AuthTest", None)
            .await
            .map(|_| ())
    }

    /// `GET /api/v3/users` with a filter: one page of users and the total
    /// count (`x-total-count`).
    pub async fn list_users(
        &self,
        filter: &str,
        limit: u32,
        skip: u64,
    ) -> Result<(Vec<serde_json::Value>, u64), OomnitzaError> {
        self.list("/api/v3/users", filter, limit, skip).await
    }

    /// `GET /api/v3/saas_users` with a filter.
    pub async fn list_saas_users(
        &self,
        filter: &str,
        limit: u32,
        skip: u64,
    ) -> Result<(Vec<serde_json::Value>, u64), OomnitzaError> {
        self.list("/api/v3/saas_users", filter, limit, skip).await
    }

    /// `PATCH /api/v3/saas_users/deactivate`; returns the ids that failed,
    /// each with its error.
    pub async fn deactivate_saas_users(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, OomnitzaError> {
        self.saas_user_status("/api/v3/saas_users/deactivate", ids)
            .await
    }

    /// `PATCH /api/v3/saas_users/activate`; returns the ids that failed,
    /// each with its error.
    pub async fn activate_saas_users(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, OomnitzaError> {
        self.saas_user_status("/api/v3/saas_users/activate", ids)
            .await
    }

    /// The answer is `[{"saas_user_id", "error"}]`, one per id; an id it
    /// does not answer for failed ("no answer"), and an answer of another
    /// shape is an error: nothing counts as done unless Oomnitza says so.
    async fn saas_user_status(
        &self,
        path: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, OomnitzaError> {
        let answer: serde_json::Value = self
            .call(
                Method::PATCH,
                path,
                Some(&serde_json::json!({ "saas_user_ids": ids })),
            )
            .await?;
        saas_user_failures(&answer, ids).map_err(|message| OomnitzaError::Decode {
            route: format!("PATCH {path}"),
            message,
        })
    }

    async fn list(
        &self,
        path: &str,
        filter: &str,
        limit: u32,
        skip: u64,
    ) -> Result<(Vec<serde_json::Value>, u64), OomnitzaError> {
        self.list_page(
            path,
            &ListQuery {
                filter: Some(filter),
                limit,
                skip,
                ..Default::default()
            },
        )
        .await
    }

    /// One page of a list route (`GET /api/v3/users`,
    /// `GET /api/v3/saas_users`): the records and how many matched in all
    /// (`x-total-count`). 429, 5xx and network errors are retried.
    pub async fn list_page(
        &self,
        path: &str,
        q: &ListQuery<'_>,
    ) -> Result<(Vec<serde_json::Value>, u64), OomnitzaError> {
        let mut query = format!("{path}?limit={}&skip={}", q.limit, q.skip);
        if let Some(f) = q.filter.filter(|f| !f.is_empty()) {
            query.push_str(&format!("&filter={}", url_segment(f)));
        }
        if !q.fields.is_empty() {
            query.push_str(&format!("&fields={}", url_segment(&q.fields.join(","))));
        }
        if let Some(s) = q.sortby {
            query.push_str(&format!("&sortby={}", url_segment(s)));
        }
        let route = format!("GET {path}");
        let mut retry = crate::retry::Retry::new(self.max_attempts - 1);
        loop {
            let (result, retry_after) = self.list_once(&query, &route, q.skip).await;
            match result {
                Err(e) if e.retryable() => match retry.next(retry_after) {
                    Some(wait) => {
                        self.retries
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::outage::global().failed(&route, &e.kind(), &e.to_string(), wait);
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                },
                Ok(v) => {
                    crate::outage::global().succeeded(&route);
                    return Ok(v);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn list_once(
        &self,
        query: &str,
        route: &str,
        skip: u64,
    ) -> (
        Result<(Vec<serde_json::Value>, u64), OomnitzaError>,
        Option<Duration>,
    ) {
        let transport = |e: reqwest::Error| OomnitzaError::Transport {
            route: route.to_string(),
            message: e.to_string(),
        };
        let resp = match self.http.get(format!("{}{query}", self.base)).send().await {
            Ok(r) => r,
            Err(e) => return (Err(transport(e)), None),
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let total = header("x-total-count");
        let retry_after = header("retry-after").map(Duration::from_secs);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(transport(e)), None),
        };
        if status == StatusCode::UNAUTHORIZED {
            let route = route.to_string();
            return (Err(OomnitzaError::Unauthorized { route }), None);
        }
        if !status.is_success() {
            return (
                Err(OomnitzaError::Status {
                    route: route.to_string(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                }),
                retry_after,
            );
        }
        let rows: Vec<serde_json::Value> = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return (
                    Err(OomnitzaError::Decode {
                        route: route.to_string(),
                        message: e.to_string(),
                    }),
                    None,
                );
            }
        };
        let total = total.unwrap_or(skip + rows.len() as u64);
        (Ok((rows, total)), None)
    }

    pub async fn bulk(&self, req: &BulkRequest<'_>) -> Result<BulkResponse, OomnitzaError> {
        self.call(Method::POST, "/api/v3/bulk", Some(req)).await
    }

    /// A bulk request already serialized (the sync's hot path: the same
    /// bytes the outbox holds).
    pub async fn bulk_body(&self, body: Vec<u8>) -> Result<BulkResponse, OomnitzaError> {
        self.call_bytes(Method::POST, "/api/v3/bulk", Some(body))
            .await
    }

    pub async fn finalize(&self, portion: &str) -> Result<(), OomnitzaError> {
        let path = format!("/api/v3/bulk/{portion}/finalize");
        self.call::<_, serde_json::Value>(Method::POST, &path, Some(&serde_json::json!({})))
            .await
            .map(|_| ())
    }

    pub async fn add_ready_portion(
        &self,
        connector: &str,
        body: &ReadyPortion<'_>,
    ) -> Result<(), OomnitzaError> {
        let path = format!("/api/v3/bulk/{}/add_ready_portion", url_segment(connector));
        self.call::<_, serde_json::Value>(Method::POST, &path, Some(body))
            .await
            .map(|_| ())
    }

    /// One call with retries: 429 waits what `Retry-After` says; 5xx and
    /// transport errors back off exponentially with jitter.
    async fn call<B: Serialize + ?Sized, R: DeserializeOwned + Default>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, OomnitzaError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| OomnitzaError::Decode {
                route: format!("{method} {path}"),
                message: e.to_string(),
            })?;
        self.call_bytes(method, path, body).await
    }

    /// [`Self::call`] with the body already serialized.
    async fn call_bytes<R: DeserializeOwned + Default>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<R, OomnitzaError> {
        // Shared, not copied, by every attempt.
        let body = body.map(bytes::Bytes::from);
        let route = format!("{method} {path}");
        let mut retry = crate::retry::Retry::new(self.max_attempts - 1);
        loop {
            let (result, retry_after) = self.once(&method, path, &route, body.as_ref()).await;
            match result {
                Err(e) if e.retryable() => match retry.next(retry_after) {
                    Some(wait) => {
                        self.retries
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        crate::outage::global().failed(&route, &e.kind(), &e.to_string(), wait);
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                },
                Ok(v) => {
                    crate::outage::global().succeeded(&route);
                    return Ok(v);
                }
                other => return other,
            }
        }
    }

    async fn once<R: DeserializeOwned + Default>(
        &self,
        method: &Method,
        path: &str,
        route: &str,
        body: Option<&bytes::Bytes>,
    ) -> (Result<R, OomnitzaError>, Option<Duration>) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.body(b.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return (
                    Err(OomnitzaError::Transport {
                        route: route.into(),
                        // reqwest's Display includes the URL, never headers.
                        message: e.to_string(),
                    }),
                    None,
                );
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(OomnitzaError::Transport {
                        route: route.into(),
                        message: e.to_string(),
                    }),
                    None,
                );
            }
        };
        if status == StatusCode::UNAUTHORIZED {
            return (
                Err(OomnitzaError::Unauthorized {
                    route: route.into(),
                }),
                None,
            );
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let body: String = text.chars().take(500).collect();
            return (
                Err(OomnitzaError::Status {
                    route: route.into(),
                    status: status.as_u16(),
                    body,
                }),
                retry_after,
            );
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return (Ok(R::default()), None);
        }
        let parsed = serde_json::from_slice(&bytes).map_err(|e| OomnitzaError::Decode {
            route: route.into(),
            message: e.to_string(),
        });
        (parsed, None)
    }
}

/// The ids of `asked` that `answer` does not report done, with why.
fn saas_user_failures(
    answer: &serde_json::Value,
    asked: &[String],
) -> Result<Vec<(String, String)>, String> {
    let rows = answer
        .as_array()
        .ok_or("expected a list of {saas_user_id, error}")?;
    let mut done = std::collections::HashSet::new();
    let mut failed = std::collections::HashMap::new();
    for row in rows {
        let id = match &row["saas_user_id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err("an entry has no saas_user_id".into()),
        };
        match &row["error"] {
            serde_json::Value::Null => {
                done.insert(id);
            }
            e => {
                let why = e.as_str().map_or_else(|| e.to_string(), str::to_string);
                failed.insert(id, why);
            }
        }
    }
    Ok(asked
        .iter()
        .filter(|id| !done.contains(*id))
        .map(|id| {
            let why = failed
                .get(id)
                .cloned()
                .unwrap_or_else(|| "no answer".into());
            (id.clone(), why)
        })
        .collect())
}

/// Percent-encodes a path segment (connector names have spaces).
fn url_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_names_are_path_safe() {
        assert_eq!(url_segment("Dropbox Users"), "Dropbox%20Users");
    }

    #[test]
    fn saas_user_answers_are_read_strictly() {
        let asked: Vec<String> = ["a", "b", "7", "d"].map(String::from).to_vec();
        let answer = serde_json::json!([
            {"saas_user_id": "a", "error": null},
            {"saas_user_id": "b", "error": "not found"},
            {"saas_user_id": 7, "error": null},
        ]);
        assert_eq!(
            saas_user_failures(&answer, &asked).unwrap(),
            vec![
                ("b".to_string(), "not found".to_string()),
                ("d".to_string(), "no answer".to_string())
            ]
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!([{"error": null}]),
        ] {
            assert!(saas_user_failures(&bad, &asked).is_err(), "{bad}");
        }
    }
}
