//! The operator's configuration file (TOML): one integration, its
//! credentials, sandbox, limits and mapping.
//!
//! Parsing is strict (unknown keys are errors that name the key) so a typo
//! never silently turns a setting off. See the README's config reference.
//!
//! This module loads and checks the whole file; each table with rules of
//! its own has a module: [`schedule`], [`source`] (the vendor), [`oomnitza`]
//! (and `[saas]`), [`limits`] (with the one set of default limits the
//! sandbox also uses), [`mapping`], [`workflow`] and its [`trigger`]s, and
//! [`secrets`] (where a credential is read from). The config depends on no
//! other part of the host but the contract's types, so everything else can
//! depend on it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

pub mod limits;
pub mod mapping;
pub mod oomnitza;
pub mod schedule;
pub mod secrets;
pub mod source;
pub mod trigger;
pub mod workflow;

pub use limits::LimitsConfig;
pub use mapping::{
    EffectConfig, FilterConfig, MappingConfig, RuleConfig, TransformConfig, toml_to_value,
};
pub use oomnitza::{MaxDeactivations, OomnitzaConfig, SaasConfig};
pub use schedule::{Schedule, ScheduleKind};
pub use secrets::SecretSource;
pub use source::{OAuthConfig, VendorConfig};

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
    pub workflows: Vec<workflow::WorkflowConfig>,
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
    /// Keep the team snapshot (the members as last listed, for the report, the
    /// console's dashboards and list views). Off, a real sync writes none
    /// and empties the one kept so far (the views then show no team rather
    /// than an old one); run history and trends stay.
    #[serde(default = "StateConfig::default_team_snapshot")]
    pub team_snapshot: bool,
}

impl StateConfig {
    fn default_path() -> PathBuf {
        PathBuf::from("oomnitza-connect.db")
    }
    fn default_team_snapshot() -> bool {
        true
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            path: Self::default_path(),
            team_snapshot: Self::default_team_snapshot(),
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
        use limits::defaults::{MAX_BATCH_SIZE, MAX_OOMNITZA_CONCURRENCY, MAX_PAGE_SIZE};
        if !(1..=MAX_PAGE_SIZE).contains(&self.source.page_size) {
            bail!(
                "source.page_size = {}: must be between 1 and {MAX_PAGE_SIZE}",
                self.source.page_size
            );
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.oomnitza.batch_size) {
            bail!(
                "oomnitza.batch_size = {}: must be between 1 and {MAX_BATCH_SIZE}",
                self.oomnitza.batch_size
            );
        }
        if !(1..=MAX_OOMNITZA_CONCURRENCY).contains(&self.oomnitza.concurrency) {
            bail!(
                "oomnitza.concurrency = {}: must be between 1 and {MAX_OOMNITZA_CONCURRENCY}",
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
