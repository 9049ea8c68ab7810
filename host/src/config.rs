//! The operator's configuration file (TOML): one integration, its
//! credentials, sandbox, limits and mapping.
//!
//! Parsing is strict (unknown keys are errors that name the key) so a typo
//! never silently turns a setting off. See the README's config reference.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::bindings::{
    Condition, Filter, FilterEffect, MappingRule, MappingSpec, RuleSource, SplitSpec, Transform,
    Value,
};
use crate::credentials::SecretSource;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub integration: Integration,
    #[serde(default)]
    pub schedule: Schedule,
    pub component: ComponentConfig,
    /// The vendor the connector reads: where its API is served, the
    /// credential, page size and fetch options. `[dropbox]`, its name
    /// before there was more than one connector, is read for one release.
    #[serde(alias = "dropbox")]
    pub source: VendorConfig,
    pub oomnitza: OomnitzaConfig,
    #[serde(default)]
    pub saas: Option<SaasConfig>,
    #[serde(default)]
    pub sandbox: SandboxConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub mapping: Option<MappingConfig>,
    #[serde(default)]
    pub state: StateConfig,
    /// Which actions run without asking first.
    #[serde(default)]
    pub actions: ActionsConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    /// Rule-driven actions (`[[workflow]]` tables).
    #[serde(default, rename = "workflow")]
    pub workflows: Vec<crate::workflow::WorkflowConfig>,
    /// The folder relative paths resolve against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// Shown in Oomnitza as the connector name.
    pub name: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub preference: Preference,
}

/// "User only" or "User plus SaaS user".
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    UserOnly,
    UserPlusSaas,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preference {
    #[default]
    CreateAndUpdate,
    CreateOnly,
    UpdateOnly,
}

impl Preference {
    /// (`insert_only`, `update_only`) for the bulk API.
    pub fn flags(self) -> (bool, bool) {
        match self {
            Preference::CreateAndUpdate => (false, false),
            Preference::CreateOnly => (true, false),
            Preference::UpdateOnly => (false, true),
        }
    }
}

/// When the integration runs. Validated now; `serve` runs it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `daily` (at `at`, in `timezone`) or `every-n-hours`.
    #[serde(default = "Schedule::default_kind")]
    pub every: ScheduleKind,
    /// `HH:MM`, 24-hour clock.
    #[serde(default = "Schedule::default_at")]
    pub at: String,
    /// `UTC` or a fixed offset such as `+02:00`.
    #[serde(default = "Schedule::default_tz")]
    pub timezone: String,
    /// For `every-n-hours`: 1..=24.
    #[serde(default)]
    pub hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    Daily,
    EveryNHours,
}

