//! A configured integration, ready to run: the loaded component, its
//! manifest, the sandbox policy built from manifest and config, the
//! credentials, and the effective mapping.
//!
//! Building one is the "launch" gate: it refuses to go on while a mandatory
//! item is missing, naming every missing item at once.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wasmtime::Engine;

use crate::bindings::{
    ConnectorError, CredentialKind, Manifest, MappingRule, MappingSpec, RuleSource, Value,
    ValueType,
};
use crate::config::{Config, Mode, ROLE_TARGET};
use crate::credentials::{Bearer, OAuthRefresher, Secret, SecretSource};
use crate::engine::{LoadedComponent, default_cache_dir, load_component, new_engine};
use crate::instance::ConnectorInstance;
use crate::sandbox::policy::{Allowlist, Target};
use crate::sandbox::{AddressPolicy, Limits, OutboundPolicy, Route};

pub struct Integration {
    pub config: Config,
    pub engine: Engine,
    pub component: LoadedComponent,
    pub manifest: Manifest,
    pub spec: MappingSpec,
    pub policy: Arc<OutboundPolicy>,
    pub limits: Limits,
    /// Which origin holds the credential; hosts refused or given nothing.
    pub policy_report: PolicyReport,
    /// The options every fetch carries (checked against the manifest).
    pub fetch_options: Vec<(String, Value)>,
    /// `None` only when the draft check was skipped (`describe`).
    pub oomnitza_token: Option<Secret>,
}

/// Loads the component and reads its manifest (no credentials needed).
pub async fn load_manifest(config: &Config) -> Result<(Engine, LoadedComponent, Manifest)> {
    let engine = new_engine()?;
    let path = config.resolve(&config.component.path);
    let cache = match &config.component.cache_dir {
        Some(d) if d.as_os_str().is_empty() => None,
        Some(d) => Some(config.resolve(d)),
        None => default_cache_dir(),
    };
    let component = load_component(
        &engine,
        &path,
        config.component.sha256.as_deref(),
        cache.as_deref(),
    )?;
    // `describe` makes no HTTP calls: an empty allowlist.
    let policy = Arc::new(OutboundPolicy::new(Allowlist::default()));
    let mut inst = ConnectorInstance::new(&component, policy, limits(config)).await?;
    let manifest = inst.describe().await?;
    Ok((engine, component, manifest))
}

fn limits(config: &Config) -> Limits {
    Limits::from_config(&config.limits)
}

impl Integration {
    /// Loads everything and runs the launch check: every credential,
    /// Oomnitza's included, must load (`describe` needs none and uses
    /// [`load_manifest`] instead).
    pub async fn prepare(config: Config) -> Result<Integration> {
        let (engine, component, manifest) = load_manifest(&config).await?;
        let spec = effective_spec(&config, &manifest)?;
        let fetch_options = fetch_options(&config, &manifest)?;
        let mut missing = launch_gaps(&config, &manifest, &spec);

        let source_bearer = source_bearer(&config, &manifest, &mut missing);
        let oomnitza_token = load_secret(
            &config,
            "oomnitza.token",
            config.oomnitza.token.as_ref(),
            &mut missing,
        );
        if !missing.is_empty() {
            bail!(
                "integration `{}` is still a draft; it cannot run until these are fixed:\n  - {}",
                config.integration.name,
                missing.join("\n  - ")
            );
        }
        let (policy, policy_report) = build_policy(&config, &manifest, source_bearer)?;
        for w in &policy_report.warnings {
            tracing::warn!("{w}");
        }
        let limits = limits(&config);

        // A spec the connector rejects fails here, before any HTTP call
        // (map-records runs with HTTP denied, as describe does).
        let mut inst = ConnectorInstance::new(&component, policy.clone(), limits).await?;
        inst.describe().await?;
        if let Err(e) = inst.map(&spec, &[]).await? {
            bail!("the mapping is invalid: {}", describe_error(&e));
        }
        Ok(Integration {
            config,
            engine,
            component,
            manifest,
            spec,
            policy,
            limits,
            policy_report,
            fetch_options,
            oomnitza_token,
        })
    }

