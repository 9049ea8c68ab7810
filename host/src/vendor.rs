//! The vendor's errors for people, with where the vendor was reached.
//!
//! The component always names the vendor's real origin; the host serves it
//! from `source.url` (a proxy, or a fake). A network failure is about the
//! configured address, so that is what the message names.

use crate::bindings::ConnectorError;
use crate::config::Config;
use crate::integration::describe_error;

/// Where the connector's API origin is served: `source.url`, or the
/// origin itself (`source.origin`, else the first accepted host; which
/// vendor it is, the host does not assume).
pub fn served_at(config: &Config) -> String {
    let sandbox = config.sandbox.allow.as_ref();
    config
        .source
        .url
        .clone()
        .or_else(|| config.source.origin.clone())
        .or_else(|| sandbox.and_then(|a| a.first().cloned()))
        .unwrap_or_else(|| "the vendor's origin".into())
        .trim_end_matches('/')
        .to_string()
}

/// [`describe_error`], and for an unavailable vendor (network, 5xx) where
/// it was asked: `vendor unavailable at http://proxy:8080 (source.url): ...`.
pub fn describe(config: &Config, e: &ConnectorError) -> String {
    match e {
        ConnectorError::Unavailable(m) => {
            format!(
                "vendor unavailable at {} (source.url): {m}",
                served_at(config)
            )
        }
        other => describe_error(other),
    }
}
