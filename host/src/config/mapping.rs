//! `[mapping]`: the operator's mapping rules and filters, converted to the
//! contract's mapping spec. Absent, the connector's smart mapping is used.

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::bindings::{
    Condition, Filter, FilterEffect, MappingRule, MappingSpec, RuleSource, SplitSpec, Transform,
    Value,
};

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