impl Schedule {
    fn default_kind() -> ScheduleKind {
        ScheduleKind::Daily
    }
    fn default_at() -> String {
        "02:00".into()
    }
    fn default_tz() -> String {
        "UTC".into()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let (h, m) = self
            .at
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .with_context(|| format!("schedule.at = {:?}: expected HH:MM (24-hour)", self.at))?;
        let _ = (h, m);
        let tz_ok = self.timezone == "UTC"
            || (self.timezone.len() == 6
                && matches!(&self.timezone[..1], "+" | "-")
                && self.timezone[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
                && &self.timezone[3..4] == ":"
                && self.timezone[4..].parse::<u32>().is_ok_and(|m| m < 60));
        if !tz_ok {
            bail!(
                "schedule.timezone = {:?}: expected UTC or an offset like +02:00",
                self.timezone
            );
        }
        match (self.every, self.hours) {
            (ScheduleKind::EveryNHours, Some(1..=24)) | (ScheduleKind::Daily, None) => Ok(()),
            (ScheduleKind::EveryNHours, h) => {
                bail!("schedule.hours = {h:?}: every-n-hours needs hours between 1 and 24")
            }
            (ScheduleKind::Daily, Some(_)) => {
                bail!("schedule.hours is only used with every = \"every-n-hours\"")
            }
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            every: ScheduleKind::Daily,
            at: Self::default_at(),
            timezone: Self::default_tz(),
            hours: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub path: PathBuf,
    /// Refuse to load a component whose sha256 differs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where compiled components are cached; `false`-y empty disables.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

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
    1000
}

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
    100
}
fn default_concurrency() -> usize {
    // Enough to hide ~50 ms per bulk request behind Dropbox's page time
    // (ten batches a page); a 429 from Oomnitza still slows every sender.
    16
}

/// For "User plus SaaS user": which Oomnitza SaaS app the accounts belong to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaasConfig {
    pub saas_id: String,
    #[serde(default = "default_saas_name")]
    pub name: String,
    /// After a complete, successful sync, deactivate the SaaS users Oomnitza
    /// holds for this app that Dropbox no longer lists (the seed's
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

    fn check(&self) -> Result<()> {
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

fn default_saas_name() -> String {
    "Dropbox".into()
}

/// The host, not the component, decides what needs confirmation: every
/// action asks first (or needs `--yes`) unless the operator lists it here.
/// A component's own `destructive: false` is only shown, never trusted.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Actions that run without confirmation, e.g. `["get-user-role"]`.
    #[serde(default)]
    pub safe: Vec<String>,
}

/// How syncs run (`[sync]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// How often a run sends every record, changed or not, so edits and
    /// deletions made in Oomnitza are repaired: `"7d"` (the default),
    /// `"12h"`, `"30m"`, `"90s"`, or `"off"`.
    #[serde(default = "SyncConfig::default_full_every")]
    pub full_every: String,
}

impl SyncConfig {
    fn default_full_every() -> String {
        "7d".into()
    }

    /// `full_every` in seconds; `None` when off.
    pub fn full_every_secs(&self) -> Result<Option<u64>> {
        let t = self.full_every.trim();
        if matches!(t, "off" | "never") {
            return Ok(None);
        }
        let unit = |u: &str| match u {
            "d" => Some(86_400),
            "h" => Some(3_600),
            "m" => Some(60),
            "s" => Some(1),
            _ => None,
        };
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        match (t[..split].parse::<u64>(), unit(t[split..].trim())) {
            (Ok(n), Some(u)) if n > 0 => Ok(Some(n.saturating_mul(u))),
            _ => bail!(
                "sync.full_every = {:?}: expected a period such as \"7d\", \"12h\", \"30m\" or \"90s\", or \"off\"",
                self.full_every
            ),
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            full_every: Self::default_full_every(),
        }
    }
}

/// Where the embedded state database lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    #[serde(default = "StateConfig::default_path")]
    pub path: PathBuf,
}

impl StateConfig {
    fn default_path() -> PathBuf {
        PathBuf::from("oomnitza-connect.db")
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            path: Self::default_path(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Origins (`scheme://host[:port]`) the component may reach. Default:
    /// the origins its manifest declares.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Let requests reach loopback addresses (local fakes, tests).
    #[serde(default)]
    pub allow_loopback: bool,
    /// Let requests reach private, CGNAT and link-local addresses.
    #[serde(default)]
    pub allow_private_networks: bool,
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
        60
    }
    fn default_memory() -> usize {
        128
    }
    fn default_connect() -> u64 {
        10
    }
    fn default_first_byte() -> u64 {
        60
    }
    fn default_between() -> u64 {
        30
    }
    fn default_retries() -> u32 {
        5
    }
    fn default_response() -> u64 {
        64
    }
    fn default_request_body() -> u64 {
        1024
    }
    fn default_requests_per_call() -> u32 {
        100
    }
    fn default_concurrent() -> u32 {
        8
    }
    fn default_host_resources() -> u32 {
        256
    }
    fn default_header() -> u32 {
        16
    }

    /// Each limit with its accepted range: a value outside it is an error
    /// naming the key (a huge timeout would overflow a deadline; a huge
    /// memory cap would wrap when turned into bytes).
    fn check(&self) -> Result<()> {
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
            max_refused_requests: 0,
        }
    }
}

