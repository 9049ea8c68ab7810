//! The manifest as `describe` shows it: a table for people, JSON for
//! machines. Every text in a manifest comes from the component; the CLI
//! prints it through `term`, which escapes control characters.

use serde_json::{Value as Json, json};

use crate::bindings::{Manifest, MappingRule, RuleSource, Transform, Value, ValueType};

/// A config with only the required keys, for describing a bare component.
pub fn minimal_config() -> String {
    r#"
[integration]
name = "describe"
[component]
path = "connector.wasm"
[source]
[oomnitza]
url = "https://example.oomnitza.com"
"#
    .to_string()
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
