//! A vendor-neutral mapping engine: a field catalog (names in record
//! position order), source records, and the contract's mapping spec.
//!
//! Semantics, in order, for each record:
//! 1. **Filters**, on source values: the record is kept only if it matches
//!    every `include` filter and no `exclude` filter; otherwise its outcome
//!    is `filtered` with the text of the first filter (in spec order) that
//!    dropped it: `status one-of [active, suspended] (include) not matched`.
//!    See [`filter`] for how values compare.
//! 2. **Rules**, in order; the mapped record's fields follow rule order.
//!    A rule's source is a field, a constant, `first-of` (the first field
//!    that is neither null nor empty) or a template (`{given_name}
//!    {surname}`, `{{`/`}}` for literal braces, values in their text form,
//!    lists joined with `, `; null when every placeholder is empty). Its
//!    transforms then apply in order (see [`transform`]).
//! 3. **Checks**: a `required` rule, or a rule whose target is in the
//!    sync key, whose value is null or empty (empty text, empty list) fails
//!    the record, as does a transform that cannot apply (`date-format` on a
//!    non-date). A failed record carries every reason (`; `-separated) and
//!    its raw source values by field name.
//!
//! Targets are opaque (`saas.sync_key` is an ordinary target here; the host
//! nests it). A spec is compiled once per batch ([`CompiledSpec`]); an
//! invalid spec fails the whole call with `invalid-input` naming the rule.

pub mod date;
pub mod filter;
pub mod spec;
pub mod transform;

use std::borrow::Cow;

pub use spec::CompiledSpec;

use crate::types::{ConnectorError, MapOutcome, MappingSpec, SourceRecord, Value};

/// Compiles `spec` against the catalog `names` and maps `records`.
pub fn map_records(
    spec: &MappingSpec,
    names: &[&str],
    records: Vec<SourceRecord>,
) -> Result<Vec<MapOutcome>, ConnectorError> {
    Ok(CompiledSpec::compile(spec, names)?.map_records(records))
}

/// A value as text: booleans `true`/`false`, integers in decimal, null as
/// empty text, lists joined with `, `.
pub fn text_form(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Null => Cow::Borrowed(""),
        Value::Text(s) | Value::Timestamp(s) => Cow::Borrowed(s),
        Value::Boolean(true) => Cow::Borrowed("true"),
        Value::Boolean(false) => Cow::Borrowed("false"),
        Value::Integer(i) => Cow::Owned(i.to_string()),
        Value::TextList(items) => Cow::Owned(items.join(", ")),
    }
}

