//! Saving a mapping into the operator's TOML file without losing its
//! comments, order or layout (`toml_edit`): only `[mapping]` and
//! `oomnitza.role` are rewritten; every other byte stays as it was.

use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

use crate::bindings::{Condition, FilterEffect, MappingSpec, RuleSource, Transform, Value};

fn to_toml(v: &Value) -> toml_edit::Value {
    match v {
        Value::Null => toml_edit::Value::from(""),
        Value::Text(s) | Value::Timestamp(s) => s.as_str().into(),
        Value::Boolean(b) => (*b).into(),
        Value::Integer(i) => (*i).into(),
        Value::TextList(l) => l.iter().map(String::as_str).collect::<Array>().into(),
    }
}

fn strings(l: &[String]) -> Array {
    l.iter().map(String::as_str).collect()
}

fn transform(t: &Transform) -> toml_edit::Value {
    let one = |k: &str, v: toml_edit::Value| {
        let mut t = InlineTable::new();
        t.insert(k, v);
        toml_edit::Value::InlineTable(t)
    };
    match t {
        Transform::LowerCase => "lower-case".into(),
        Transform::UpperCase => "upper-case".into(),
        Transform::Trim => "trim".into(),
        Transform::DateFormat(p) => one("date-format", p.as_str().into()),
        Transform::Split(s) => {
            let mut inner = InlineTable::new();
            inner.insert("separator", s.separator.as_str().into());
            inner.insert("index", i64::from(s.index).into());
            one("split", toml_edit::Value::InlineTable(inner))
        }
        Transform::Join(s) => one("join", s.as_str().into()),
        Transform::Lookup(pairs) => {
            let mut inner = InlineTable::new();
            for (k, v) in pairs {
                inner.insert(k, to_toml(v));
            }
            one("lookup", toml_edit::Value::InlineTable(inner))
        }
        Transform::Default(v) => one("default", to_toml(v)),
    }
}

/// `spec` as a `[mapping]` table.
pub fn mapping_table(spec: &MappingSpec) -> Table {
    let mut t = Table::new();
    t.insert("sync_key", value(strings(&spec.sync_key)));
    let mut rules = ArrayOfTables::new();
    for r in &spec.rules {
        let mut rt = Table::new();
        rt.insert("target", value(r.target.as_str()));
        match &r.source {
            RuleSource::Field(f) => rt.insert("field", value(f.as_str())),
            RuleSource::Constant(v) => rt.insert("constant", value(to_toml(v))),
            RuleSource::FirstOf(l) => rt.insert("first_of", value(strings(l))),
            RuleSource::Template(s) => rt.insert("template", value(s.as_str())),
        };
        if !r.transforms.is_empty() {
            rt.insert(
                "transforms",
                value(r.transforms.iter().map(transform).collect::<Array>()),
            );
        }
        if r.required {
            rt.insert("required", value(true));
        }
        rules.push(rt);
    }
    t.insert("rules", Item::ArrayOfTables(rules));
    let mut filters = ArrayOfTables::new();
    for f in &spec.filters {
        let mut ft = Table::new();
        ft.insert("field", value(f.field.as_str()));
        ft.insert(
            "effect",
            value(match f.effect {
                FilterEffect::Include => "include",
                FilterEffect::Exclude => "exclude",
            }),
        );
        match &f.condition {
            Condition::OneOf(l) => ft.insert("one_of", value(strings(l))),
            Condition::IsEmpty => ft.insert("is_empty", value(true)),
            Condition::Contains(s) => ft.insert("contains", value(s.as_str())),
            Condition::StartsWith(s) => ft.insert("starts_with", value(s.as_str())),
            Condition::EndsWith(s) => ft.insert("ends_with", value(s.as_str())),
        };
        filters.push(ft);
    }
    if !filters.is_empty() {
        t.insert("filters", Item::ArrayOfTables(filters));
    }
    t
}

/// Rewrites `[mapping]` (and `oomnitza.role`, when given) in `text`,
/// keeping everything else, comments included.
pub fn with_mapping(text: &str, spec: &MappingSpec, role: Option<i64>) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("the config is not valid TOML")?;
    let mut table = mapping_table(spec);
    if let Some(Item::Table(old)) = doc.get("mapping") {
        // Keep the comment above `[mapping]`.
        *table.decor_mut() = old.decor().clone();
    }
    doc.insert("mapping", Item::Table(table));
    if let Some(role) = role {
        let oomnitza = doc
            .entry("oomnitza")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_mut()
            .context("`oomnitza` is not a table")?;
        let decor = oomnitza
            .get("role")
            .and_then(Item::as_value)
            .map(|v| v.decor().clone());
        let mut v = toml_edit::Value::from(role);
        if let Some(d) = decor {
            *v.decor_mut() = d;
        }
        oomnitza.insert("role", Item::Value(v));
    }
    Ok(doc.to_string())
}

/// Saves the mapping into the config file at `path` (written to a
/// temporary file beside it, then renamed: never half a file).
pub fn save_mapping(path: &Path, spec: &MappingSpec, role: Option<i64>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let out = with_mapping(&text, spec, role)?;
    let tmp = path.with_extension("toml.saving");
    std::fs::write(&tmp, out).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::MappingRule;

    #[test]
    fn comments_and_other_tables_survive() {
        let text = "# my integration\n[integration]\nname = \"X\" # keep me\n\n[oomnitza]\nrole = 3 # the role\n\n# the mapping\n[mapping]\nsync_key = [\"OLD\"]\n\n[state]\npath = \"s.db\"\n";
        let spec = MappingSpec {
            rules: vec![MappingRule {
                target: "USER".into(),
                source: RuleSource::Field("email".into()),
                transforms: vec![Transform::LowerCase],
                required: true,
            }],
            filters: vec![],
            sync_key: vec!["USER".into()],
        };
        let out = with_mapping(text, &spec, Some(25)).unwrap();
        assert!(
            out.starts_with("# my integration\n[integration]\nname = \"X\" # keep me\n"),
            "{out}"
        );
        assert!(out.contains("role = 25 # the role"), "{out}");
        assert!(out.contains("# the mapping\n[mapping]"), "{out}");
        assert!(out.contains("[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\ntransforms = [\"lower-case\"]\nrequired = true"), "{out}");
        assert!(out.contains("[state]\npath = \"s.db\""), "{out}");
        assert!(out.parse::<DocumentMut>().is_ok());
    }
}
