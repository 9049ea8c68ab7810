//! Where the snapshot's values come from: the rules the sync appends to the
//! operator's spec, and how a mapped page's values become snapshot rows.
//!
//! The sync's hot path (`fetch-mapped`) never brings source records across
//! the component boundary, only mapped values, and every value that crosses
//! costs time on the sync's critical path (a guest allocation, a host
//! allocation and a UTF-8 check per string). So:
//! - a catalog field the operator's spec already copies unchanged (a rule
//!   with the field as its source and no transform) is read from that
//!   rule's value;
//! - the other single-valued fields cross as **one** text, a `template`
//!   rule joining them with [`SEP`] (`{email}␟{status}␟…`), split again
//!   here; role names, a list, get a rule of their own.
//!
//! The shaper stops at the operator's rules, so these values never reach
//! Oomnitza nor the fingerprints. A failed record brings its raw values by
//! name. Filtered records carry no values: they are counted in the run, not
//! kept.

use std::borrow::Cow;

use crate::bindings::{Manifest, MapOutcome, MappingRule, MappingSpec, RuleSource, Value};

use super::{MemberRef, SnapshotPage};

/// The catalog fields the snapshot keeps, in this order.
pub const COLUMNS: [&str; 9] = [
    "email",
    "given_name",
    "surname",
    "status",
    "membership_type",
    "role_names",
    "joined_on",
    "invited_on",
    "suspended_on",
];

/// The position of `role_names` in [`COLUMNS`]: the one list.
const ROLES: usize = 5;

/// The prefix of snapshot rule targets: no Oomnitza field or custom key can
/// contain a colon, so they never collide with an operator's rule.
const TARGET_PREFIX: &str = "snapshot:";

/// Between the packed fields: the ASCII unit separator, which no e-mail
/// address, date, status or membership type contains. A value that does
/// (a name the vendor let through) makes the split come out with the wrong
/// number of parts: that member's packed values are then unknown, never
/// shifted into the wrong column.
pub const SEP: char = '\u{1f}';

/// Where one column's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Not in the connector's catalog.
    Absent,
    /// The value of the rule at this position.
    Rule(usize),
    /// This part of the packed rule's text.
    Packed(usize),
}

/// Where the snapshot's values sit in a mapped record.
#[derive(Debug, Clone)]
pub struct Layout {
    sources: [Source; COLUMNS.len()],
    /// The packed rule's position and how many parts its text has.
    packed: Option<(usize, usize)>,
}

/// `spec` with the snapshot rules appended, and where their values land.
pub fn extend_spec(spec: &MappingSpec, manifest: &Manifest) -> (MappingSpec, Layout) {
    let mut out = spec.clone();
    let mut sources = [Source::Absent; COLUMNS.len()];
    let mut packed = Vec::new();
    for (i, field) in COLUMNS.iter().enumerate() {
        if !manifest.fields.iter().any(|f| f.name == *field) {
            continue;
        }
        let copied = spec.rules.iter().position(|r| {
            r.transforms.is_empty() && matches!(&r.source, RuleSource::Field(f) if f == field)
        });
        sources[i] = match copied {
            Some(p) => Source::Rule(p),
            None if i == ROLES => {
                out.rules
                    .push(own_rule(field, RuleSource::Field((*field).to_owned())));
                Source::Rule(out.rules.len() - 1)
            }
            None => {
                packed.push(format!("{{{field}}}"));
                Source::Packed(packed.len() - 1)
            }
        };
    }
    let packed = (!packed.is_empty()).then(|| {
        let template = packed.join(&SEP.to_string());
        out.rules
            .push(own_rule("packed", RuleSource::Template(template)));
        (out.rules.len() - 1, packed.len())
    });
    (out, Layout { sources, packed })
}

fn own_rule(name: &str, source: RuleSource) -> MappingRule {
    MappingRule {
        target: format!("{TARGET_PREFIX}{name}"),
        source,
        transforms: vec![],
        required: false,
    }
}

/// A value as the snapshot's text (empty text is none).
fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::Text(s) | Value::Timestamp(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Boolean(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Integer(i) => Some(Cow::Owned(i.to_string())),
        Value::TextList(l) => Some(Cow::Owned(l.join(", "))),
    }
    .filter(|s| !s.is_empty())
}

/// A value as a list of non-empty texts.
fn list(v: &Value) -> Vec<Cow<'_, str>> {
    match v {
        Value::TextList(l) => l
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| Cow::Borrowed(s.as_str()))
            .collect(),
        other => text(other).into_iter().collect(),
    }
}