/// The position of `name` in the catalog.
fn field_index(names: &[&str], name: &str) -> Option<usize> {
    names.iter().position(|n| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        Condition, Filter, FilterEffect, MapFailure, MappedRecord, MappingRule, RuleSource,
        SplitSpec, Transform,
    };

    const NAMES: [&str; 6] = [
        "id",
        "email",
        "given_name",
        "surname",
        "joined_on",
        "groups",
    ];

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn record(id: &str, email: Value, given: Value, surname: Value) -> SourceRecord {
        SourceRecord {
            id: id.to_owned(),
            values: vec![
                text(id),
                email,
                given,
                surname,
                Value::Timestamp("2015-05-12T15:50:38Z".into()),
                Value::TextList(vec!["g1".into(), "g2".into()]),
            ],
        }
    }

    fn tami() -> SourceRecord {
        record("1", text("Tami@Seagull.com"), text("Tami"), text("Gull"))
    }

    fn rule(target: &str, source: RuleSource) -> MappingRule {
        MappingRule {
            target: target.to_owned(),
            source,
            transforms: vec![],
            required: false,
        }
    }

    fn field(name: &str) -> RuleSource {
        RuleSource::Field(name.to_owned())
    }

    fn spec(rules: Vec<MappingRule>) -> MappingSpec {
        MappingSpec {
            rules,
            filters: vec![],
            sync_key: vec![],
        }
    }

    fn map_one(spec: &MappingSpec, record: SourceRecord) -> MapOutcome {
        let mut out = map_records(spec, &NAMES, vec![record]).expect("valid spec");
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    /// A mapped outcome's values, named by the spec's rule targets.
    fn mapped(spec: &MappingSpec, outcome: MapOutcome) -> Vec<(String, Value)> {
        match outcome {
            MapOutcome::Mapped(MappedRecord { values, .. }) => {
                assert_eq!(values.len(), spec.rules.len(), "one value per rule");
                spec.rules
                    .iter()
                    .map(|r| r.target.clone())
                    .zip(values)
                    .collect()
            }
            other => panic!("expected mapped, got {other:?}"),
        }
    }

    fn failed(outcome: MapOutcome) -> MapFailure {
        match outcome {
            MapOutcome::Failed(f) => f,
            other => panic!("expected failed, got {other:?}"),
        }
    }

    fn invalid(spec: &MappingSpec) -> String {
        match CompiledSpec::compile(spec, &NAMES) {
            Err(ConnectorError::InvalidInput(message)) => message,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    fn pairs(items: &[(&str, Value)]) -> Vec<(String, Value)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn a_field_used_by_several_rules_reaches_each() {
        // Unchanged uses share the record's value until handed out: every
        // rule must still get it, whichever use comes last.
        let mut lower = rule("LOWER", field("email"));
        lower.transforms = vec![Transform::LowerCase];
        let s = spec(vec![
            rule("A", field("email")),
            rule(
                "B",
                RuleSource::FirstOf(vec!["surname".into(), "email".into()]),
            ),
            lower,
            rule("C", field("email")),
            rule("G", field("given_name")),
        ]);
        assert_eq!(
            mapped(&s, map_one(&s, tami())),
            pairs(&[
                ("A", text("Tami@Seagull.com")),
                ("B", text("Gull")),
                ("LOWER", text("tami@seagull.com")),
                ("C", text("Tami@Seagull.com")),
                ("G", text("Tami")),
            ])
        );
        let r = record("2", text("x@y.z"), text("X"), Value::Null);
        assert_eq!(
            mapped(&s, map_one(&s, r)),
            pairs(&[
                ("A", text("x@y.z")),
                ("B", text("x@y.z")),
                ("LOWER", text("x@y.z")),
                ("C", text("x@y.z")),
                ("G", text("X")),
            ])
        );
    }

    #[test]
    fn every_source_kind() {
        let s = spec(vec![
            rule("EMAIL", field("email")),
            rule("PERMISSIONS_ID", RuleSource::Constant(Value::Integer(25))),
            rule(
                "NAME",
                RuleSource::FirstOf(vec!["surname".into(), "given_name".into()]),
            ),
            rule(
                "FULL",
                RuleSource::Template("{given_name} {surname} <{email}> {{x}} {groups}".into()),
            ),
            rule("saas.sync_key", field("id")),
        ]);
        let fields = mapped(&s, map_one(&s, tami()));
        assert_eq!(
            fields,
            pairs(&[
                ("EMAIL", text("Tami@Seagull.com")),
                ("PERMISSIONS_ID", Value::Integer(25)),
                ("NAME", text("Gull")),
                ("FULL", text("Tami Gull <Tami@Seagull.com> {x} g1, g2")),
                ("saas.sync_key", text("1")),
            ])
        );
        // first-of skips null and empty values; all empty gives null.
        let r = record("2", text("e"), text(""), Value::Null);
        let s = spec(vec![
            rule(
                "A",
                RuleSource::FirstOf(vec!["surname".into(), "given_name".into(), "email".into()]),
            ),
            rule(
                "B",
                RuleSource::FirstOf(vec!["surname".into(), "given_name".into()]),
            ),
            rule("C", RuleSource::Template("{given_name} {surname}".into())),
            rule("D", RuleSource::Template("literal".into())),
            rule("E", RuleSource::Template("{given_name}-{email}".into())),
        ]);
        assert_eq!(
            mapped(&s, map_one(&s, r)),
            pairs(&[
                ("A", text("e")),
                ("B", Value::Null),
                ("C", Value::Null),
                ("D", text("literal")),
                ("E", text("-e")),
            ])
        );
    }

    #[test]
    fn transforms_apply_in_order() {
        let mut r = rule("DOMAIN", field("email"));
        r.transforms = vec![
            Transform::Split(SplitSpec {
                separator: "@".into(),
                index: -1,
            }),
            Transform::UpperCase,
            Transform::Lookup(vec![("SEAGULL.COM".into(), text("Seagull Inc."))]),
        ];
        let mut d = rule("JOINED", field("joined_on"));
        d.transforms = vec![Transform::DateFormat("%d.%m.%Y".into())];
        let mut g = rule("GROUPS", field("groups"));
        g.transforms = vec![Transform::UpperCase, Transform::Join("|".into())];
        let mut n = rule("MIDDLE", field("surname"));
        n.transforms = vec![
            Transform::Split(SplitSpec {
                separator: " ".into(),
                index: 1,
            }),
            Transform::Default(text("-")),
        ];
        let s = spec(vec![r, d, g, n]);
        assert_eq!(
            mapped(&s, map_one(&s, tami())),
            pairs(&[
                ("DOMAIN", text("Seagull Inc.")),
                ("JOINED", text("12.05.2015")),
                ("GROUPS", text("G1|G2")),
                ("MIDDLE", text("-")),
            ])
        );
    }

    #[test]
    fn required_and_sync_key_fail_with_raw_values() {
        let mut user = rule("USER", field("email"));
        user.required = true;
        user.transforms = vec![Transform::Trim];
        let mut first = rule("FIRST_NAME", field("given_name"));
        first.required = true;
        let s = MappingSpec {
            rules: vec![user, first, rule("EMAIL", field("email"))],
            filters: vec![],
            sync_key: vec!["EMAIL".into()],
        };
        let r = record("7", text(" a@x.com "), Value::Null, text("Gull"));
        let raw = r.values.clone();
        let f = failed(map_one(&s, r));
        assert_eq!(f.source_id, "7");
        assert_eq!(
            f.reason,
            "required field FIRST_NAME is empty (source: given_name)"
        );
        let expected: Vec<_> = NAMES.iter().map(|n| (*n).to_owned()).zip(raw).collect();
        assert_eq!(f.raw, expected);

        let r = record("8", Value::Null, text("T"), text("G"));
        let f = failed(map_one(&s, r));
        assert_eq!(
            f.reason,
            "required field USER is empty (source: email); sync-key field EMAIL is empty (source: email)"
        );
        // Trimmed to nothing is empty too.
        let f = failed(map_one(&s, record("9", text(" \t"), text("T"), text("G"))));
        assert_eq!(f.reason, "required field USER is empty (source: email)");
    }

    #[test]
    fn transform_failures_fail_the_record() {
        let mut d = rule("JOINED", field("given_name"));
        d.transforms = vec![Transform::DateFormat("%Y".into())];
        let f = failed(map_one(&spec(vec![d]), tami()));
        assert_eq!(
            f.reason,
            "JOINED: cannot read \"Tami\" as a date for date-format `%Y` (source: given_name)"
        );
    }

    #[test]
    fn wrong_arity_fails_without_panicking() {
        let s = spec(vec![rule("EMAIL", field("surname"))]);
        let r = SourceRecord {
            id: "x".into(),
            values: vec![text("only one")],
        };
        let f = failed(map_one(&s, r));
        assert_eq!(f.reason, "record has 1 values but the catalog has 6 fields");
        assert_eq!(f.raw, pairs(&[("id", text("only one"))]));
    }

    #[test]
    fn filters_include_and_exclude() {
        let s = MappingSpec {
            rules: vec![rule("EMAIL", field("email"))],
            filters: vec![
                Filter {
                    field: "email".into(),
                    condition: Condition::Contains("@seagull".into()),
                    effect: FilterEffect::Include,
                },
                Filter {
                    field: "groups".into(),
                    condition: Condition::OneOf(vec!["blocked".into()]),
                    effect: FilterEffect::Exclude,
                },
                Filter {
                    field: "surname".into(),
                    condition: Condition::IsEmpty,
                    effect: FilterEffect::Exclude,
                },
            ],
            sync_key: vec![],
        };
        let mut blocked = tami();
        blocked.values[5] = Value::TextList(vec!["x".into(), "BLOCKED".into()]);
        let out = map_records(
            &s,
            &NAMES,
            vec![
                tami(),
                record("2", text("a@other.com"), Value::Null, text("x")),
                blocked,
                record("4", text("b@seagull.com"), Value::Null, Value::Null),
            ],
        )
        .expect("valid");
        assert!(matches!(out[0], MapOutcome::Mapped(_)));
        assert_eq!(
            out[1],
            MapOutcome::Filtered("email contains \"@seagull\" (include) not matched".into())
        );
        assert_eq!(
            out[2],
            MapOutcome::Filtered("groups one-of [blocked] (exclude) matched".into())
        );
        assert_eq!(
            out[3],
            MapOutcome::Filtered("surname is-empty (exclude) matched".into())
        );
    }

    #[test]
    fn filters_run_before_required_checks() {
        let mut email = rule("EMAIL", field("email"));
        email.required = true;
        let s = MappingSpec {
            rules: vec![email],
            filters: vec![Filter {
                field: "email".into(),
                condition: Condition::IsEmpty,
                effect: FilterEffect::Exclude,
            }],
            sync_key: vec!["EMAIL".into()],
        };
        let out = map_one(&s, record("1", Value::Null, Value::Null, Value::Null));
        assert_eq!(
            out,
            MapOutcome::Filtered("email is-empty (exclude) matched".into())
        );
    }

    #[test]
    fn spec_errors_name_the_rule() {
        let cases: Vec<(MappingSpec, &str)> = vec![
            (
                spec(vec![rule("FIRST_NAME", field("foo"))]),
                "unknown field `foo` in rule for `FIRST_NAME`",
            ),
            (
                spec(vec![rule(
                    "N",
                    RuleSource::FirstOf(vec!["surname".into(), "bar".into()]),
                )]),
                "unknown field `bar` in rule for `N`",
            ),
            (
                spec(vec![rule("N", RuleSource::FirstOf(vec![]))]),
                "first-of in rule for `N` lists no fields",
            ),
            (
                spec(vec![rule("A", field("email")), rule(" ", field("email"))]),
                "rule 2 has an empty target",
            ),
            (
                spec(vec![
                    rule("EMAIL", field("email")),
                    rule("X", field("email")),
                    rule("EMAIL", field("surname")),
                ]),
                "duplicate target `EMAIL` (rules 1 and 3)",
            ),
            (
                spec(vec![rule(
                    "T",
                    RuleSource::Template("{given_name} {nope}".into()),
                )]),
                "unknown field `nope` in template of rule for `T`",
            ),
            (
                spec(vec![rule("T", RuleSource::Template("{given_name".into()))]),
                "unclosed `{` in template of rule for `T`",
            ),
            (
                spec(vec![rule("T", RuleSource::Template("a } b".into()))]),
                "unmatched `}` (write `}}` for a literal brace) in template of rule for `T`",
            ),
            (
                spec(vec![rule("T", RuleSource::Template("{ }".into()))]),
                "empty placeholder `{}` in template of rule for `T`",
            ),
            (
                MappingSpec {
                    rules: vec![rule("USER", field("email"))],
                    filters: vec![],
                    sync_key: vec!["EMAIL".into()],
                },
                "sync-key field `EMAIL` has no rule",
            ),
            (
                MappingSpec {
                    rules: vec![rule("USER", field("email"))],
                    filters: vec![Filter {
                        field: "colour".into(),
                        condition: Condition::OneOf(vec!["red".into()]),
                        effect: FilterEffect::Include,
                    }],
                    sync_key: vec![],
                },
                "unknown field `colour` in filter 1 (colour one-of [red] (include))",
            ),
        ];
        for (s, message) in cases {
            assert_eq!(invalid(&s), message);
        }
        let mut d = rule("JOINED", field("joined_on"));
        d.transforms = vec![Transform::DateFormat("%Y-%B".into())];
        assert_eq!(
            invalid(&spec(vec![d])),
            "unknown directive `%B` in date-format `%Y-%B` in rule for `JOINED`"
        );
        let mut d = rule("JOINED", field("joined_on"));
        d.transforms = vec![Transform::Split(SplitSpec {
            separator: String::new(),
            index: 0,
        })];
        assert_eq!(
            invalid(&spec(vec![d])),
            "split has an empty separator in rule for `JOINED`"
        );
        // An empty batch checks the spec.
        assert!(map_records(&spec(vec![rule("A", field("zzz"))]), &NAMES, vec![]).is_err());
        assert_eq!(map_records(&spec(vec![]), &NAMES, vec![]), Ok(vec![]));
    }

    #[test]
    fn text_forms() {
        assert_eq!(text_form(&Value::Null), "");
        assert_eq!(text_form(&Value::Boolean(true)), "true");
        assert_eq!(text_form(&Value::Integer(-7)), "-7");
        assert_eq!(
            text_form(&Value::TextList(vec!["a".into(), "b".into()])),
            "a, b"
        );
    }
}