/// The operator's mapping. Absent: the connector's smart default mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Oomnitza fields that identify a record (`sync_field`).
    pub sync_key: Vec<String>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub filters: Vec<FilterConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub target: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub constant: Option<toml::Value>,
    #[serde(default)]
    pub first_of: Option<Vec<String>>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub transforms: Vec<TransformConfig>,
    #[serde(default)]
    pub required: bool,
}

/// `"lower-case"`, or a table such as `{ date-format = "%Y-%m-%d" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum TransformConfig {
    LowerCase,
    UpperCase,
    Trim,
    DateFormat(String),
    Split { separator: String, index: i32 },
    Join(String),
    Lookup(toml::Table),
    Default(toml::Value),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    pub field: String,
    /// `include` (keep only matches) or `exclude` (drop matches).
    pub effect: EffectConfig,
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    #[serde(default)]
    pub is_empty: Option<bool>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub starts_with: Option<String>,
    #[serde(default)]
    pub ends_with: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EffectConfig {
    Include,
    Exclude,
}

impl Config {
    /// Reads and checks a config file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read config file {} (create one, or run `oomnitza-connect demo` to see an example)",
                path.display()
            )
        })?;
        let mut cfg =
            Self::parse(&text).with_context(|| format!("in config file {}", path.display()))?;
        cfg.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Config> {
        // toml's own Display quotes the offending line, which may hold a
        // secret: give the location and the message only.
        let cfg: Config = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}",
                toml_location(text, e.span()),
                e.message().trim_end()
            )
        })?;
        cfg.check()?;
        if text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("dropbox"))
        {
            tracing::warn!(
                "the [dropbox] table is now [source] (same keys); [dropbox] is read for this release only"
            );
        }
        Ok(cfg)
    }

    /// Checks that need more than types. (Completeness, the "draft"
    /// check, is `integration::launch_gaps`, which also needs the manifest.)
    fn check(&self) -> Result<()> {
        if self.integration.name.trim().is_empty() {
            bail!("integration.name must not be empty");
        }
        self.schedule.validate()?;
        if !(1..=1000).contains(&self.source.page_size) {
            bail!(
                "source.page_size = {}: must be between 1 and 1000",
                self.source.page_size
            );
        }
        if !(1..=1000).contains(&self.oomnitza.batch_size) {
            bail!(
                "oomnitza.batch_size = {}: must be between 1 and 1000",
                self.oomnitza.batch_size
            );
        }
        if !(1..=64).contains(&self.oomnitza.concurrency) {
            bail!(
                "oomnitza.concurrency = {}: must be between 1 and 64",
                self.oomnitza.concurrency
            );
        }
        check_base_url("oomnitza.url", &self.oomnitza.url)?;
        if let Some(u) = &self.source.url {
            check_base_url("source.url", u)?;
            check_credential_url("source.url", u)?;
        }
        if let Some(o) = &self.source.origin {
            check_base_url("source.origin", o)?;
            check_credential_url("source.origin", o)?;
        }
        if self.integration.mode == Mode::UserPlusSaas && self.saas.is_none() {
            bail!("integration.mode = \"user-plus-saas\" needs a [saas] table with saas_id");
        }
        if let Some(s) = &self.saas {
            if s.deactivate_missing && self.integration.mode != Mode::UserPlusSaas {
                bail!(
                    "saas.deactivate_missing = true needs integration.mode = \"user-plus-saas\": in \"user-only\" mode no SaaS users are synced, so none can be reconciled (set the mode, or remove deactivate_missing)"
                );
            }
            if let Some(m) = &s.max_deactivations {
                m.check()?;
            }
        }
        self.sync.full_every_secs()?;
        self.limits.check()?;
        if self.source.token.is_some() && self.source.oauth.is_some() {
            bail!(
                "give source.token (a long-lived token) or [source.oauth] (a refresh token), not both"
            );
        }
        if let Some(o) = &self.source.oauth
            && let Some(u) = &o.token_url
        {
            url::Url::parse(u)
                .with_context(|| format!("source.oauth.token_url = {u:?} is not a URL"))?;
            check_credential_url("source.oauth.token_url", u)?;
        }
        if let Some(m) = &self.mapping {
            m.to_spec()?;
            if self.oomnitza.role.is_some() && m.rules.iter().any(|r| r.target == ROLE_TARGET) {
                bail!(
                    "the role is given twice: oomnitza.role and a [[mapping.rules]] for {ROLE_TARGET}; keep one"
                );
            }
        }
        if let Some(r) = self.oomnitza.role
            && r <= 0
        {
            bail!("oomnitza.role = {r}: must be an Oomnitza role id (a positive number)");
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.workflows.iter().enumerate() {
            w.check(self.saas.as_ref().map(|s| s.saas_id.as_str()))
                .with_context(|| format!("workflow[{i}] ({:?})", w.name))?;
            if !names.insert(&w.name) {
                bail!("workflow name {:?} is used twice", w.name);
            }
        }
        Ok(())
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// `line L, column C` of a byte span in `text` (or `somewhere` without one).
pub fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return "somewhere in the file".into();
    };
    let start = (0..=span.start.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    // Name the table and key (what precedes `=`), never the value.
    let this_line = text.lines().nth(line - 1).unwrap_or("");
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let table = text
        .lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            let end = l.rfind(']')?;
            l.starts_with('[').then(|| l[..=end].to_string())
        })
        .last();
    let mut at = format!("line {line}, column {column}");
    match (table, key) {
        (Some(t), Some(k)) => at.push_str(&format!(" ({t} {k})")),
        (None, Some(k)) => at.push_str(&format!(" (key {k})")),
        (Some(t), None) => at.push_str(&format!(" ({t})")),
        (None, None) => {}
    }
    at
}