impl Layout {
    /// The page's members (mapped and failed) as one snapshot page.
    pub fn page(&self, outcomes: &[MapOutcome], run_id: Option<i64>) -> SnapshotPage {
        let mut page = SnapshotPage::new(run_id, outcomes.len());
        for o in outcomes {
            match o {
                MapOutcome::Mapped(r) => {
                    let at = |p: usize| r.values.get(p).unwrap_or(&Value::Null);
                    let parts = self.split(at);
                    let mut cols: [Option<Cow<'_, str>>; COLUMNS.len()] = Default::default();
                    let mut roles = Vec::new();
                    for (i, source) in self.sources.iter().enumerate() {
                        match (*source, i) {
                            (Source::Rule(p), ROLES) => roles = list(at(p)),
                            (Source::Rule(p), _) => cols[i] = text(at(p)),
                            (Source::Packed(k), _) => {
                                cols[i] = parts.get(k).copied().flatten().map(Cow::Borrowed)
                            }
                            (Source::Absent, _) => {}
                        }
                    }
                    page.push(&member(&r.source_id, &cols, &roles, None));
                }
                MapOutcome::Failed(f) => {
                    let raw = |name: &str| f.raw.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                    let mut cols: [Option<Cow<'_, str>>; COLUMNS.len()] = Default::default();
                    for (i, name) in COLUMNS.iter().enumerate() {
                        if i != ROLES {
                            cols[i] = raw(name).and_then(text);
                        }
                    }
                    let roles = raw(COLUMNS[ROLES]).map(list).unwrap_or_default();
                    page.push(&member(&f.source_id, &cols, &roles, Some(&f.reason)));
                }
                MapOutcome::Filtered(_) => {}
            }
        }
        page
    }

    /// The packed rule's text in its parts (all unknown when there is no
    /// such text, or it does not split into as many parts as were packed).
    fn split<'v>(&self, at: impl Fn(usize) -> &'v Value) -> [Option<&'v str>; COLUMNS.len()] {
        let mut parts = [None; COLUMNS.len()];
        let Some((p, n)) = self.packed else {
            return parts;
        };
        let Value::Text(s) = at(p) else {
            return parts;
        };
        let mut count = 0;
        for (i, part) in s.split(SEP).enumerate() {
            if i < n {
                parts[i] = Some(part).filter(|s| !s.is_empty());
            }
            count += 1;
        }
        if count != n {
            parts = [None; COLUMNS.len()];
        }
        parts
    }
}

fn member<'a>(
    id: &'a str,
    cols: &'a [Option<Cow<'a, str>>; COLUMNS.len()],
    roles: &'a [Cow<'a, str>],
    failure: Option<&'a str>,
) -> MemberRef<'a> {
    let col = |i: usize| cols[i].as_deref();
    MemberRef {
        id,
        email: col(0),
        given_name: col(1),
        surname: col(2),
        status: col(3),
        membership_type: col(4),
        roles: roles.iter().map(|r| r.as_ref()).collect(),
        joined_on: col(6),
        invited_on: col(7),
        suspended_on: col(8),
        failure,
        run_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{FieldInfo, MapFailure, MappedRecord, Transform, ValueType};
    use crate::state::snapshot::Member;

    fn manifest(fields: &[&str]) -> Manifest {
        Manifest {
            name: "m".into(),
            display_name: "M".into(),
            version: "1".into(),
            record_kinds: vec![],
            fields: fields
                .iter()
                .map(|f| FieldInfo {
                    name: (*f).into(),
                    label: (*f).into(),
                    description: String::new(),
                    type_: ValueType::Text,
                    unique: false,
                })
                .collect(),
            default_mapping: spec(vec![]),
            hosts: vec![],
            fetch_options: vec![],
            actions: vec![],
            max_page_size: 1000,
        }
    }

    fn spec(rules: Vec<MappingRule>) -> MappingSpec {
        MappingSpec {
            rules,
            filters: vec![],
            sync_key: vec![],
        }
    }

    fn rule(target: &str, field: &str, transforms: Vec<Transform>) -> MappingRule {
        MappingRule {
            target: target.into(),
            source: RuleSource::Field(field.into()),
            transforms,
            required: false,
        }
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn mapped(id: &str, values: Vec<Value>) -> MapOutcome {
        MapOutcome::Mapped(MappedRecord {
            source_id: id.into(),
            values,
        })
    }

    #[test]
    fn copying_rules_are_reused_roles_get_a_rule_and_the_rest_is_packed() {
        let operator = spec(vec![
            rule("EMAIL", "email", vec![Transform::LowerCase]),
            rule("FIRST_NAME", "given_name", vec![]),
            rule("dropbox_status", "status", vec![]),
        ]);
        // No `surname` in the catalog: no rule, no column value.
        let m = manifest(&["email", "given_name", "status", "joined_on", "role_names"]);
        let (out, layout) = extend_spec(&operator, &m);
        let targets: Vec<&str> = out.rules.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "EMAIL",
                "FIRST_NAME",
                "dropbox_status",
                "snapshot:role_names",
                "snapshot:packed"
            ]
        );
        // The lower-cased email is not the email as listed: it is packed.
        assert!(
            matches!(&out.rules[4].source, RuleSource::Template(t) if *t == "{email}\u{1f}{joined_on}")
        );
        use Source::*;
        assert_eq!(
            layout.sources,
            [
                Packed(0),
                Rule(1),
                Absent,
                Rule(2),
                Absent,
                Rule(3),
                Packed(1),
                Absent,
                Absent
            ]
        );
        assert_eq!(layout.packed, Some((4, 2)));
    }

    #[test]
    fn nothing_to_pack_adds_no_template() {
        let operator = spec(vec![rule("E", "email", vec![])]);
        let (out, layout) = extend_spec(&operator, &manifest(&["email", "other"]));
        assert_eq!(out.rules.len(), 1);
        assert_eq!(layout.packed, None);
    }

    fn members(page: &SnapshotPage) -> Vec<Member> {
        page.decode().unwrap()
    }

    #[test]
    fn members_come_from_the_operators_rules_the_packed_text_and_raw_values() {
        let operator = spec(vec![rule("FIRST_NAME", "given_name", vec![])]);
        let (out, layout) = extend_spec(&operator, &manifest(&COLUMNS));
        // One reused, roles, and one packed text for the other seven.
        assert_eq!(out.rules.len(), 3);
        let packed = |parts: [&str; 7]| t(&parts.join("\u{1f}"));
        let outcomes = vec![
            mapped(
                "dbmid:1",
                vec![
                    t("Ada"),
                    Value::TextList(vec!["Team admin".into(), String::new()]),
                    packed([
                        "ada@example.com",
                        "",
                        "active",
                        "full",
                        "2026-01-02T00:00:00Z",
                        "",
                        "",
                    ]),
                ],
            ),
            MapOutcome::Filtered("status is removed".into()),
            MapOutcome::Failed(MapFailure {
                source_id: "dbmid:2".into(),
                reason: "EMAIL is required but empty".into(),
                raw: vec![
                    ("status".into(), t("active")),
                    (
                        "role_names".into(),
                        Value::TextList(vec!["Billing admin".into()]),
                    ),
                    ("bogus".into(), t("x")),
                ],
            }),
            // A value with the separator in it: the parts do not line up,
            // so none is trusted; the operator's value still is.
            mapped("dbmid:3", vec![t("Eve"), Value::Null, t("a\u{1f}b\u{1f}c")]),
            // A hostile component's answer of the wrong type or length.
            mapped("dbmid:4", vec![Value::Integer(7)]),
        ];
        let page = layout.page(&outcomes, Some(9));
        assert_eq!(
            members(&page),
            [
                Member {
                    id: "dbmid:1".into(),
                    email: Some("ada@example.com".into()),
                    given_name: Some("Ada".into()),
                    status: Some("active".into()),
                    membership_type: Some("full".into()),
                    roles: vec!["Team admin".into()],
                    joined_on: Some("2026-01-02T00:00:00Z".into()),
                    run_id: Some(9),
                    ..Default::default()
                },
                Member {
                    id: "dbmid:2".into(),
                    status: Some("active".into()),
                    roles: vec!["Billing admin".into()],
                    failure: Some("EMAIL is required but empty".into()),
                    run_id: Some(9),
                    ..Default::default()
                },
                Member {
                    id: "dbmid:3".into(),
                    given_name: Some("Eve".into()),
                    run_id: Some(9),
                    ..Default::default()
                },
                Member {
                    id: "dbmid:4".into(),
                    given_name: Some("7".into()),
                    run_id: Some(9),
                    ..Default::default()
                },
            ]
        );
    }
}
