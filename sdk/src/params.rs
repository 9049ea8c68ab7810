//! Checks an action's parameters against its declared [`ParamInfo`]s.
//!
//! Vendor-neutral. The rules, each a whole-call `invalid-input`:
//! - every given name must be declared, and given at most once;
//! - a value must have the declared type; `null` means "not given";
//! - text is trimmed, and empty text also means "not given";
//! - a required parameter must be given; an optional one not given takes
//!   its declared default (or stays absent).

use crate::types::{ConnectorError, ParamInfo, Value, ValueType};

/// The checked parameters of one call: every declared parameter, with the
/// caller's value, its default, or [`Value::Null`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    values: Vec<(String, Value)>,
}

impl Params {
    /// The value of `name` (`null` if absent or undeclared).
    pub fn get(&self, name: &str) -> &Value {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&Value::Null, |(_, v)| v)
    }

    /// A boolean parameter; absent counts as `false`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Value::Boolean(true))
    }

    /// A text parameter, trimmed and non-empty, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Value::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The effective parameters: each declared one that has a value (given
    /// or defaulted), in declaration order; absent ones are left out.
    pub fn effective(&self) -> Vec<(String, Value)> {
        self.values
            .iter()
            .filter(|(_, v)| *v != Value::Null)
            .cloned()
            .collect()
    }
}

/// Checks `given` against `declared` for the action `action`.
pub fn check(
    action: &str,
    declared: &[ParamInfo],
    given: Vec<(String, Value)>,
) -> Result<Params, ConnectorError> {
    let invalid = |m: String| Err(ConnectorError::InvalidInput(m));
    let mut values: Vec<(String, Option<Value>)> =
        declared.iter().map(|p| (p.name.clone(), None)).collect();
    let mut seen: Vec<String> = Vec::with_capacity(given.len());
    for (name, value) in given {
        if seen.contains(&name) {
            return invalid(format!("parameter `{name}` is given more than once"));
        }
        let Some(i) = declared.iter().position(|p| p.name == name) else {
            let accepted = if declared.is_empty() {
                "it takes no parameters".to_owned()
            } else {
                let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
                format!("it accepts: {}", names.join(", "))
            };
            return invalid(format!(
                "unknown parameter `{name}` for action `{action}` ({accepted})"
            ));
        };
        let info = &declared[i];
        let value = match value {
            Value::Null => None,
            Value::Text(t) if info.ty == ValueType::Text => {
                let trimmed = t.trim();
                (!trimmed.is_empty()).then(|| Value::Text(trimmed.to_owned()))
            }
            v if info.ty.admits(&v) => Some(v),
            other => {
                return invalid(format!(
                    "parameter `{name}` must be {}, not {}",
                    expected(info.ty),
                    other.kind_name()
                ));
            }
        };
        values[i].1 = value;
        seen.push(name);
    }
    let mut checked = Vec::with_capacity(values.len());
    for ((name, value), info) in values.into_iter().zip(declared) {
        let value = match value {
            Some(v) => v,
            None if info.required => {
                return invalid(format!("parameter `{name}` is required"));
            }
            None => info.default.clone().unwrap_or(Value::Null),
        };
        checked.push((name, value));
    }
    Ok(Params { values: checked })
}

fn expected(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Text => "text",
        ValueType::Boolean => "a boolean",
        ValueType::Integer => "an integer",
        ValueType::Timestamp => "a timestamp",
        ValueType::TextList => "a text-list",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, ty: ValueType, required: bool, default: Option<Value>) -> ParamInfo {
        ParamInfo {
            name: name.to_owned(),
            label: name.to_owned(),
            description: String::new(),
            ty,
            required,
            default,
        }
    }

    fn declared() -> Vec<ParamInfo> {
        vec![
            param(
                "flag",
                ValueType::Boolean,
                false,
                Some(Value::Boolean(false)),
            ),
            param("note", ValueType::Text, false, None),
            param("role", ValueType::Text, true, None),
            param("count", ValueType::Integer, false, None),
        ]
    }

    fn given(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect()
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn defaults_trimming_and_nulls() {
        let p = check(
            "act",
            &declared(),
            given(&[
                ("role", text("  Team admin ")),
                ("note", text("   ")),
                ("flag", Value::Null),
            ]),
        )
        .expect("valid");
        assert_eq!(p.text("role"), Some("Team admin"));
        assert_eq!(p.text("note"), None);
        assert_eq!(p.get("flag"), &Value::Boolean(false));
        assert!(!p.flag("flag"));
        assert_eq!(p.get("count"), &Value::Null);
        assert_eq!(p.get("undeclared"), &Value::Null);
        let p = check(
            "act",
            &declared(),
            given(&[("role", text("x")), ("flag", Value::Boolean(true))]),
        )
        .expect("valid");
        assert!(p.flag("flag"));
        // Declaration order; the absent (no value, no default) left out.
        assert_eq!(
            p.effective(),
            vec![
                ("flag".to_owned(), Value::Boolean(true)),
                ("role".to_owned(), text("x")),
            ]
        );
    }

    #[test]
    fn rejects_unknown_repeated_ill_typed_and_missing() {
        let err = |pairs: &[(&str, Value)]| match check("act", &declared(), given(pairs)) {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        assert_eq!(
            err(&[("role", text("x")), ("colour", text("red"))]),
            "unknown parameter `colour` for action `act` (it accepts: flag, note, role, count)"
        );
        assert_eq!(
            err(&[("role", text("x")), ("role", text("y"))]),
            "parameter `role` is given more than once"
        );
        assert_eq!(
            err(&[("role", text("x")), ("flag", text("yes"))]),
            "parameter `flag` must be a boolean, not text"
        );
        assert_eq!(
            err(&[("role", text("x")), ("count", Value::Boolean(true))]),
            "parameter `count` must be an integer, not boolean"
        );
        assert_eq!(
            err(&[("role", Value::TextList(vec!["x".into()]))]),
            "parameter `role` must be text, not text-list"
        );
        assert_eq!(err(&[]), "parameter `role` is required");
        assert_eq!(err(&[("role", text(" "))]), "parameter `role` is required");
        assert_eq!(
            check("none", &[], given(&[("x", Value::Null)])),
            Err(ConnectorError::InvalidInput(
                "unknown parameter `x` for action `none` (it takes no parameters)".into()
            ))
        );
    }
}