fn check_base_url(key: &str, u: &str) -> Result<()> {
    let url = url::Url::parse(u).with_context(|| format!("{key} = {u:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("{key} = {u:?}: expected http(s)://host[:port]");
    }
    if url.path() != "/" && !url.path().is_empty() {
        bail!("{key} = {u:?}: give the base URL without a path");
    }
    Ok(())
}

/// The Oomnitza people field that holds the role.
pub const ROLE_TARGET: &str = "PERMISSIONS_ID";

/// A URL a credential is sent to must be https; plain http only to a
/// loopback address the operator names (the bundled fakes, tests), never
/// across a network.
pub fn check_credential_url(key: &str, u: &str) -> Result<()> {
    let url = url::Url::parse(u).with_context(|| format!("{key} = {u:?} is not a URL"))?;
    if url.scheme() == "https" {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // RFC 6761: always loopback; the address policy still checks what
        // it resolves to, and needs sandbox.allow_loopback.
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && loopback {
        return Ok(());
    }
    bail!(
        "{key} = {u:?}: a credential is only sent over https (plain http is accepted for a loopback address such as 127.0.0.1 or localhost, for local tests)"
    )
}

impl MappingConfig {
    /// Converts to the contract's mapping spec; errors name the rule.
    pub fn to_spec(&self) -> Result<MappingSpec> {
        if self.sync_key.is_empty() {
            bail!("mapping.sync_key must name at least one Oomnitza field, e.g. [\"EMAIL\"]");
        }
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.to_rule()
                    .with_context(|| format!("mapping.rules[{i}] (target {:?})", r.target))
            })
            .collect::<Result<_>>()?;
        let filters = self
            .filters
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.to_filter()
                    .with_context(|| format!("mapping.filters[{i}] (field {:?})", f.field))
            })
            .collect::<Result<_>>()?;
        Ok(MappingSpec {
            rules,
            filters,
            sync_key: self.sync_key.clone(),
        })
    }
}