    /// Whether running `action` needs the operator's confirmation: always,
    /// unless the operator's `[actions] safe` lists it. What the component
    /// declares (`destructive`) never lowers this.
    pub fn needs_confirmation(&self, action: &str) -> bool {
        !self.config.actions.safe.iter().any(|a| a == action)
    }

    /// A fresh sandboxed instance of the connector.
    pub async fn instance(&self) -> Result<ConnectorInstance> {
        let mut inst =
            ConnectorInstance::new(&self.component, self.policy.clone(), self.limits).await?;
        inst.describe().await?;
        Ok(inst)
    }
}

/// The mapping a run uses: the operator's, or the connector's smart
/// mapping without whatever role it proposes; then the operator's
/// `oomnitza.role`, if given. A component never chooses who becomes what
/// in Oomnitza.
pub fn effective_spec(config: &Config, manifest: &Manifest) -> Result<MappingSpec> {
    let mut spec = match &config.mapping {
        Some(m) => m.to_spec()?,
        None => {
            let mut spec = manifest.default_mapping.clone();
            spec.rules.retain(|r| r.target != ROLE_TARGET);
            spec
        }
    };
    if let Some(role) = config.oomnitza.role {
        spec.rules.push(MappingRule {
            target: ROLE_TARGET.into(),
            source: RuleSource::Constant(Value::Integer(role)),
            transforms: vec![],
            required: false,
        });
    }
    Ok(spec)
}

