//! Transforms, compiled once per spec and applied to owned values (in place
//! where the value allows it).
//!
//! | transform | text | text-list | timestamp | boolean, integer | null |
//! |---|---|---|---|---|---|
//! | lower-case, upper-case, trim | applied | each element | unchanged | unchanged | null |
//! | date-format | parsed as RFC 3339, formatted | each element | formatted | fails the record | null |
//! | split | part or null | each element (out-of-range parts dropped) | on its text | on its text form | null |
//! | join | unchanged | joined to text | unchanged | unchanged | null |
//! | lookup | exact match on text form | each element (a null replacement drops it) | on its text | on its text form | looked up as `""` |
//! | default | when empty | when empty | when empty | unchanged | replaced |
//!
//! Empty text under date-format is null. Case changes are Unicode-aware
//! (ASCII text is changed in place).

use std::borrow::Cow;
use std::collections::HashMap;

use super::date::{self, DatePiece};
use super::text_form;
use crate::types::{Transform, Value};

/// A compiled transform.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    LowerCase,
    UpperCase,
    Trim,
    DateFormat {
        pattern: &'a str,
        pieces: Vec<DatePiece<'a>>,
    },
    Split {
        separator: &'a str,
        index: i32,
    },
    Join(&'a str),
    Lookup(HashMap<&'a str, &'a Value>),
    Default(&'a Value),
}

impl<'a> Step<'a> {
    /// Compiles `transform`; the error says what is wrong, without the rule
    /// (the caller adds it).
    pub(crate) fn compile(transform: &'a Transform) -> Result<Self, String> {
        Ok(match transform {
            Transform::LowerCase => Step::LowerCase,
            Transform::UpperCase => Step::UpperCase,
            Transform::Trim => Step::Trim,
            Transform::DateFormat(pattern) => Step::DateFormat {
                pattern,
                pieces: date::compile_pattern(pattern)
                    .map_err(|e| format!("{e} in date-format `{pattern}`"))?,
            },
            Transform::Split(split) => {
                if split.separator.is_empty() {
                    return Err("split has an empty separator".to_owned());
                }
                Step::Split {
                    separator: &split.separator,
                    index: split.index,
                }
            }
            Transform::Join(separator) => Step::Join(separator),
            Transform::Lookup(table) => {
                let mut map = HashMap::with_capacity(table.len());
                for (key, value) in table {
                    // The first entry for a key wins.
                    map.entry(key.as_str()).or_insert(value);
                }
                Step::Lookup(map)
            }
            Transform::Default(value) => Step::Default(value),
        })
    }

    /// Whether [`Self::apply`] would give `value` back unchanged (so it need
    /// not be copied). `false` when unsure.
    pub(crate) fn keeps(&self, value: &Value) -> bool {
        let texts = |ok: fn(&str) -> bool| match value {
            Value::Text(s) => ok(s),
            Value::TextList(items) => items.iter().all(|s| ok(s)),
            _ => true,
        };
        match self {
            Step::LowerCase => {
                texts(|s| s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()))
            }
            Step::UpperCase => {
                texts(|s| s.is_ascii() && !s.bytes().any(|b| b.is_ascii_lowercase()))
            }
            Step::Trim => texts(|s| s.trim().len() == s.len()),
            Step::Join(_) => !matches!(value, Value::TextList(_)),
            Step::Default(_) => !value.is_empty(),
            _ => false,
        }
    }

    /// Applies the step; an error is the reason the record fails.
    pub(crate) fn apply(&self, value: Value) -> Result<Value, String> {
        Ok(match self {
            Step::LowerCase => map_text(value, lower_case),
            Step::UpperCase => map_text(value, upper_case),
            Step::Trim => map_text(value, trim),
            Step::DateFormat { pattern, pieces } => match value {
                Value::Null => Value::Null,
                Value::Text(s) | Value::Timestamp(s) => {
                    if s.is_empty() {
                        Value::Null
                    } else {
                        Value::Text(format_date(&s, pattern, pieces)?)
                    }
                }
                Value::TextList(items) => Value::TextList(
                    items
                        .iter()
                        .map(|s| format_date(s, pattern, pieces))
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(format!(
                        "date-format `{pattern}` cannot format {} values",
                        other.kind_name()
                    ));
                }
            },
            Step::Split { separator, index } => match value {
                Value::Null => Value::Null,
                Value::TextList(items) => Value::TextList(
                    items
                        .iter()
                        .filter_map(|s| split_part(s, separator, *index))
                        .map(str::to_owned)
                        .collect(),
                ),
                other => split_part(&text_form(&other), separator, *index)
                    .map_or(Value::Null, |part| Value::Text(part.to_owned())),
            },
            Step::Join(separator) => match value {
                Value::TextList(items) => Value::Text(items.join(separator)),
                other => other,
            },
            Step::Lookup(table) => lookup(table, value),
            Step::Default(default) => {
                if value.is_empty() {
                    (*default).clone()
                } else {
                    value
                }
            }
        })
    }
}