impl RuleConfig {
    fn to_rule(&self) -> Result<MappingRule> {
        let mut sources = Vec::new();
        if let Some(f) = &self.field {
            sources.push(RuleSource::Field(f.clone()));
        }
        if let Some(c) = &self.constant {
            sources.push(RuleSource::Constant(toml_to_value(c)?));
        }
        if let Some(f) = &self.first_of {
            sources.push(RuleSource::FirstOf(f.clone()));
        }
        if let Some(t) = &self.template {
            sources.push(RuleSource::Template(t.clone()));
        }
        if sources.len() != 1 {
            bail!("give exactly one of field, constant, first_of, template");
        }
        let transforms = self
            .transforms
            .iter()
            .map(|t| {
                Ok(match t {
                    TransformConfig::LowerCase => Transform::LowerCase,
                    TransformConfig::UpperCase => Transform::UpperCase,
                    TransformConfig::Trim => Transform::Trim,
                    TransformConfig::DateFormat(p) => Transform::DateFormat(p.clone()),
                    TransformConfig::Split { separator, index } => Transform::Split(SplitSpec {
                        separator: separator.clone(),
                        index: *index,
                    }),
                    TransformConfig::Join(s) => Transform::Join(s.clone()),
                    TransformConfig::Lookup(t) => Transform::Lookup(
                        t.iter()
                            .map(|(k, v)| Ok((k.clone(), toml_to_value(v)?)))
                            .collect::<Result<_>>()?,
                    ),
                    TransformConfig::Default(v) => Transform::Default(toml_to_value(v)?),
                })
            })
            .collect::<Result<_>>()?;
        Ok(MappingRule {
            target: self.target.clone(),
            source: sources.remove(0),
            transforms,
            required: self.required,
        })
    }
}

impl FilterConfig {
    fn to_filter(&self) -> Result<Filter> {
        let mut conds = Vec::new();
        if let Some(v) = &self.one_of {
            conds.push(Condition::OneOf(v.clone()));
        }
        if self.is_empty == Some(true) {
            conds.push(Condition::IsEmpty);
        }
        if let Some(s) = &self.contains {
            conds.push(Condition::Contains(s.clone()));
        }
        if let Some(s) = &self.starts_with {
            conds.push(Condition::StartsWith(s.clone()));
        }
        if let Some(s) = &self.ends_with {
            conds.push(Condition::EndsWith(s.clone()));
        }
        if conds.len() != 1 {
            bail!(
                "give exactly one condition: one_of, is_empty = true, contains, starts_with, ends_with"
            );
        }
        Ok(Filter {
            field: self.field.clone(),
            condition: conds.remove(0),
            effect: match self.effect {
                EffectConfig::Include => FilterEffect::Include,
                EffectConfig::Exclude => FilterEffect::Exclude,
            },
        })
    }
}

