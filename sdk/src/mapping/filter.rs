//! Filters, evaluated on source values before mapping.
//!
//! A value is compared by its text form, ASCII case-insensitively: text and
//! timestamps as they are, booleans as `true`/`false`, integers in decimal,
//! null as empty text; a text-list matches when any element does (`is-empty`
//! asks whether the list itself is empty). No comparison allocates except
//! for integers.

use super::field_index;
use crate::types::{Condition, Filter, FilterEffect, Value};

#[derive(Debug)]
enum Test<'a> {
    OneOf(&'a [String]),
    IsEmpty,
    Contains(&'a str),
    StartsWith(&'a str),
    EndsWith(&'a str),
}

/// A compiled filter.
#[derive(Debug)]
pub(crate) struct CompiledFilter<'a> {
    field: usize,
    test: Test<'a>,
    effect: FilterEffect,
    /// The `filtered` text, ready made.
    reason: String,
}

/// `status one-of [active, suspended] (include)`.
pub fn describe(filter: &Filter) -> String {
    let condition = match &filter.condition {
        Condition::OneOf(values) => format!("one-of [{}]", values.join(", ")),
        Condition::IsEmpty => "is-empty".to_owned(),
        Condition::Contains(s) => format!("contains {s:?}"),
        Condition::StartsWith(s) => format!("starts-with {s:?}"),
        Condition::EndsWith(s) => format!("ends-with {s:?}"),
    };
    let effect = match filter.effect {
        FilterEffect::Include => "include",
        FilterEffect::Exclude => "exclude",
    };
    format!("{} {condition} ({effect})", filter.field)
}

impl<'a> CompiledFilter<'a> {
    /// Compiles filter number `number` (1-based, for messages).
    pub(crate) fn compile(
        filter: &'a Filter,
        number: usize,
        names: &[&str],
    ) -> Result<Self, String> {
        let description = describe(filter);
        let field = field_index(names, &filter.field).ok_or_else(|| {
            format!(
                "unknown field `{}` in filter {number} ({description})",
                filter.field
            )
        })?;
        let test = match &filter.condition {
            Condition::OneOf(values) => Test::OneOf(values),
            Condition::IsEmpty => Test::IsEmpty,
            Condition::Contains(s) => Test::Contains(s),
            Condition::StartsWith(s) => Test::StartsWith(s),
            Condition::EndsWith(s) => Test::EndsWith(s),
        };
        let reason = match filter.effect {
            FilterEffect::Include => format!("{description} not matched"),
            FilterEffect::Exclude => format!("{description} matched"),
        };
        Ok(CompiledFilter {
            field,
            test,
            effect: filter.effect,
            reason,
        })
    }

    /// `Some(reason)` when this filter drops the record.
    pub(crate) fn rejects(&self, values: &[Value]) -> Option<&str> {
        let value = values.get(self.field).unwrap_or(&Value::Null);
        let matched = self.matches(value);
        let keep = match self.effect {
            FilterEffect::Include => matched,
            FilterEffect::Exclude => !matched,
        };
        (!keep).then_some(self.reason.as_str())
    }

    fn matches(&self, value: &Value) -> bool {
        match value {
            _ if matches!(self.test, Test::IsEmpty) => value.is_empty(),
            Value::Null => self.matches_text(""),
            Value::Text(s) | Value::Timestamp(s) => self.matches_text(s),
            Value::Boolean(b) => self.matches_text(if *b { "true" } else { "false" }),
            Value::Integer(i) => self.matches_text(&i.to_string()),
            Value::TextList(items) => items.iter().any(|s| self.matches_text(s)),
        }
    }

    fn matches_text(&self, text: &str) -> bool {
        let hay = text.as_bytes();
        match self.test {
            Test::OneOf(values) => values.iter().any(|v| v.eq_ignore_ascii_case(text)),
            Test::IsEmpty => text.is_empty(),
            Test::Contains(needle) => contains_ignore_ascii_case(hay, needle.as_bytes()),
            Test::StartsWith(prefix) => hay
                .get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes())),
            Test::EndsWith(suffix) => hay
                .len()
                .checked_sub(suffix.len())
                .and_then(|start| hay.get(start..))
                .is_some_and(|h| h.eq_ignore_ascii_case(suffix.as_bytes())),
        }
    }
}

fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["status", "email", "groups"];

    fn filter(field: &str, condition: Condition, effect: FilterEffect) -> Filter {
        Filter {
            field: field.to_owned(),
            condition,
            effect,
        }
    }

    fn matches(condition: Condition, value: Value) -> bool {
        let f = filter("status", condition, FilterEffect::Include);
        let c = CompiledFilter::compile(&f, 1, &NAMES).expect("compiles");
        c.rejects(&[value]).is_none()
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn conditions_compare_text_forms_case_insensitively() {
        let one_of = || Condition::OneOf(vec!["Active".into(), "suspended".into()]);
        assert!(matches(one_of(), text("active")));
        assert!(matches(one_of(), text("SUSPENDED")));
        assert!(!matches(one_of(), text("invited")));
        assert!(!matches(one_of(), Value::Null));
        assert!(matches(Condition::OneOf(vec!["".into()]), Value::Null));
        assert!(matches(
            Condition::OneOf(vec!["TRUE".into()]),
            Value::Boolean(true)
        ));
        assert!(matches(
            Condition::OneOf(vec!["-12".into()]),
            Value::Integer(-12)
        ));
        assert!(matches(
            Condition::OneOf(vec!["g:2".into()]),
            Value::TextList(vec!["g:1".into(), "G:2".into()])
        ));

        assert!(matches(
            Condition::Contains("@CORP".into()),
            text("a@corp.com")
        ));
        assert!(!matches(Condition::Contains("@corp".into()), text("a@cor")));
        assert!(matches(Condition::Contains("".into()), Value::Null));
        assert!(matches(Condition::StartsWith("TA".into()), text("tami")));
        assert!(!matches(
            Condition::StartsWith("tamis".into()),
            text("tami")
        ));
        assert!(matches(Condition::EndsWith(".COM".into()), text("x.com")));
        assert!(!matches(
            Condition::EndsWith("xx.com".into()),
            text("x.com")
        ));
        assert!(matches(
            Condition::StartsWith("2015-".into()),
            Value::Timestamp("2015-05-12T15:50:38Z".into())
        ));
        assert!(matches(Condition::EndsWith("é".into()), text("café")));
        // Non-ASCII letters compare exactly.
        assert!(!matches(Condition::EndsWith("É".into()), text("café")));

        assert!(matches(Condition::IsEmpty, Value::Null));
        assert!(matches(Condition::IsEmpty, text("")));
        assert!(matches(Condition::IsEmpty, Value::TextList(vec![])));
        assert!(!matches(
            Condition::IsEmpty,
            Value::TextList(vec!["".into()])
        ));
        assert!(!matches(Condition::IsEmpty, text(" ")));
        assert!(!matches(Condition::IsEmpty, Value::Boolean(false)));
    }

    #[test]
    fn effects_and_reasons() {
        let include = filter(
            "status",
            Condition::OneOf(vec!["active".into(), "suspended".into()]),
            FilterEffect::Include,
        );
        let c = CompiledFilter::compile(&include, 1, &NAMES).expect("compiles");
        assert_eq!(c.rejects(&[text("active")]), None);
        assert_eq!(
            c.rejects(&[text("invited")]),
            Some("status one-of [active, suspended] (include) not matched")
        );
        let exclude = filter(
            "email",
            Condition::EndsWith("@contractor.com".into()),
            FilterEffect::Exclude,
        );
        let c = CompiledFilter::compile(&exclude, 1, &NAMES).expect("compiles");
        assert_eq!(c.rejects(&[Value::Null, text("a@corp.com")]), None);
        assert_eq!(
            c.rejects(&[Value::Null, text("a@Contractor.com")]),
            Some("email ends-with \"@contractor.com\" (exclude) matched")
        );
    }

    #[test]
    fn unknown_field_is_an_error() {
        let f = filter("colour", Condition::IsEmpty, FilterEffect::Exclude);
        assert_eq!(
            CompiledFilter::compile(&f, 2, &NAMES).err(),
            Some("unknown field `colour` in filter 2 (colour is-empty (exclude))".into())
        );
    }
}
