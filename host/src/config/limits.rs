//! `[limits]`: what one component call, one request and one run may use.
//!
//! [`defaults`] is the one place the default limits are spelled: the
//! config's defaults, the sandbox's own (`sandbox::Limits::default`,
//! `OutboundPolicy::new`, the sender's fallbacks) and the page and batch
//! sizes all read it, so a default changes in one line.

use anyhow::{Result, bail};
use serde::Deserialize;

/// Every default limit and size, and the ranges the config accepts.
pub mod defaults {
    /// Wall-clock deadline of one component call (`limits.call_timeout_secs`).
    pub const CALL_TIMEOUT_SECS: u64 = 60;
    /// Linear memory of one instance (`limits.max_memory_mib`).
    pub const MAX_MEMORY_MIB: usize = 128;
    /// Connecting (DNS, TCP, TLS) to a host (`limits.connect_timeout_secs`).
    pub const CONNECT_TIMEOUT_SECS: u64 = 10;
    /// Waiting for a response's first byte (`limits.first_byte_timeout_secs`).
    pub const FIRST_BYTE_TIMEOUT_SECS: u64 = 60;
    /// Silence between two chunks of a body (`limits.between_bytes_timeout_secs`).
    pub const BETWEEN_BYTES_TIMEOUT_SECS: u64 = 30;
    /// Retries of a rate-limited or unavailable call (`limits.max_retries`).
    pub const MAX_RETRIES: u32 = 5;
    /// One response body (`limits.max_response_mib`).
    pub const MAX_RESPONSE_MIB: u64 = 64;
    /// One request body the component sends (`limits.max_request_body_kib`).
    pub const MAX_REQUEST_BODY_KIB: u64 = 1024;
    /// Requests in one call, refused ones included (`limits.max_requests_per_call`).
    pub const MAX_REQUESTS_PER_CALL: u32 = 100;
    /// Requests in flight at once (`limits.max_concurrent_requests`).
    pub const MAX_CONCURRENT_REQUESTS: u32 = 8;
    /// Host-side resources one instance may hold (`limits.max_host_resources`).
    pub const MAX_HOST_RESOURCES: u32 = 256;
    /// One set of headers the component builds (`limits.max_header_kib`).
    pub const MAX_HEADER_KIB: u32 = 16;
    /// Requests the sandbox may refuse in a run (`limits.max_refused_requests`).
    pub const MAX_REFUSED_REQUESTS: u32 = 0;

    /// Records the connector is asked for per page (`source.page_size`).
    pub const PAGE_SIZE: u32 = 1000;
    /// The largest `source.page_size`.
    pub const MAX_PAGE_SIZE: u32 = 1000;
    /// Records per Oomnitza bulk request (`oomnitza.batch_size`).
    pub const BATCH_SIZE: usize = 100;
    /// The largest `oomnitza.batch_size`.
    pub const MAX_BATCH_SIZE: usize = 1000;
    /// Bulk requests in flight at once (`oomnitza.concurrency`): enough to
    /// hide ~50 ms per bulk request behind the vendor's page time (ten
    /// batches a page); a 429 from Oomnitza still slows every sender.
    pub const OOMNITZA_CONCURRENCY: usize = 16;
    /// The largest `oomnitza.concurrency`.
    pub const MAX_OOMNITZA_CONCURRENCY: usize = 64;
    /// Records read per Oomnitza list request (people, SaaS users).
    pub const OOMNITZA_READ_PAGE: u32 = 1000;
    /// SaaS users deactivated or reactivated per Oomnitza request.
    pub const SAAS_UPDATE_CHUNK: usize = 100;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "LimitsConfig::default_call")]
    pub call_timeout_secs: u64,
    #[serde(default = "LimitsConfig::default_memory")]
    pub max_memory_mib: usize,
    #[serde(default = "LimitsConfig::default_connect")]
    pub connect_timeout_secs: u64,
    #[serde(default = "LimitsConfig::default_first_byte")]
    pub first_byte_timeout_secs: u64,
    #[serde(default = "LimitsConfig::default_between")]
    pub between_bytes_timeout_secs: u64,
    /// Retries of a rate-limited or unavailable vendor call before the run fails.
    #[serde(default = "LimitsConfig::default_retries")]
    pub max_retries: u32,
    #[serde(default = "LimitsConfig::default_response")]
    pub max_response_mib: u64,
    #[serde(default = "LimitsConfig::default_request_body")]
    pub max_request_body_kib: u64,
    #[serde(default = "LimitsConfig::default_requests_per_call")]
    pub max_requests_per_call: u32,
    #[serde(default = "LimitsConfig::default_concurrent")]
    pub max_concurrent_requests: u32,
    /// Host-side resources (header sets, requests, responses, bodies,
    /// streams, pollables) one instance may hold at once.
    #[serde(default = "LimitsConfig::default_host_resources")]
    pub max_host_resources: u32,
    /// Size of one set of headers the component builds.
    #[serde(default = "LimitsConfig::default_header")]
    pub max_header_kib: u32,
    /// Requests the sandbox may refuse in one run before the run fails.
    #[serde(default)]
    pub max_refused_requests: u32,
}

