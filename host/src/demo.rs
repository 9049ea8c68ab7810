//! `oomnitza-connect demo`: a real sync, end to end, against the bundled
//! fake Dropbox and fake Oomnitza on loopback. Also the manifest printers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use connector_fakes::{DropboxConfig, FakeDropbox, FakeOomnitza, OomnitzaConfig, Team};
use serde_json::{Value as Json, json};

use crate::bindings::{Manifest, MappingRule, RuleSource, Transform, Value, ValueType};
use crate::config::Config;
use crate::credentials::write_secrets_file;
use crate::integration::Integration;
use crate::sync::{self, SyncOptions};
use crate::term::{errln, outln};

/// Where `cargo build --release --target wasm32-wasip2 -p dropbox-connector`
/// puts the component, relative to the workspace.
pub const COMPONENT_REL: &str = "target/wasm32-wasip2/release/dropbox_connector.wasm";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Members in the simulated Dropbox team.
    #[arg(long, default_value_t = 2500)]
    pub members: usize,
    /// Seed of the simulated team (same seed, same team).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The connector component (default: the workspace's release build).
    #[arg(long, env = "DROPBOX_CONNECTOR_WASM")]
    pub component: Option<PathBuf>,
    /// Folder for the demo's config and secrets (default: a new temp folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// After the sync, keep the simulators running and serve the web
    /// console on loopback until Ctrl-C.
    #[arg(long)]
    pub console: bool,
}

/// Finds the component: the flag, else the release build next to the
/// current folder or next to this crate's workspace.
pub fn find_component(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return std::path::absolute(p).context("component path");
    }
    let candidates = [
        PathBuf::from(COMPONENT_REL),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(COMPONENT_REL),
    ];
    for c in &candidates {
        if c.is_file() {
            return std::path::absolute(c).context("component path");
        }
    }
    bail!(
        "the Dropbox connector component is not built (looked for {}); build it with `cargo build --release --target wasm32-wasip2 -p dropbox-connector`, or pass --component",
        COMPONENT_REL
    )
}

/// A config with only the required keys, for describing a bare component.
pub fn minimal_config() -> String {
    r#"
[integration]
name = "describe"
[component]
path = "connector.wasm"
[dropbox]
[oomnitza]
url = "https://example.oomnitza.com"
"#
    .to_string()
}