fn map_text(value: Value, f: fn(String) -> String) -> Value {
    match value {
        Value::Text(s) => Value::Text(f(s)),
        Value::TextList(items) => Value::TextList(items.into_iter().map(f).collect()),
        other => other,
    }
}

fn lower_case(mut s: String) -> String {
    if s.is_ascii() {
        s.make_ascii_lowercase();
        s
    } else {
        s.to_lowercase()
    }
}

fn upper_case(mut s: String) -> String {
    if s.is_ascii() {
        s.make_ascii_uppercase();
        s
    } else {
        s.to_uppercase()
    }
}

fn trim(mut s: String) -> String {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    s.drain(..start);
    s
}

fn format_date(text: &str, pattern: &str, pieces: &[DatePiece<'_>]) -> Result<String, String> {
    date::parse_rfc3339(text)
        .map(|at| date::format(&at, pieces))
        .ok_or_else(|| format!("cannot read {text:?} as a date for date-format `{pattern}`"))
}

fn split_part<'s>(text: &'s str, separator: &str, index: i32) -> Option<&'s str> {
    if index >= 0 {
        text.split(separator).nth(index.unsigned_abs() as usize)
    } else {
        text.rsplit(separator)
            .nth(index.unsigned_abs() as usize - 1)
    }
}