impl LimitsConfig {
    fn default_call() -> u64 {
        defaults::CALL_TIMEOUT_SECS
    }
    fn default_memory() -> usize {
        defaults::MAX_MEMORY_MIB
    }
    fn default_connect() -> u64 {
        defaults::CONNECT_TIMEOUT_SECS
    }
    fn default_first_byte() -> u64 {
        defaults::FIRST_BYTE_TIMEOUT_SECS
    }
    fn default_between() -> u64 {
        defaults::BETWEEN_BYTES_TIMEOUT_SECS
    }
    fn default_retries() -> u32 {
        defaults::MAX_RETRIES
    }
    fn default_response() -> u64 {
        defaults::MAX_RESPONSE_MIB
    }
    fn default_request_body() -> u64 {
        defaults::MAX_REQUEST_BODY_KIB
    }
    fn default_requests_per_call() -> u32 {
        defaults::MAX_REQUESTS_PER_CALL
    }
    fn default_concurrent() -> u32 {
        defaults::MAX_CONCURRENT_REQUESTS
    }
    fn default_host_resources() -> u32 {
        defaults::MAX_HOST_RESOURCES
    }
    fn default_header() -> u32 {
        defaults::MAX_HEADER_KIB
    }
    /// Each limit with its accepted range: a value outside it is an error
    /// naming the key (a huge timeout would overflow a deadline; a huge
    /// memory cap would wrap when turned into bytes).
    pub(super) fn check(&self) -> Result<()> {
        let checks: [(&str, u64, std::ops::RangeInclusive<u64>); 13] = [
            ("call_timeout_secs", self.call_timeout_secs, 1..=3600),
            ("max_memory_mib", self.max_memory_mib as u64, 1..=4096),
            ("connect_timeout_secs", self.connect_timeout_secs, 1..=300),
            (
                "first_byte_timeout_secs",
                self.first_byte_timeout_secs,
                1..=3600,
            ),
            (
                "between_bytes_timeout_secs",
                self.between_bytes_timeout_secs,
                1..=3600,
            ),
            ("max_retries", u64::from(self.max_retries), 0..=20),
            ("max_response_mib", self.max_response_mib, 1..=1024),
            (
                "max_request_body_kib",
                self.max_request_body_kib,
                1..=65_536,
            ),
            (
                "max_requests_per_call",
                u64::from(self.max_requests_per_call),
                1..=100_000,
            ),
            (
                "max_concurrent_requests",
                u64::from(self.max_concurrent_requests),
                1..=64,
            ),
            (
                "max_host_resources",
                u64::from(self.max_host_resources),
                16..=65_536,
            ),
            ("max_header_kib", u64::from(self.max_header_kib), 1..=128),
            (
                "max_refused_requests",
                u64::from(self.max_refused_requests),
                0..=100_000,
            ),
        ];
        for (key, v, range) in checks {
            if !range.contains(&v) {
                bail!(
                    "limits.{key} = {v}: must be between {} and {}",
                    range.start(),
                    range.end()
                );
            }
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            call_timeout_secs: Self::default_call(),
            max_memory_mib: Self::default_memory(),
            connect_timeout_secs: Self::default_connect(),
            first_byte_timeout_secs: Self::default_first_byte(),
            between_bytes_timeout_secs: Self::default_between(),
            max_retries: Self::default_retries(),
            max_response_mib: Self::default_response(),
            max_request_body_kib: Self::default_request_body(),
            max_requests_per_call: Self::default_requests_per_call(),
            max_concurrent_requests: Self::default_concurrent(),
            max_host_resources: Self::default_host_resources(),
            max_header_kib: Self::default_header(),
            max_refused_requests: defaults::MAX_REFUSED_REQUESTS,
        }
    }
}
