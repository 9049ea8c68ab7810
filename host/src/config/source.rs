//! `[source]` (read as `[dropbox]` for one release): the vendor API the
//! connector reads, where it is served, its credential and fetch options.

use serde::Deserialize;

use super::limits::defaults;
use super::secrets::SecretSource;

/// The vendor API: where the component's origin is served and its token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    /// The origin the credential is bound to: the only one that ever
    /// receives it. Default: the first host in the component's manifest
    /// that the operator accepted (`validate` shows which). https only,
    /// except an http origin on a loopback IP named here (tests, fakes).
    #[serde(default)]
    pub origin: Option<String>,
    /// Base URL `origin` is routed to (a proxy, or a fake in tests).
    /// Default: the origin itself. https, or http to a loopback address.
    #[serde(default)]
    pub url: Option<String>,
    /// A long-lived access token, from the environment or a secrets file.
    pub token: Option<SecretSource>,
    /// Or OAuth 2 with a refresh token: the host fetches short-lived
    /// access tokens itself.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Shorthand for `options.include_removed`, kept from before there
    /// were `options`; a connector that declares no such option refuses it.
    #[serde(default)]
    pub include_removed: bool,
    /// Further fetch options, by the names and types the connector's
    /// manifest declares (`describe` lists them); anything else is refused.
    #[serde(default)]
    pub options: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub client_id: String,
    /// Absent for PKCE apps.
    #[serde(default)]
    pub client_secret: Option<SecretSource>,
    pub refresh_token: SecretSource,
    /// Default: `/oauth2/token` at `source.url` (or the credential's origin).
    #[serde(default)]
    pub token_url: Option<String>,
}

fn default_page_size() -> u32 {
    defaults::PAGE_SIZE
}
