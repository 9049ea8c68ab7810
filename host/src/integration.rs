//! A configured integration, ready to run: the loaded component, its
//! manifest, the sandbox policy built from manifest and config, the
//! credentials, and the effective mapping.
//!
//! Building one is the "launch" gate: it refuses to go on while a mandatory
//! item is missing, naming every missing item at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wasmtime::Engine;
use wasmtime_wasi_http::RequestOptions;

use crate::bindings::{ConnectorError, CredentialKind, Manifest, MappingSpec, RuleSource};
use crate::config::{Config, Mode};
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
    Limits {
        call_timeout: Duration::from_secs(config.limits.call_timeout_secs),
        max_memory_bytes: config.limits.max_memory_mib << 20,
    }
}

impl Integration {
    /// Loads everything and runs the launch check. `need_oomnitza` is false
    /// for commands that never talk to Oomnitza.
    pub async fn prepare(config: Config) -> Result<Integration> {
        let (engine, component, manifest) = load_manifest(&config).await?;
        let spec = match &config.mapping {
            Some(m) => m.to_spec()?,
            None => manifest.default_mapping.clone(),
        };
        let mut missing = launch_gaps(&config, &manifest, &spec);

        let dropbox_bearer = dropbox_bearer(&config, &mut missing);
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
        let policy = build_policy(&config, &manifest, dropbox_bearer)?;
        let limits = limits(&config);

        // A spec the connector rejects fails here, before any HTTP call.
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
            oomnitza_token,
        })
    }

    /// A fresh sandboxed instance of the connector.
    pub async fn instance(&self) -> Result<ConnectorInstance> {
        let mut inst =
            ConnectorInstance::new(&self.component, self.policy.clone(), self.limits).await?;
        inst.describe().await?;
        Ok(inst)
    }
}