pub fn toml_to_value(v: &toml::Value) -> Result<Value> {
    Ok(match v {
        toml::Value::String(s) => Value::Text(s.clone()),
        toml::Value::Integer(i) => Value::Integer(*i),
        toml::Value::Boolean(b) => Value::Boolean(*b),
        toml::Value::Datetime(d) => Value::Timestamp(d.to_string()),
        toml::Value::Array(a) => Value::TextList(
            a.iter()
                .map(|x| match x {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => bail!("list values must be strings, found {other}"),
                })
                .collect::<Result<_>>()?,
        ),
        other => {
            bail!("unsupported constant {other}: use text, integer, boolean or a list of text")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[integration]
name = "Dropbox Users"
[component]
path = "c.wasm"
[source]
token = { env = "DROPBOX_TOKEN" }
[oomnitza]
url = "https://acme.oomnitza.com"
token = { env = "OOMNITZA_TOKEN" }
"#;

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.integration.preference, Preference::CreateAndUpdate);
        assert_eq!(c.oomnitza.batch_size, 100);
        assert_eq!(c.schedule.every, ScheduleKind::Daily);
        assert!(c.mapping.is_none());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err =
            Config::parse(&MINIMAL.replace("[oomnitza]", "[oomnitza]\nbatchsize = 5")).unwrap_err();
        assert!(format!("{err:#}").contains("batchsize"), "{err:#}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "[oomnitza]",
                "[oomnitza]\nbatch_size = 0",
                "oomnitza.batch_size",
            ),
            ("[source]", "[source]\npage_size = 5000", "source.page_size"),
            (
                "[integration]",
                "[schedule]\nat = \"25:00\"\n[integration]",
                "schedule.at",
            ),
            ("https://acme.oomnitza.com", "acme", "oomnitza.url"),
            (
                "name = \"Dropbox Users\"",
                "name = \"x\"\nmode = \"user-plus-saas\"",
                "[saas]",
            ),
        ];
        for (from, to, want) in cases {
            let err = Config::parse(&MINIMAL.replace(from, to)).unwrap_err();
            assert!(format!("{err:#}").contains(want), "{want}: {err:#}");
        }
    }

    #[test]
    fn saas_and_sync_settings_are_checked() {
        // deactivate_missing in user-only mode is an error, not ignored.
        let text = format!("{MINIMAL}\n[saas]\nsaas_id = \"s\"\ndeactivate_missing = true\n");
        let err = format!("{:#}", Config::parse(&text).unwrap_err());
        assert!(
            err.contains("saas.deactivate_missing") && err.contains("user-only"),
            "{err}"
        );
        let plus = MINIMAL.replace(
            "name = \"Dropbox Users\"",
            "name = \"Dropbox Users\"\nmode = \"user-plus-saas\"",
        );
        let ok = format!("{plus}\n[saas]\nsaas_id = \"s\"\ndeactivate_missing = true\n");
        let c = Config::parse(&ok).unwrap();
        assert_eq!(c.saas.as_ref().unwrap().max_deactivations, None);
        for (value, active, want) in [
            ("25", 1000, 25),
            ("\"5%\"", 1000, 50),
            ("\"5%\"", 3, 1),
            ("0", 9, 0),
        ] {
            let c = Config::parse(&format!("{ok}max_deactivations = {value}\n")).unwrap();
            let m = c.saas.unwrap().max_deactivations;
            assert_eq!(MaxDeactivations::limit(m.as_ref(), active), want, "{value}");
        }
        assert_eq!(MaxDeactivations::limit(None, 3001), 300);
        assert_eq!(MaxDeactivations::limit(None, 5), 1);
        for bad in ["\"lots\"", "\"150%\"", "-1", "2.5"] {
            let err = Config::parse(&format!("{ok}max_deactivations = {bad}\n"))
                .map(|_| ())
                .unwrap_err();
            assert!(
                format!("{err:#}").contains("max_deactivations"),
                "{bad}: {err:#}"
            );
        }
        // full_every
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.sync.full_every_secs().unwrap(), Some(7 * 86_400));
        for (value, want) in [
            ("12h", Some(43_200)),
            ("90s", Some(90)),
            ("off", None),
            ("2d", Some(172_800)),
        ] {
            let c =
                Config::parse(&format!("{MINIMAL}\n[sync]\nfull_every = \"{value}\"\n")).unwrap();
            assert_eq!(c.sync.full_every_secs().unwrap(), want, "{value}");
        }
        for bad in ["7", "0d", "1w", "d", ""] {
            let err =
                Config::parse(&format!("{MINIMAL}\n[sync]\nfull_every = \"{bad}\"\n")).unwrap_err();
            assert!(
                format!("{err:#}").contains("sync.full_every"),
                "{bad}: {err:#}"
            );
        }
    }

    #[test]
    fn mapping_rules_convert() {
        let text = format!(
            "{MINIMAL}\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\ntransforms = [\"lower-case\", {{ split = {{ separator = \"@\", index = 0 }} }}]\nrequired = true\n[[mapping.filters]]\nfield = \"status\"\neffect = \"include\"\none_of = [\"active\"]\n"
        );
        let c = Config::parse(&text).unwrap();
        let spec = c.mapping.unwrap().to_spec().unwrap();
        assert_eq!(spec.rules.len(), 1);
        assert_eq!(spec.rules[0].transforms.len(), 2);
        assert_eq!(spec.filters.len(), 1);
    }

    #[test]
    fn rule_with_two_sources_is_rejected() {
        let text = format!(
            "{MINIMAL}\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\nconstant = \"x\"\n"
        );
        let err = format!("{:#}", Config::parse(&text).unwrap_err());
        assert!(
            err.contains("mapping.rules[0]") && err.contains("exactly one"),
            "{err}"
        );
    }
}
