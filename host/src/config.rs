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
    pub dropbox: VendorConfig,
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
    /// Base URL the component's declared origin is routed to. Default: the
    /// declared origin itself (`https://api.dropboxapi.com`).
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub client_id: String,
    /// Absent for PKCE apps.
    #[serde(default)]
    pub client_secret: Option<SecretSource>,
    pub refresh_token: SecretSource,
    /// Default: `<dropbox url>/oauth2/token`.
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
}

fn default_saas_name() -> String {
    "Dropbox".into()
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
        let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks that need more than types. (Completeness, the "draft"
    /// check, is `validate::check_launch`, which also needs the manifest.)
    fn check(&self) -> Result<()> {
        if self.integration.name.trim().is_empty() {
            bail!("integration.name must not be empty");
        }
        self.schedule.validate()?;
        if !(1..=1000).contains(&self.dropbox.page_size) {
            bail!(
                "dropbox.page_size = {}: must be between 1 and 1000",
                self.dropbox.page_size
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
        if let Some(u) = &self.dropbox.url {
            check_base_url("dropbox.url", u)?;
        }
        if self.integration.mode == Mode::UserPlusSaas && self.saas.is_none() {
            bail!("integration.mode = \"user-plus-saas\" needs a [saas] table with saas_id");
        }
        let l = &self.limits;
        for (key, v) in [
            ("limits.call_timeout_secs", l.call_timeout_secs),
            ("limits.max_memory_mib", l.max_memory_mib as u64),
            ("limits.max_response_mib", l.max_response_mib),
            ("limits.max_request_body_kib", l.max_request_body_kib),
            (
                "limits.max_requests_per_call",
                u64::from(l.max_requests_per_call),
            ),
            (
                "limits.max_concurrent_requests",
                u64::from(l.max_concurrent_requests),
            ),
            ("limits.connect_timeout_secs", l.connect_timeout_secs),
            ("limits.first_byte_timeout_secs", l.first_byte_timeout_secs),
            (
                "limits.between_bytes_timeout_secs",
                l.between_bytes_timeout_secs,
            ),
        ] {
            if v == 0 {
                bail!("{key} must be positive");
            }
        }
        if self.dropbox.token.is_some() && self.dropbox.oauth.is_some() {
            bail!(
                "give dropbox.token (a long-lived token) or [dropbox.oauth] (a refresh token), not both"
            );
        }
        if let Some(o) = &self.dropbox.oauth
            && let Some(u) = &o.token_url
        {
            url::Url::parse(u)
                .with_context(|| format!("dropbox.oauth.token_url = {u:?} is not a URL"))?;
        }
        if let Some(m) = &self.mapping {
            m.to_spec()?;
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

fn toml_to_value(v: &toml::Value) -> Result<Value> {
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
[dropbox]
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
            (
                "[dropbox]",
                "[dropbox]\npage_size = 5000",
                "dropbox.page_size",
            ),
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