/// Loads one secret, or notes why it is missing.
fn load_secret(
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

/// The Dropbox credential: a long-lived token, or an OAuth refresher.
fn dropbox_bearer(config: &Config, missing: &mut Vec<String>) -> Option<Bearer> {
    let Some(o) = &config.dropbox.oauth else {
        return load_secret(
            config,
            "dropbox.token",
            config.dropbox.token.as_ref(),
            missing,
        )
        .map(Bearer::Static);
    };
    let refresh = load_secret(
        config,
        "dropbox.oauth.refresh_token",
        Some(&o.refresh_token),
        missing,
    );
    let secret = match &o.client_secret {
        Some(src) => Some(load_secret(
            config,
            "dropbox.oauth.client_secret",
            Some(src),
            missing,
        )?),
        None => None,
    };
    let base = config
        .dropbox
        .url
        .clone()
        .unwrap_or_else(|| "https://api.dropboxapi.com".into());
    let token_url = o
        .token_url
        .clone()
        .unwrap_or_else(|| format!("{}/oauth2/token", base.trim_end_matches('/')));
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
    let from_email = |target: &str| {
        spec.rules.iter().any(|r| {
            r.target == target
                && match &r.source {
                    RuleSource::Field(f) => f == "email",
                    RuleSource::FirstOf(fs) => fs.first().is_some_and(|f| f == "email"),
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
    if !spec.rules.iter().any(|r| r.target == "PERMISSIONS_ID") {
        missing.push("mapping: a role (a rule for PERMISSIONS_ID) is required".into());
    }
    if spec.sync_key.is_empty() {
        missing.push("mapping: a sync key is required (e.g. sync_key = [\"EMAIL\"])".into());
    }
    for key in &spec.sync_key {
        let unique = spec.rules.iter().any(|r| {
            r.target == *key
                && matches!(&r.source, RuleSource::Field(f) if UNIQUE_SOURCE_FIELDS.contains(&f.as_str()))
        });
        if !unique {
            missing.push(format!(
                "mapping: sync key {key} must be mapped from a unique field ({})",
                UNIQUE_SOURCE_FIELDS.join(", ")
            ));
        }
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

/// Source fields whose values identify one member.
const UNIQUE_SOURCE_FIELDS: [&str; 4] = ["email", "team_member_id", "account_id", "external_id"];

/// The sandbox policy: declared origins ∩ operator allowlist, the route of
/// each declared origin to its configured URL, and the bearer token bound
/// to the origin that needs it.
fn build_policy(
    config: &Config,
    manifest: &Manifest,
    dropbox_bearer: Option<Bearer>,
) -> Result<Arc<OutboundPolicy>> {
    let declared_entries: Vec<&str> = manifest.hosts.iter().map(|h| h.origin.as_str()).collect();
    let declared = Allowlist::parse(&declared_entries)
        .context("the component's manifest declares an invalid host")?;
    let operator = match &config.sandbox.allow {
        Some(list) => Allowlist::parse(list).context("in sandbox.allow")?,
        None => declared.clone(),
    };
    let allowed = declared.intersect(&operator);

    let mut routes = Vec::new();
    let mut bearer = Vec::new();
    for (i, host) in manifest.hosts.iter().enumerate() {
        let origin_url: http::Uri = host
            .origin
            .parse()
            .with_context(|| format!("manifest host {:?} is not a URL", host.origin))?;
        let origin = Target::from_uri(&origin_url)
            .with_context(|| format!("manifest host {:?} is not an origin", host.origin))?;
        // `dropbox.url` says where the connector's API origin (its first
        // declared host) is served: a proxy, or a fake in tests.
        if i == 0
            && let Some(url) = &config.dropbox.url
        {
            let up: http::Uri = url
                .parse()
                .with_context(|| format!("dropbox.url = {url:?}"))?;
            let (Some(scheme), Some(authority)) = (up.scheme().cloned(), up.authority().cloned())
            else {
                bail!("dropbox.url = {url:?}: expected http(s)://host[:port]");
            };
            routes.push(Route {
                origin: origin.clone(),
                upstream: scheme,
                upstream_authority: authority,
            });
        }
        if host.credential == CredentialKind::Oauth2Bearer
            && let Some(t) = &dropbox_bearer
        {
            bearer.push((origin, t.clone()));
        }
    }
    let l = &config.limits;
    Ok(Arc::new(OutboundPolicy {
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
        timeouts: RequestOptions {
            connect_timeout: Some(Duration::from_secs(config.limits.connect_timeout_secs)),
            first_byte_timeout: Some(Duration::from_secs(config.limits.first_byte_timeout_secs)),
            between_bytes_timeout: Some(Duration::from_secs(
                config.limits.between_bytes_timeout_secs,
            )),
        },
        ..OutboundPolicy::new(allowed)
    }))
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
    }
}

/// `credentials check`: proves each credential works, printing only the
/// verdicts. Dropbox is checked through the component (one member), so the
/// token goes exactly where a sync sends it.
pub async fn check_credentials(integration: &Integration) -> bool {
    let mut ok = true;
    let dropbox = async {
        let mut inst = integration.instance().await?;
        let req = crate::bindings::FetchRequest {
            kind: crate::bindings::RecordKind::Users,
            cursor: None,
            page_size: 1,
            options: vec![],
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
    match dropbox.await {
        Ok(()) => println!("dropbox:  OK (the vendor accepted the credential)"),
        Err(e) => {
            ok = false;
            println!("dropbox:  FAILED: {e:#}");
        }
    }
    let oomnitza = match &integration.oomnitza_token {
        Some(t) => {
            match crate::oomnitza::OomnitzaClient::new(&integration.config.oomnitza.url, t, 1) {
                Ok(c) => c.check_auth().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        None => Err("no token configured".into()),
    };
    match oomnitza {
        Ok(()) => println!("oomnitza: OK (the API token is accepted)"),
        Err(e) => {
            ok = false;
            println!("oomnitza: FAILED: {e}");
        }
    }
    ok
}