pub async fn run(args: DemoArgs, progress: bool) -> Result<ExitCode> {
    let component = find_component(args.component.as_deref())?;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            std::path::absolute(d)?
        }
        None => {
            let d =
                std::env::temp_dir().join(format!("oomnitza-connect-demo-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            d
        }
    };
    let team = Team::generate(args.members, args.seed);
    // Demo tokens are random per run; they never leave loopback.
    let dropbox_token = format!("sl.demo-{}", uuid::Uuid::new_v4().simple());
    let oomnitza_token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let dropbox = FakeDropbox::start(DropboxConfig::new(team, dropbox_token.clone()))?;
    let oomnitza = FakeOomnitza::start(OomnitzaConfig::new(oomnitza_token.clone()))?;
    errln!(
        "fake Dropbox  {} ({} members)\nfake Oomnitza {}",
        dropbox.url(),
        args.members,
        oomnitza.url()
    );

    let secrets = dir.join("secrets.toml");
    write_secrets_file(
        &secrets,
        &[
            ("dropbox_token", &dropbox_token),
            ("oomnitza_token", &oomnitza_token),
        ],
    )?;
    let config_path = dir.join("oomnitza-connect.toml");
    std::fs::write(
        &config_path,
        demo_config(&component, &dropbox.url(), &oomnitza.url()),
    )?;
    errln!("config        {}\n", config_path.display());

    let config = Config::load(&config_path)?;
    let integration = Integration::prepare(config).await?;
    let report = sync::run(
        &integration,
        &SyncOptions {
            progress,
            ..Default::default()
        },
    )
    .await?;
    outln!("{}\n", report.render());
    print_holdings(&oomnitza);
    outln!(
        "\nrun history: oomnitza-connect --config {} runs",
        config_path.display()
    );
    let db =
        crate::state::StateDb::open(&integration.config.resolve(&integration.config.state.path))?;
    let data = crate::report::ReportData::gather(
        &db,
        &integration.config.integration.name,
        &Default::default(),
    )?;
    let report_path = dir.join("oomnitza-connect-report.html");
    std::fs::write(&report_path, crate::report::render(&data))?;
    outln!("report: {}", report_path.display());
    if args.console {
        let (url, server) = crate::console::start(
            config_path.clone(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await?;
        outln!("console: {url}\n(the simulators keep running; Ctrl-C stops both)");
        let _ = tokio::signal::ctrl_c().await;
        server.abort();
    } else {
        outln!(
            "console: `oomnitza-connect demo --console` (keeps the simulators up) or, on your own config, `oomnitza-connect --config FILE console`"
        );
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The demo's config: the component's smart mapping, every member
/// (removed ones too), and the sandbox allowing only Dropbox's API origin,
/// which the host routes to the fake.
pub fn demo_config(component: &Path, dropbox_url: &str, oomnitza_url: &str) -> String {
    format!(
        r#"# Written by `oomnitza-connect demo`; a working example to copy.
[integration]
name = "Dropbox Users"
mode = "user-only"                 # or "user-plus-saas" (needs [saas])
preference = "create-and-update"   # or "create-only", "update-only"

[schedule]
every = "daily"
at = "02:00"
timezone = "UTC"

[component]
path = {component:?}

[dropbox]
url = "{dropbox_url}"              # where https://api.dropboxapi.com is served (a fake here)
token = {{ file = "secrets.toml", key = "dropbox_token" }}
page_size = 1000
include_removed = true

[oomnitza]
url = "{oomnitza_url}"
token = {{ file = "secrets.toml", key = "oomnitza_token" }}
batch_size = 100
role = 25                          # the Oomnitza role (PERMISSIONS_ID) synced users get; you choose it

[actions]
safe = ["get-user-role"]           # runs without asking; every other action asks first (or needs --yes)

[sandbox]
allow = ["https://api.dropboxapi.com"]   # the hosts you accept; the credential goes to the first (or dropbox.origin)
allow_loopback = true              # the fakes listen on 127.0.0.1; real deployments leave this off

# No [mapping]: the connector's smart mapping (see `oomnitza-connect describe`).
"#,
        component = component.display().to_string()
    )
}

fn print_holdings(oomnitza: &FakeOomnitza) {
    let users = oomnitza.users();
    outln!("fake Oomnitza now holds {} users", users.len());
    for p in oomnitza.portions() {
        outln!(
            "  portion {}: {} batches, {} records ({} created, {} updated, {} unchanged, {} failed), {}",
            p.id,
            p.batches,
            p.records,
            p.created,
            p.updated,
            p.unchanged,
            p.failed,
            if p.finalized {
                "finalized"
            } else {
                "NOT finalized"
            }
        );
    }
    for u in users.iter().take(3) {
        outln!(
            "  e.g. {}",
            Json::Object(u.as_object().cloned().unwrap_or_default())
        );
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Text => "text",
        ValueType::Boolean => "boolean",
        ValueType::Integer => "integer",
        ValueType::Timestamp => "timestamp",
        ValueType::TextList => "text-list",
    }
}

fn value_json(v: &Value) -> Json {
    crate::bindings::to_json(v.clone())
}

fn rule_text(r: &MappingRule) -> String {
    let src = match &r.source {
        RuleSource::Field(f) => f.clone(),
        RuleSource::Constant(v) => format!("constant {}", value_json(v)),
        RuleSource::FirstOf(fs) => format!("first of {}", fs.join(", ")),
        RuleSource::Template(t) => format!("template {t:?}"),
    };
    let ts: Vec<String> = r.transforms.iter().map(transform_text).collect();
    format!(
        "{:<18} ← {src}{}{}",
        r.target,
        if ts.is_empty() {
            String::new()
        } else {
            format!(" | {}", ts.join(" | "))
        },
        if r.required { "  (required)" } else { "" }
    )
}

fn transform_text(t: &Transform) -> String {
    match t {
        Transform::LowerCase => "lower-case".into(),
        Transform::UpperCase => "upper-case".into(),
        Transform::Trim => "trim".into(),
        Transform::DateFormat(p) => format!("date-format {p:?}"),
        Transform::Split(s) => format!("split {:?} [{}]", s.separator, s.index),
        Transform::Join(s) => format!("join {s:?}"),
        Transform::Lookup(t) => format!("lookup ({} entries)", t.len()),
        Transform::Default(v) => format!("default {}", value_json(v)),
    }
}

/// The manifest for people.
pub fn render_manifest(m: &Manifest) -> String {
    let mut s = format!("{} ({}) {}\n\nfields:\n", m.display_name, m.name, m.version);
    for f in &m.fields {
        s.push_str(&format!(
            "  {:<24} {:<10} {:<24} {}\n",
            f.name,
            type_name(f.type_),
            f.label,
            f.description
        ));
    }
    s.push_str("\ndefault mapping:\n");
    for r in &m.default_mapping.rules {
        if r.target == crate::config::ROLE_TARGET {
            s.push_str(&format!(
                "  {}   (not used: the role is yours to choose with oomnitza.role)\n",
                rule_text(r)
            ));
        } else {
            s.push_str(&format!("  {}\n", rule_text(r)));
        }
    }
    if !m
        .default_mapping
        .rules
        .iter()
        .any(|r| r.target == crate::config::ROLE_TARGET)
    {
        s.push_str("  PERMISSIONS_ID: set oomnitza.role = <role id> (required)\n");
    }
    s.push_str(&format!(
        "  sync key: {}\n\nhosts:\n",
        m.default_mapping.sync_key.join(", ")
    ));
    for h in &m.hosts {
        s.push_str(&format!(
            "  {} ({:?}; scopes {}): {}\n",
            h.origin,
            h.credential,
            h.scopes.join(", "),
            h.purpose
        ));
    }
    s.push_str("\nfetch options:\n");
    for p in &m.fetch_options {
        s.push_str(&format!(
            "  {:<18} {:<10} {}\n",
            p.name,
            type_name(p.type_),
            p.description
        ));
    }
    s.push_str("\nactions:\n");
    if m.actions.is_empty() {
        s.push_str("  (none)\n");
    }
    for a in &m.actions {
        s.push_str(&format!(
            "  {}{}: {}\n",
            a.name,
            if a.destructive { " (destructive)" } else { "" },
            a.description
        ));
        for p in &a.params {
            s.push_str(&format!(
                "    {:<28} {:<10} {}{}\n",
                p.name,
                type_name(p.type_),
                p.description,
                if p.required { " (required)" } else { "" }
            ));
        }
    }
    s
}

/// The manifest as JSON, for tools.
pub fn manifest_json(m: &Manifest) -> String {
    let fields: Vec<Json> = m
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "label": f.label, "description": f.description, "type": type_name(f.type_)}))
        .collect();
    let rules: Vec<Json> = m
        .default_mapping
        .rules
        .iter()
        .map(|r| json!(rule_text(r)))
        .collect();
    let hosts: Vec<Json> = m
        .hosts
        .iter()
        .map(|h| json!({"origin": h.origin, "credential": format!("{:?}", h.credential), "scopes": h.scopes, "purpose": h.purpose}))
        .collect();
    let actions: Vec<Json> = m
        .actions
        .iter()
        .map(|a| {
            json!({"name": a.name, "label": a.label, "description": a.description, "destructive": a.destructive,
                   "params": a.params.iter().map(|p| json!({"name": p.name, "type": type_name(p.type_), "required": p.required, "description": p.description})).collect::<Vec<_>>()})
        })
        .collect();
    let v = json!({
        "name": m.name, "display_name": m.display_name, "version": m.version,
        "record_kinds": m.record_kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>(),
        "fields": fields, "default_mapping": {"rules": rules, "sync_key": m.default_mapping.sync_key},
        "hosts": hosts, "max_page_size": m.max_page_size, "actions": actions,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
