//! A small mapping engine, enough for the host's tests: a 0.3.0 component
//! built without the SDK has to map records itself.

use crate::exports::oomnitza::connector::types::{
    Condition, ConnectorError, FilterEffect, MapFailure, MapOutcome, MappedRecord, MappingSpec,
    RuleSource, SourceRecord, Transform, Value,
};

/// A spec checked against the catalog: field names resolved to positions.
pub struct Compiled {
    rules: Vec<(String, Source, Vec<Transform>, bool)>,
    filters: Vec<(usize, Condition, FilterEffect, String)>,
    names: Vec<&'static str>,
}

enum Source {
    Field(usize),
    Constant(Value),
    FirstOf(Vec<usize>),
    /// Literal text and field positions, in order.
    Template(Vec<Result<String, usize>>),
}

fn invalid(why: String) -> ConnectorError {
    ConnectorError::InvalidInput(why)
}

impl Compiled {
    pub fn new(spec: &MappingSpec, names: &[&'static str]) -> Result<Compiled, ConnectorError> {
        let at = |target: &str, field: &str| {
            names.iter().position(|n| *n == field).ok_or_else(|| {
                invalid(format!(
                    "rule `{target}`: unknown field `{field}` (fields: {})",
                    names.join(", ")
                ))
            })
        };
        let mut rules = Vec::new();
        for r in &spec.rules {
            let source = match &r.source {
                RuleSource::Field(f) => Source::Field(at(&r.target, f)?),
                RuleSource::Constant(v) => Source::Constant(v.clone()),
                RuleSource::FirstOf(fs) => Source::FirstOf(
                    fs.iter()
                        .map(|f| at(&r.target, f))
                        .collect::<Result<_, _>>()?,
                ),
                RuleSource::Template(t) => Source::Template(template(&r.target, t, &at)?),
            };
            for t in &r.transforms {
                if !matches!(
                    t,
                    Transform::LowerCase
                        | Transform::UpperCase
                        | Transform::Trim
                        | Transform::Default(_)
                ) {
                    return Err(invalid(format!(
                        "rule `{}`: this test component supports only the lower-case, upper-case, trim and default transforms",
                        r.target
                    )));
                }
            }
            rules.push((r.target.clone(), source, r.transforms.clone(), r.required));
        }
        let mut filters = Vec::new();
        for f in &spec.filters {
            if !matches!(f.condition, Condition::OneOf(_) | Condition::IsEmpty) {
                return Err(invalid(format!(
                    "filter on `{}`: this test component supports only one-of and is-empty",
                    f.field
                )));
            }
            filters.push((
                at("filter", &f.field)?,
                f.condition.clone(),
                f.effect,
                f.field.clone(),
            ));
        }
        for key in &spec.sync_key {
            if !spec.rules.iter().any(|r| r.target == *key) {
                return Err(invalid(format!("sync key `{key}` has no rule")));
            }
        }
        Ok(Compiled {
            rules,
            filters,
            names: names.to_vec(),
        })
    }

    /// One record's outcome.
    pub fn map(&self, record: SourceRecord) -> MapOutcome {
        let values = &record.values;
        let get = |i: usize| values.get(i).cloned().unwrap_or(Value::Null);
        let mut included = true;
        for (i, condition, effect, field) in &self.filters {
            let hit = matches(&get(*i), condition);
            match effect {
                FilterEffect::Exclude if hit => {
                    return MapOutcome::Filtered(format!("excluded by the filter on `{field}`"));
                }
                FilterEffect::Include if !hit => included = false,
                _ => {}
            }
            if !included {
                return MapOutcome::Filtered(format!("not included by the filter on `{field}`"));
            }
        }
        let mut out = Vec::with_capacity(self.rules.len());
        for (target, source, transforms, required) in &self.rules {
            let mut v = match source {
                Source::Field(i) => get(*i),
                Source::Constant(c) => c.clone(),
                Source::FirstOf(is) => is
                    .iter()
                    .map(|i| get(*i))
                    .find(|v| !empty(v))
                    .unwrap_or(Value::Null),
                Source::Template(parts) => Value::Text(
                    parts
                        .iter()
                        .map(|p| match p {
                            Ok(text) => text.clone(),
                            Err(i) => match get(*i) {
                                Value::Text(t) | Value::Timestamp(t) => t,
                                _ => String::new(),
                            },
                        })
                        .collect(),
                ),
            };
            for t in transforms {
                v = apply(t, v);
            }
            if *required && empty(&v) {
                return MapOutcome::Failed(MapFailure {
                    source_id: record.id.clone(),
                    reason: format!("{target} is required but empty"),
                    raw: self
                        .names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| ((*n).to_owned(), get(i)))
                        .collect(),
                });
            }
            out.push(v);
        }
        MapOutcome::Mapped(MappedRecord {
            source_id: record.id,
            values: out,
        })
    }
}

fn template(
    target: &str,
    text: &str,
    at: &dyn Fn(&str, &str) -> Result<usize, ConnectorError>,
) -> Result<Vec<Result<String, usize>>, ConnectorError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        parts.push(Ok(rest[..open].to_owned()));
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| invalid(format!("rule `{target}`: unclosed `{{` in the template")))?;
        parts.push(Err(at(target, &rest[open + 1..open + close])?));
        rest = &rest[open + close + 1..];
    }
    parts.push(Ok(rest.to_owned()));
    Ok(parts)
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Text(t) => t.is_empty(),
        Value::TextList(l) => l.is_empty(),
        _ => false,
    }
}

fn matches(v: &Value, condition: &Condition) -> bool {
    match condition {
        Condition::IsEmpty => empty(v),
        Condition::OneOf(options) => match v {
            Value::Text(t) => options.contains(t),
            Value::TextList(l) => l.iter().any(|t| options.contains(t)),
            _ => false,
        },
        _ => false,
    }
}

fn apply(t: &Transform, v: Value) -> Value {
    match (t, v) {
        (Transform::LowerCase, Value::Text(s)) => Value::Text(s.to_lowercase()),
        (Transform::UpperCase, Value::Text(s)) => Value::Text(s.to_uppercase()),
        (Transform::Trim, Value::Text(s)) => Value::Text(s.trim().to_owned()),
        (Transform::Default(d), v) if empty(&v) => d.clone(),
        (_, v) => v,
    }
}