/// The options every fetch carries: `include_removed`, then
/// `source.options`, each checked against the manifest's declared fetch
/// options (name and type). An undeclared option is an error, not ignored.
pub fn fetch_options(config: &Config, manifest: &Manifest) -> Result<Vec<(String, Value)>> {
    let declared = |name: &str| manifest.fetch_options.iter().find(|p| p.name == name);
    let mut out = Vec::new();
    // `source.include_removed` is a shorthand for `options.include_removed`,
    // kept from before there was `options`; like any option, only for a
    // connector that declares it.
    if config.source.include_removed {
        if config.source.options.contains_key(INCLUDE_REMOVED) {
            bail!("give source.include_removed or source.options.include_removed, not both");
        }
        if declared(INCLUDE_REMOVED).is_none() {
            bail!(
                "source.include_removed: connector `{}` declares no such fetch option",
                manifest.name
            );
        }
        out.push((INCLUDE_REMOVED.to_string(), Value::Boolean(true)));
    }
    for (name, v) in &config.source.options {
        let Some(p) = declared(name) else {
            let names: Vec<&str> = manifest
                .fetch_options
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            bail!(
                "source.options.{name}: connector `{}` declares no such fetch option (it declares: {})",
                manifest.name,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        };
        let value =
            crate::config::toml_to_value(v).with_context(|| format!("source.options.{name}"))?;
        let fits = matches!(
            (&value, p.type_),
            (Value::Text(_), ValueType::Text)
                | (Value::Boolean(_), ValueType::Boolean)
                | (Value::Integer(_), ValueType::Integer)
                | (Value::Timestamp(_) | Value::Text(_), ValueType::Timestamp)
                | (Value::TextList(_), ValueType::TextList)
        );
        if !fits {
            bail!(
                "source.options.{name}: the connector expects a {:?} value",
                p.type_
            );
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// Loads one secret, or notes why it is missing.
pub(crate) fn load_secret(
    config: &Config,
    key: &str,
    src: Option<&SecretSource>,
    missing: &mut Vec<String>,
) -> Option<Secret> {
    match src {
        None => {
            missing.push(format!("credentials: {key} is not configured"));
            None
        }
        Some(s) => match s.load(&config.base_dir) {
            Ok(v) => Some(v),
            Err(e) => {
                missing.push(format!("credentials: {key} ({s}): {e}"));
                None
            }
        },
    }
}

/// The source's credential: a long-lived token, or an OAuth refresher.
fn source_bearer(
    config: &Config,
    manifest: &Manifest,
    missing: &mut Vec<String>,
) -> Option<Bearer> {
    let Some(o) = &config.source.oauth else {
        return load_secret(
            config,
            "source.token",
            config.source.token.as_ref(),
            missing,
        )
        .map(Bearer::Static);
    };
    let refresh = load_secret(
        config,
        "source.oauth.refresh_token",
        Some(&o.refresh_token),
        missing,
    );
    let secret = match &o.client_secret {
        Some(src) => Some(load_secret(
            config,
            "source.oauth.client_secret",
            Some(src),
            missing,
        )?),
        None => None,
    };
    // Default: `/oauth2/token` where the credential's origin is served
    // (source.url, else source.origin, else the first host that asks for a
    // credential), as Dropbox and most OAuth 2 APIs place it.
    let base = config
        .source
        .url
        .clone()
        .or_else(|| config.source.origin.clone())
        .or_else(|| {
            manifest
                .hosts
                .iter()
                .find(|h| h.credential != CredentialKind::None)
                .map(|h| h.origin.clone())
        });
    let token_url = match (&o.token_url, base) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => format!("{}/oauth2/token", b.trim_end_matches('/')),
        (None, None) => {
            missing.push("credentials: source.oauth.token_url is needed (no host asks for a credential to derive it from)".into());
            return None;
        }
    };
    Some(Bearer::OAuth(Arc::new(OAuthRefresher::new(
        token_url,
        o.client_id.clone(),
        secret,
        refresh?,
    ))))
}

/// Every mandatory item the configuration lacks (the seed's "Draft" state).
pub fn launch_gaps(config: &Config, manifest: &Manifest, spec: &MappingSpec) -> Vec<String> {
    let mut missing = Vec::new();
    let email = email_field(manifest);
    let from_email = |target: &str| {
        spec.rules.iter().any(|r| {
            r.target == target
                && match &r.source {
                    RuleSource::Field(f) => f == email,
                    RuleSource::FirstOf(fs) => fs.first().is_some_and(|f| f == email),
                    _ => false,
                }
        })
    };
    if !from_email("USER") {
        missing.push("mapping: Email must be mapped to USER (the Oomnitza username)".into());
    }
    if !from_email("EMAIL") {
        missing.push("mapping: Email must be mapped to EMAIL".into());
    }
    if !spec.rules.iter().any(|r| r.target == ROLE_TARGET) {
        missing.push(format!(
            "mapping: choose the Oomnitza role synced users get: oomnitza.role = <role id> (or a [[mapping.rules]] for {ROLE_TARGET}); the connector's smart mapping does not choose one"
        ));
    }
    if spec.sync_key.is_empty() {
        missing.push("mapping: a sync key is required (e.g. sync_key = [\"EMAIL\"])".into());
    }
    // Which source fields identify one person is the connector's to say
    // (`field-info.unique`), not a list the host keeps per vendor.
    let unique_fields: Vec<&str> = manifest
        .fields
        .iter()
        .filter(|f| f.unique)
        .map(|f| f.name.as_str())
        .collect();
    for key in &spec.sync_key {
        let unique = spec.rules.iter().any(|r| {
            r.target == *key
                && matches!(&r.source, RuleSource::Field(f) if unique_fields.contains(&f.as_str()))
        });
        if !unique {
            missing.push(format!(
                "mapping: sync key {key} must be mapped from a unique field ({})",
                if unique_fields.is_empty() {
                    "the connector declares none".to_string()
                } else {
                    unique_fields.join(", ")
                }
            ));
        }
    }
    missing.extend(target_problems(spec));
    // Removed (and suspended, invited) members must not look like active
    // people: with removed members listed, the status must be mapped or
    // filtered on.
    let has_status = manifest.fields.iter().any(|f| f.name == STATUS_FIELD);
    let status_used = spec.rules.iter().any(|r| match &r.source {
        RuleSource::Field(f) => f == STATUS_FIELD,
        RuleSource::FirstOf(fs) => fs.iter().any(|f| f == STATUS_FIELD),
        RuleSource::Template(t) => t.contains(&format!("{{{STATUS_FIELD}}}")),
        RuleSource::Constant(_) => false,
    }) || spec.filters.iter().any(|f| f.field == STATUS_FIELD);
    let lists_removed = config.source.include_removed
        || matches!(
            config.source.options.get(INCLUDE_REMOVED),
            Some(toml::Value::Boolean(true))
        );
    if lists_removed && has_status && !status_used {
        missing.push(format!(
            "mapping: source.include_removed lists removed members, but no rule maps `{STATUS_FIELD}` and no filter uses it, so they would look like active people; map it (e.g. to a custom field `member_status`) or filter on it"
        ));
    }
    if config.integration.mode == Mode::UserPlusSaas
        && !manifest
            .record_kinds
            .contains(&crate::bindings::RecordKind::SaasUsers)
    {
        missing.push(format!(
            "integration.mode: connector `{}` does not produce SaaS users",
            manifest.name
        ));
    }
    missing
}

/// The connector's email field: the field its smart mapping maps to
/// `EMAIL` (directly, or first of a `first-of`), else `email`. The host
/// keeps no list of vendors' field names.
fn email_field(manifest: &Manifest) -> &str {
    manifest
        .default_mapping
        .rules
        .iter()
        .filter(|r| r.target == "EMAIL")
        .find_map(|r| match &r.source {
            RuleSource::Field(f) => Some(f.as_str()),
            RuleSource::FirstOf(fs) => fs.first().map(String::as_str),
            _ => None,
        })
        .unwrap_or("email")
}

/// The source field that says whether a member is active, suspended,
/// invited or removed.
const STATUS_FIELD: &str = "status";

/// The fetch option that lists removed members too (`source.include_removed`
/// is its shorthand). A convention, not a vendor: any connector may declare
/// it, and the launch check then wants [`STATUS_FIELD`] mapped or filtered.
const INCLUDE_REMOVED: &str = "include_removed";

/// Oomnitza people fields integrations map to (the reference's list).
const PEOPLE_FIELDS: [&str; 7] = [
    "USER",
    "EMAIL",
    "FIRST_NAME",
    "LAST_NAME",
    "PHONE",
    "POSITION",
    "PERMISSIONS_ID",
];

/// Keys of the `saas` object a rule may set (`selected_saas_id` and `name`
/// come from `[saas]`).
const SAAS_KEYS: [&str; 8] = [
    "sync_key",
    "role",
    "roles",
    "email",
    "full_name",
    "last_visit",
    "user_external_id",
    "contract_id",
];

/// Mapping targets that are neither an Oomnitza people field, nor a
/// plausible custom field key (a lower-case API name), nor a known `saas.`
/// key: a typo would otherwise send a field Oomnitza ignores.
fn target_problems(spec: &MappingSpec) -> Vec<String> {
    let mut out = Vec::new();
    for r in &spec.rules {
        let t = r.target.as_str();
        if let Some(key) = t.strip_prefix("saas.") {
            if ["selected_saas_id", "name"].contains(&key) {
                out.push(format!(
                    "mapping: target `{t}` is set by the host from [saas]; remove the rule"
                ));
            } else if !SAAS_KEYS.contains(&key) {
                out.push(format!(
                    "mapping: target `{t}` is not a SaaS-user key ({}){}",
                    SAAS_KEYS.join(", "),
                    suggest(key, &SAAS_KEYS)
                ));
            }
            continue;
        }
        if PEOPLE_FIELDS.contains(&t) {
            continue;
        }
        let custom = t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !custom {
            out.push(format!(
                "mapping: target `{t}` is neither an Oomnitza people field ({}) nor a custom field key (lower-case API name, e.g. `vendor_user_id`){}",
                PEOPLE_FIELDS.join(", "),
                suggest(t, &PEOPLE_FIELDS)
            ));
        }
    }
    out
}

/// `; did you mean X?` for the closest name within a small edit distance.
fn suggest(got: &str, names: &[&str]) -> String {
    let best = names
        .iter()
        .map(|n| {
            (
                edit_distance(&got.to_ascii_lowercase(), &n.to_ascii_lowercase()),
                n,
            )
        })
        .min();
    match best {
        // Close enough to be a typo: a third of the name, at least one.
        Some((d, n)) if d <= (got.chars().count() / 3).max(1) => format!("; did you mean `{n}`?"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// What the operator should see about the sandbox: which origin holds the
/// credential, and every manifest host that is refused or gets nothing.
/// `validate` prints it; a sync logs the warnings.
#[derive(Debug, Default, Clone)]
pub struct PolicyReport {
    /// `credential source.token → https://api.vendor.example (served at …)`.
    pub binding: Option<String>,
    pub warnings: Vec<String>,
}

/// The sandbox policy. The operator decides everything: the allowlist is
/// the manifest's hosts ∩ `sandbox.allow` (all of them when unset, with a
/// warning); the credential goes to exactly one origin, `source.origin`
/// or else the first accepted host that asks for one, and only over https
/// (or to a loopback address the operator names). What the manifest says
/// about credentials never widens that: a second host asking for the
/// token gets none.
fn build_policy(
    config: &Config,
    manifest: &Manifest,
    source_bearer: Option<Bearer>,
) -> Result<(Arc<OutboundPolicy>, PolicyReport)> {
    let declared_entries: Vec<&str> = manifest.hosts.iter().map(|h| h.origin.as_str()).collect();
    let declared = Allowlist::parse(&declared_entries)
        .context("the component's manifest declares an invalid host")?;
    let operator = match &config.sandbox.allow {
        Some(list) => Allowlist::parse(list).context("in sandbox.allow")?,
        None => declared.clone(),
    };
    let allowed = declared.intersect(&operator);
    let mut report = PolicyReport::default();

    let mut hosts = Vec::new();
    for host in &manifest.hosts {
        let origin_url: http::Uri = host
            .origin
            .parse()
            .with_context(|| format!("manifest host {:?} is not a URL", host.origin))?;
        let origin = Target::from_uri(&origin_url)
            .with_context(|| format!("manifest host {:?} is not an origin", host.origin))?;
        let accepted = allowed.allows(&origin);
        if !accepted {
            report.warnings.push(format!(
                "the component declares {} ({}), which sandbox.allow does not include: its requests will be refused",
                host.origin, host.purpose
            ));
        }
        hosts.push((host, origin, accepted));
    }
    if config.sandbox.allow.is_none() && !hosts.is_empty() {
        report.warnings.push(format!(
            "sandbox.allow is not set, so every host the component declares is accepted ({}); list the ones you accept in sandbox.allow",
            declared_entries.join(", ")
        ));
    }

    // The one origin the credential is bound to.
    let bound: Option<Target> = match &config.source.origin {
        Some(o) => {
            let t = o
                .parse::<http::Uri>()
                .ok()
                .as_ref()
                .and_then(Target::from_uri)
                .with_context(|| format!("source.origin = {o:?} is not an origin"))?;
            if !hosts.iter().any(|(_, origin, ok)| *ok && *origin == t) {
                bail!(
                    "source.origin = {o:?} is not a host the component declares and the sandbox accepts (declared: {})",
                    declared_entries.join(", ")
                );
            }
            Some(t)
        }
        None => match hosts
            .iter()
            .find(|(h, _, ok)| *ok && h.credential != CredentialKind::None)
        {
            // By default only https: a component must not get the token
            // sent in clear (even to loopback) by declaring an http origin
            // first. A loopback http origin is the operator's to name.
            Some((_, t, _)) if t.scheme == "https" => Some(t.clone()),
            Some((h, _, _)) => bail!(
                "the credential would go to {}, the first host the component declares, which is not https; bind it explicitly with source.origin = \"https://…\" (or name a loopback http origin there for local tests)",
                h.origin
            ),
            None => None,
        },
    };

    let mut routes = Vec::new();
    if let Some(url) = &config.source.url {
        // `source.url` says where the bound origin (or, with no credential,
        // the first accepted host) is served: a proxy, or a fake in tests.
        let routed = bound.clone().or_else(|| {
            hosts
                .iter()
                .find(|(_, _, ok)| *ok)
                .map(|(_, t, _)| t.clone())
        });
        if let Some(origin) = routed {
            let up: http::Uri = url
                .parse()
                .with_context(|| format!("source.url = {url:?}"))?;
            let (Some(scheme), Some(authority)) = (up.scheme().cloned(), up.authority().cloned())
            else {
                bail!("source.url = {url:?}: expected http(s)://host[:port]");
            };
            routes.push(Route {
                origin,
                upstream: scheme,
                upstream_authority: authority,
            });
        }
    }

    let mut bearer = Vec::new();
    if let Some(origin) = &bound {
        let key = if config.source.oauth.is_some() {
            "source.oauth"
        } else {
            "source.token"
        };
        let served = match &config.source.url {
            Some(u) => format!(" (served at {u})"),
            None => String::new(),
        };
        report.binding = Some(format!(
            "credential {key} → {}{served}",
            origin_text(origin)
        ));
        for (h, t, ok) in &hosts {
            if *ok && t != origin && h.credential != CredentialKind::None {
                report.warnings.push(format!(
                    "the component asks for a credential at {} too; it gets none (the credential is bound to {} only)",
                    h.origin,
                    origin_text(origin)
                ));
            }
        }
        if let Some(t) = source_bearer {
            bearer.push((origin.clone(), t));
        }
    }
    let l = &config.limits;
    let policy = OutboundPolicy {
        routes,
        bearer,
        addresses: AddressPolicy {
            allow_loopback: config.sandbox.allow_loopback,
            allow_private: config.sandbox.allow_private_networks,
        },
        max_request_bytes: l.max_request_body_kib << 10,
        max_response_bytes: l.max_response_mib << 20,
        max_requests_per_call: l.max_requests_per_call,
        max_concurrent_requests: l.max_concurrent_requests,
        max_refused_requests: l.max_refused_requests,
        timeouts: OutboundPolicy::timeouts(l),
        ..OutboundPolicy::new(allowed)
    };
    Ok((Arc::new(policy), report))
}

/// An origin as an operator writes it (`https://api.vendor.example`).
fn origin_text(t: &Target) -> String {
    let default = match t.scheme.as_str() {
        "https" => 443,
        _ => 80,
    };
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    if t.port == default {
        format!("{}://{host}", t.scheme)
    } else {
        format!("{}://{host}:{}", t.scheme, t.port)
    }
}

/// A connector error as one line for people.
pub fn describe_error(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Unauthorized(u) if u.expired => format!(
            "the vendor access token has expired ({}): {}; issue a new token",
            u.tag, u.message
        ),
        ConnectorError::Unauthorized(u) => format!(
            "the vendor rejected the credentials ({}): {}",
            u.tag, u.message
        ),
        ConnectorError::RateLimited(r) => format!(
            "rate limited; retry after {} s: {}",
            r.retry_after_seconds, r.message
        ),
        ConnectorError::NotFound(m) => format!("not found: {m}"),
        ConnectorError::InvalidInput(m) => format!("invalid input: {m}"),
        ConnectorError::Conflict(c) => match &c.user_message {
            Some(um) => format!("vendor error `{}` ({}): {um}", c.tag, c.summary),
            None => format!("vendor error `{}` ({})", c.tag, c.summary),
        },
        ConnectorError::Unavailable(m) => format!("vendor unavailable: {m}"),
        ConnectorError::Denied(m) => format!("refused by the sandbox: {m}"),
        ConnectorError::Other(m) => m.clone(),
        ConnectorError::CursorExpired(m) => {
            format!("the listing's cursor expired (the listing must start over): {m}")
        }
    }
}

/// What `credentials check` found: one verdict per credential, never the
/// credential itself.
#[derive(Debug)]
pub struct CredentialCheck {
    /// The connector's name (its manifest's), which the verdict is about.
    pub vendor: String,
    /// The vendor credential, checked through the component.
    pub source: std::result::Result<(), String>,
    /// The Oomnitza API token.
    pub oomnitza: std::result::Result<(), String>,
}

impl CredentialCheck {
    /// Whether every credential works.
    pub fn ok(&self) -> bool {
        self.source.is_ok() && self.oomnitza.is_ok()
    }
}

/// `credentials check`: proves each credential works, returning only the
/// verdicts. The vendor's is checked through the component (one record),
/// so the token goes exactly where a sync sends it.
pub async fn check_credentials(integration: &Integration) -> CredentialCheck {
    let source = async {
        let mut inst = integration.instance().await?;
        let req = crate::bindings::FetchRequest {
            kind: crate::bindings::RecordKind::Users,
            cursor: None,
            page_size: 1,
            options: integration.fetch_options.clone(),
            sync_time: crate::clock::now(),
            read_ahead: false,
        };
        match inst.fetch(&req).await? {
            Ok(_) => anyhow::Ok(()),
            Err(e) => match integration.policy.credential_failure() {
                Some(f) => bail!("{f}"),
                None => bail!("{}", describe_error(&e)),
            },
        }
    };
    let source = source.await.map_err(|e| format!("{e:#}"));
    let oomnitza = match &integration.oomnitza_token {
        Some(t) => {
            match crate::oomnitza::OomnitzaClient::new(&integration.config.oomnitza.url, t, 1) {
                Ok(c) => c.check_auth().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        None => Err("no token configured".into()),
    };
    CredentialCheck {
        vendor: integration.manifest.name.clone(),
        source,
        oomnitza,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::HostRequirement;

    const CONFIG: &str = r#"
[integration]
name = "t"
[component]
path = "c.wasm"
[source]
token = { env = "T" }
[oomnitza]
url = "https://acme.oomnitza.com"
"#;

    fn manifest(hosts: &[(&str, CredentialKind)]) -> Manifest {
        Manifest {
            name: "m".into(),
            display_name: "M".into(),
            version: "1".into(),
            record_kinds: vec![],
            fields: vec![],
            default_mapping: MappingSpec {
                rules: vec![],
                filters: vec![],
                sync_key: vec![],
            },
            hosts: hosts
                .iter()
                .map(|(o, c)| HostRequirement {
                    origin: (*o).into(),
                    credential: *c,
                    scopes: vec![],
                    purpose: "p".into(),
                })
                .collect(),
            fetch_options: vec![],
            actions: vec![],
            max_page_size: 1000,
        }
    }

    fn bound(config: &str, hosts: &[(&str, CredentialKind)]) -> Result<Vec<String>> {
        let config = Config::parse(config)?;
        let bearer = Bearer::Static(Secret::new("tok".into()));
        let (policy, _) = build_policy(&config, &manifest(hosts), Some(bearer))?;
        Ok(policy.bearer.iter().map(|(t, _)| t.to_string()).collect())
    }

    use CredentialKind::{None as NoCred, Oauth2Bearer as Bearer2};

    #[test]
    fn the_credential_goes_to_one_origin_only() {
        let got = bound(
            CONFIG,
            &[
                ("https://api.vendor.com", Bearer2),
                ("https://collector.example.com", Bearer2),
            ],
        )
        .unwrap();
        assert_eq!(got, ["https://api.vendor.com:443"]);
    }

    #[test]
    fn a_host_asking_for_nothing_is_skipped_by_the_default() {
        let got = bound(
            CONFIG,
            &[
                ("https://cdn.vendor.com", NoCred),
                ("https://api.vendor.com", Bearer2),
            ],
        )
        .unwrap();
        assert_eq!(got, ["https://api.vendor.com:443"]);
    }

    #[test]
    fn a_plain_http_first_host_is_never_bound_by_default() {
        for origin in ["http://collector.example.com", "http://127.0.0.1:9"] {
            let err = bound(
                CONFIG,
                &[(origin, Bearer2), ("https://api.vendor.com", Bearer2)],
            )
            .unwrap_err();
            assert!(format!("{err:#}").contains("source.origin"), "{err:#}");
        }
    }

    #[test]
    fn the_operators_allowlist_decides_what_is_accepted() {
        let config = format!("{CONFIG}[sandbox]\nallow = [\"https://api.vendor.com\"]\n");
        let got = bound(
            &config,
            &[
                ("https://collector.example.com", Bearer2),
                ("https://api.vendor.com", Bearer2),
            ],
        )
        .unwrap();
        assert_eq!(got, ["https://api.vendor.com:443"]);
    }

    #[test]
    fn an_explicit_loopback_origin_is_the_operators_opt_in() {
        let config = CONFIG.replace(
            "[source]\n",
            "[source]\norigin = \"http://127.0.0.1:4011\"\n",
        );
        let got = bound(
            &config,
            &[
                ("https://api.vendor.com", Bearer2),
                ("http://127.0.0.1:4011", Bearer2),
            ],
        )
        .unwrap();
        assert_eq!(got, ["http://127.0.0.1:4011"]);
        let config = CONFIG.replace("[source]\n", "[source]\norigin = \"http://10.0.0.5\"\n");
        let err = Config::parse(&config).unwrap_err();
        assert!(
            format!("{err:#}").contains("only sent over https"),
            "{err:#}"
        );
    }

    #[test]
    fn typos_in_targets_are_named_with_the_closest_field() {
        let rule = |t: &str| MappingRule {
            target: t.into(),
            source: RuleSource::Field("email".into()),
            transforms: vec![],
            required: false,
        };
        let spec = MappingSpec {
            rules: [
                "USER",
                "FIRSTNAME",
                "dropbox_user_id",
                "Dropbox Id",
                "saas.bogus",
                "saas.role",
                "saas.name",
            ]
            .into_iter()
            .map(rule)
            .collect(),
            filters: vec![],
            sync_key: vec![],
        };
        let problems = target_problems(&spec).join("\n");
        assert!(
            problems.contains("`FIRSTNAME`") && problems.contains("did you mean `FIRST_NAME`?"),
            "{problems}"
        );
        assert!(problems.contains("`Dropbox Id`"), "{problems}");
        assert!(
            problems.contains("`saas.bogus` is not a SaaS-user key"),
            "{problems}"
        );
        assert!(
            problems.contains("`saas.name` is set by the host"),
            "{problems}"
        );
        assert!(
            !problems.contains("target `dropbox_user_id`") && !problems.contains("`saas.role`"),
            "{problems}"
        );
    }

    #[test]
    fn the_email_field_is_the_one_the_smart_mapping_sends_as_email() {
        let rule = |target: &str, field: &str| MappingRule {
            target: target.into(),
            source: RuleSource::Field(field.into()),
            transforms: vec![],
            required: true,
        };
        let mut m = manifest(&[]);
        assert_eq!(email_field(&m), "email", "the default");
        m.default_mapping.rules = vec![rule("USER", "login"), rule("EMAIL", "work_email")];
        assert_eq!(email_field(&m), "work_email");
        let config = Config::parse(CONFIG).unwrap();
        let spec = MappingSpec {
            rules: vec![rule("USER", "work_email"), rule("EMAIL", "work_email")],
            filters: vec![],
            sync_key: vec![],
        };
        let gaps = launch_gaps(&config, &m, &spec).join("\n");
        assert!(!gaps.contains("Email must be mapped"), "{gaps}");
        let spec = MappingSpec {
            rules: vec![rule("USER", "email"), rule("EMAIL", "email")],
            ..spec
        };
        let gaps = launch_gaps(&config, &m, &spec).join("\n");
        assert!(gaps.contains("Email must be mapped to USER"), "{gaps}");
    }

    #[test]
    fn a_smart_mapping_never_chooses_the_role() {
        let mut m = manifest(&[]);
        m.default_mapping.rules.push(MappingRule {
            target: ROLE_TARGET.into(),
            source: RuleSource::Constant(Value::Text("Admin".into())),
            transforms: vec![],
            required: false,
        });
        let spec = effective_spec(&Config::parse(CONFIG).unwrap(), &m).unwrap();
        assert!(spec.rules.iter().all(|r| r.target != ROLE_TARGET));
        let config = CONFIG.replace(
            "url = \"https://acme.oomnitza.com\"",
            "url = \"https://acme.oomnitza.com\"\nrole = 25",
        );
        let spec = effective_spec(&Config::parse(&config).unwrap(), &m).unwrap();
        let roles: Vec<_> = spec
            .rules
            .iter()
            .filter(|r| r.target == ROLE_TARGET)
            .collect();
        assert_eq!(roles.len(), 1);
        assert!(matches!(
            roles[0].source,
            RuleSource::Constant(Value::Integer(25))
        ));
    }
}
