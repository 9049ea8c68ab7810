//! The vendor's errors for people, with where the vendor was reached.
//!
//! The component always names the vendor's real origin; the host serves it
//! from `source.url` (a proxy, or a fake). A network failure is about the
//! configured address, so that is what the message names.

use crate::bindings::ConnectorError;
use crate::integration::{Integration, describe_error};

/// Where the connector's API origin is served: `source.url`, else the
/// origin the credential is bound to (`source.origin`), else the first
/// host the component declares.
pub fn served_at(integration: &Integration) -> String {
    let source = &integration.config.source;
    source
        .url
        .clone()
        .or_else(|| source.origin.clone())
        .or_else(|| integration.manifest.hosts.first().map(|h| h.origin.clone()))
        .unwrap_or_else(|| "the connector's origin".into())
        .trim_end_matches('/')
        .to_string()
}

/// [`describe_error`], and for an unavailable vendor (network, 5xx) where
/// it was asked: `vendor unavailable at http://proxy:8080 (source.url): ...`.
pub fn describe(integration: &Integration, e: &ConnectorError) -> String {
    match e {
        ConnectorError::Unavailable(m) => {
            format!(
                "vendor unavailable at {} (source.url): {m}",
                served_at(integration)
            )
        }
        other => describe_error(other),
    }
}
