//! `[oomnitza]` and `[saas]`: where records go, how they are batched, and
//! which SaaS app the accounts belong to in "User plus SaaS user" mode.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::limits::defaults;
use super::secrets::SecretSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OomnitzaConfig {
    /// `https://<subdomain>.oomnitza.com`
    pub url: String,
    pub token: Option<SecretSource>,
    /// Records per `/api/v3/bulk` request.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Bulk requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The Oomnitza role (`PERMISSIONS_ID`) synced users get. The operator
    /// chooses it: a connector's smart mapping never does. Give it here or
    /// as a `PERMISSIONS_ID` rule in `[mapping]`, not both.
    #[serde(default)]
    pub role: Option<i64>,
}

fn default_batch_size() -> usize {
    defaults::BATCH_SIZE
}
fn default_concurrency() -> usize {
    defaults::OOMNITZA_CONCURRENCY
}

/// For "User plus SaaS user": which Oomnitza SaaS app the accounts belong to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaasConfig {
    pub saas_id: String,
    /// The app's name on SaaS records; default: the integration's name
    /// (`integration.name`), see [`SaasConfig::app_name`].
    #[serde(default)]
    pub name: Option<String>,
    /// After a complete, successful sync, deactivate the SaaS users Oomnitza
    /// holds for this app that the vendor no longer lists (the seed's
    /// "Deactivate User" option).
    #[serde(default)]
    pub deactivate_missing: bool,
    /// The most SaaS users one run may deactivate: a count (`25`) or a
    /// share of the app's active SaaS users (`"10%"`, the default; at
    /// least 1). A run that would deactivate more deactivates nobody and
    /// fails until `sync --allow-mass-deactivation` confirms it once.
    #[serde(default)]
    pub max_deactivations: Option<MaxDeactivations>,
}

/// `saas.max_deactivations`: a count, or a percentage written `"N%"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum MaxDeactivations {
    Count(u64),
    Text(String),
}

impl MaxDeactivations {
    /// The default: 10% of the app's active SaaS users.
    pub const DEFAULT_PERCENT: u64 = 10;

    /// The percentage in `"N%"`, if that is what it is.
    fn percent(text: &str) -> Option<u64> {
        text.trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<u64>().ok())
            .filter(|n| *n <= 100)
    }

    pub(super) fn check(&self) -> Result<()> {
        match self {
            MaxDeactivations::Count(_) => Ok(()),
            MaxDeactivations::Text(t) if Self::percent(t).is_some() => Ok(()),
            MaxDeactivations::Text(t) => bail!(
                "saas.max_deactivations = {t:?}: expected a count (e.g. 25) or a percentage of the app's SaaS users (e.g. \"10%\")"
            ),
        }
    }

    /// The limit for an app with `active` SaaS users: a count as given; a
    /// percentage rounded down, but at least 1.
    pub fn limit(setting: Option<&MaxDeactivations>, active: u64) -> u64 {
        let percent = match setting {
            Some(MaxDeactivations::Count(n)) => return *n,
            Some(MaxDeactivations::Text(t)) => Self::percent(t).unwrap_or(Self::DEFAULT_PERCENT),
            None => Self::DEFAULT_PERCENT,
        };
        (active.saturating_mul(percent) / 100).max(1)
    }

    /// How the setting reads in messages.
    pub fn describe(setting: Option<&MaxDeactivations>) -> String {
        match setting {
            Some(MaxDeactivations::Count(n)) => n.to_string(),
            Some(MaxDeactivations::Text(t)) => format!("{:?}", t.trim()),
            None => format!("the default, {}%", Self::DEFAULT_PERCENT),
        }
    }
}

impl SaasConfig {
    /// The app's name on SaaS records: `saas.name`, else the operator's
    /// `integration.name`. Never the component's own display name: what
    /// reaches Oomnitza is the operator's word, not the connector's.
    pub fn app_name<'a>(&'a self, integration_name: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(integration_name)
    }
}