fn lookup(table: &HashMap<&str, &Value>, value: Value) -> Value {
    match value {
        Value::TextList(items) => {
            if !items.iter().any(|s| table.contains_key(s.as_str())) {
                return Value::TextList(items);
            }
            Value::TextList(
                items
                    .into_iter()
                    .filter_map(|s| match table.get(s.as_str()) {
                        None => Some(s),
                        Some(Value::Null) => None,
                        Some(replacement) => Some(text_form(replacement).into_owned()),
                    })
                    .collect(),
            )
        }
        other => {
            let found = match text_form(&other) {
                Cow::Borrowed(key) => table.get(key),
                Cow::Owned(key) => table.get(key.as_str()),
            };
            match found {
                Some(replacement) => (*replacement).clone(),
                None => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SplitSpec;

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn list(items: &[&str]) -> Value {
        Value::TextList(items.iter().map(|s| s.to_string()).collect())
    }

    fn apply(transform: Transform, value: Value) -> Result<Value, String> {
        Step::compile(&transform)?.apply(value)
    }

    fn ok(transform: Transform, value: Value) -> Value {
        apply(transform, value).expect("transform succeeds")
    }

    #[test]
    fn keeps_only_what_apply_gives_back() {
        let values = [
            Value::Null,
            text(""),
            text("plain"),
            text("Mixed"),
            text("UPPER"),
            text(" padded "),
            text("straße"),
            Value::Integer(3),
            Value::Boolean(true),
            Value::Timestamp("2015-05-12T15:50:38Z".into()),
            Value::TextList(vec!["a".into(), "B".into()]),
            Value::TextList(vec!["a".into()]),
        ];
        let transforms = [
            Transform::LowerCase,
            Transform::UpperCase,
            Transform::Trim,
            Transform::Join("|".into()),
            Transform::Default(text("d")),
        ];
        for t in transforms {
            let step = Step::compile(&t).expect("valid");
            for v in &values {
                if step.keeps(v) {
                    assert_eq!(
                        step.apply(v.clone()).as_ref(),
                        Ok(v),
                        "{t:?} claims to keep {v:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn case_and_trim() {
        assert_eq!(
            ok(Transform::LowerCase, text("Tami@SeaGull.COM")),
            text("tami@seagull.com")
        );
        assert_eq!(ok(Transform::LowerCase, text("ÉMILE")), text("émile"));
        assert_eq!(ok(Transform::UpperCase, text("straße")), text("STRASSE"));
        assert_eq!(
            ok(Transform::UpperCase, list(&["a", "b"])),
            list(&["A", "B"])
        );
        assert_eq!(ok(Transform::Trim, text("  x y \t\n")), text("x y"));
        assert_eq!(ok(Transform::Trim, list(&[" a", "b "])), list(&["a", "b"]));
        for unchanged in [
            Value::Null,
            Value::Boolean(true),
            Value::Integer(-3),
            Value::Timestamp("2015-05-12T15:50:38Z".into()),
        ] {
            assert_eq!(ok(Transform::UpperCase, unchanged.clone()), unchanged);
            assert_eq!(ok(Transform::Trim, unchanged.clone()), unchanged);
        }
    }

    #[test]
    fn date_format() {
        let f = || Transform::DateFormat("%Y-%m-%d".into());
        assert_eq!(
            ok(f(), Value::Timestamp("2015-05-12T15:50:38Z".into())),
            text("2015-05-12")
        );
        assert_eq!(
            ok(f(), text("2015-05-12T23:50:38-05:00")),
            text("2015-05-13")
        );
        assert_eq!(ok(f(), Value::Null), Value::Null);
        assert_eq!(ok(f(), text("")), Value::Null);
        assert_eq!(
            ok(f(), list(&["2015-05-12T00:00:00Z", "2016-01-01"])),
            list(&["2015-05-12", "2016-01-01"])
        );
        assert_eq!(
            apply(f(), text("last tuesday")),
            Err("cannot read \"last tuesday\" as a date for date-format `%Y-%m-%d`".into())
        );
        assert_eq!(
            apply(f(), Value::Integer(5)),
            Err("date-format `%Y-%m-%d` cannot format integer values".into())
        );
        assert_eq!(
            Step::compile(&Transform::DateFormat("%Y %Q".into())).err(),
            Some("unknown directive `%Q` in date-format `%Y %Q`".into())
        );
    }

    #[test]
    fn split() {
        let s = |index| {
            Transform::Split(SplitSpec {
                separator: "@".into(),
                index,
            })
        };
        assert_eq!(ok(s(0), text("tami@seagull.com")), text("tami"));
        assert_eq!(ok(s(1), text("tami@seagull.com")), text("seagull.com"));
        assert_eq!(ok(s(-1), text("a@b@c")), text("c"));
        assert_eq!(ok(s(-3), text("a@b@c")), text("a"));
        assert_eq!(ok(s(2), text("a@b")), Value::Null);
        assert_eq!(ok(s(-3), text("a@b")), Value::Null);
        assert_eq!(ok(s(i32::MIN), text("a@b")), Value::Null);
        assert_eq!(ok(s(0), Value::Null), Value::Null);
        assert_eq!(ok(s(1), list(&["a@x", "b", "c@y"])), list(&["x", "y"]));
        assert_eq!(ok(s(0), Value::Integer(42)), text("42"));
        assert_eq!(
            Step::compile(&Transform::Split(SplitSpec {
                separator: String::new(),
                index: 0
            }))
            .err(),
            Some("split has an empty separator".into())
        );
    }

    #[test]
    fn join() {
        let j = || Transform::Join(", ".into());
        assert_eq!(ok(j(), list(&["a", "b"])), text("a, b"));
        assert_eq!(ok(j(), list(&[])), text(""));
        assert_eq!(ok(j(), text("a")), text("a"));
        assert_eq!(ok(j(), Value::Null), Value::Null);
    }

    #[test]
    fn lookup() {
        let table = || {
            Transform::Lookup(vec![
                ("full".into(), text("Licensed")),
                ("limited".into(), text("Free")),
                ("true".into(), Value::Integer(1)),
                ("".into(), text("none")),
                ("drop".into(), Value::Null),
                ("full".into(), text("ignored: first entry wins")),
            ])
        };
        assert_eq!(ok(table(), text("full")), text("Licensed"));
        assert_eq!(ok(table(), text("Full")), text("Full"), "exact match only");
        assert_eq!(ok(table(), text("other")), text("other"));
        assert_eq!(ok(table(), Value::Boolean(true)), Value::Integer(1));
        assert_eq!(ok(table(), Value::Null), text("none"));
        assert_eq!(
            ok(table(), list(&["full", "x", "drop", "true"])),
            list(&["Licensed", "x", "1"])
        );
    }

    #[test]
    fn default() {
        let d = || Transform::Default(text("n/a"));
        assert_eq!(ok(d(), Value::Null), text("n/a"));
        assert_eq!(ok(d(), text("")), text("n/a"));
        assert_eq!(ok(d(), list(&[])), text("n/a"));
        assert_eq!(ok(d(), text(" ")), text(" "));
        assert_eq!(ok(d(), Value::Boolean(false)), Value::Boolean(false));
    }
}
