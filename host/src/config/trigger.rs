//! Triggers, evaluated here, typed: which records a workflow acts on.
//!
//! Part of the config because compiling a trigger is how `[[workflow]]`
//! tables are checked when the file is read; `crate::workflow` evaluates
//! the compiled trigger on the records it reads (`workflow::trigger` is
//! this module). Pure (no I/O). A condition's value decides how it compares: a TOML
//! integer or float compares numbers, a date (`2026-11-27`, a TOML date,
//! `"today"`, `"today-30"`) compares calendar dates, a boolean compares
//! booleans, anything else compares text, ignoring case. A record's value
//! is read in the condition's type (`"25"` is the number 25; a timestamp
//! is its date); one that cannot be read so is *unreadable*, never a
//! match. An empty value (absent, null, `""`) never satisfies an ordering:
//! a user with no offboarding date is not "before today".
//!
//! A condition on a field no record carries is an error that names the
//! closest field that exists ([`closest`]): a typo must neither select
//! nobody nor everybody.

use std::cmp::Ordering;

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::Value as Json;

/// One trigger condition as the config writes it (`[[workflow]] trigger`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// A field of the records read (people: the REST view, e.g.
    /// `offboarding_date`; SaaS users: e.g. `to_be_deleted_in_saas`).
    pub field: String,
    pub op: Op,
    /// Its type decides the comparison (see the module docs). A list for `in`.
    pub value: toml::Value,
}

/// A condition's comparison.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
        }
    }
}

/// A value a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Number(f64),
    /// Days since 1970-01-01.
    Date(i64),
    Bool(bool),
    /// Compared ignoring case; kept as written for messages.
    Text(String),
}

impl Typed {
    fn kind(&self) -> &'static str {
        match self {
            Typed::Number(_) => "a number",
            Typed::Date(_) => "a date",
            Typed::Bool(_) => "true or false",
            Typed::Text(_) => "text",
        }
    }

    fn same_kind(&self, other: &Typed) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl std::fmt::Display for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Typed::Number(n) => write!(f, "{n}"),
            Typed::Date(d) => f.write_str(&date_text(*d)),
            Typed::Bool(b) => write!(f, "{b}"),
            Typed::Text(t) => write!(f, "'{t}'"),
        }
    }
}

/// One compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    /// One value; several for `in` (all of one kind).
    pub values: Vec<Typed>,
}

/// What a record makes of a trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Match,
    NoMatch,
    /// A value that cannot be read in its condition's type: the trigger
    /// cannot be decided for this record.
    Unreadable {
        field: String,
        value: String,
        expected: &'static str,
    },
}

/// A compiled trigger: every condition must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub conditions: Vec<Condition>,
}

impl Trigger {
    /// Types each condition's value; `today` is the current date (days
    /// since 1970-01-01, UTC).
    pub fn compile(conditions: &[ConditionConfig], today: i64) -> Result<Trigger> {
        let conditions = conditions
            .iter()
            .map(|c| compile_condition(c, today))
            .collect::<Result<_>>()?;
        Ok(Trigger { conditions })
    }

    /// The fields the trigger reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.conditions {
            if !out.contains(&c.field.as_str()) {
                out.push(&c.field);
            }
        }
        out
    }

    /// Checks `record` (a JSON object). The first unreadable value wins
    /// over a mismatch elsewhere: the record is reported, not ignored.
    pub fn check(&self, record: &Json) -> Verdict {
        let mut verdict = Verdict::Match;
        for c in &self.conditions {
            match c.check(record.get(&c.field)) {
                Verdict::Match => {}
                Verdict::NoMatch => {
                    if verdict == Verdict::Match {
                        verdict = Verdict::NoMatch;
                    }
                }
                unreadable => return unreadable,
            }
        }
        verdict
    }
}

impl Condition {
    fn check(&self, value: Option<&Json>) -> Verdict {
        let kind = &self.values[0];
        let have = match read_as(kind, value) {
            Read::Empty => {
                // Nothing is before or after an empty value; it equals only
                // the empty text, and differs from everything else.
                let empty_wanted = self
                    .values
                    .iter()
                    .any(|v| matches!(v, Typed::Text(t) if t.is_empty()));
                let holds = match self.op {
                    Op::Eq | Op::In => empty_wanted,
                    Op::Ne => !empty_wanted,
                    _ => false,
                };
                return if holds {
                    Verdict::Match
                } else {
                    Verdict::NoMatch
                };
            }
            Read::Value(v) => v,
            Read::Unreadable(text) => {
                return Verdict::Unreadable {
                    field: self.field.clone(),
                    value: text,
                    expected: kind.kind(),
                };
            }
        };
        let order = |want: &Typed| compare(&have, want);
        let holds = match self.op {
            Op::In => self.values.iter().any(|w| order(w) == Ordering::Equal),
            Op::Eq => order(kind) == Ordering::Equal,
            Op::Ne => order(kind) != Ordering::Equal,
            Op::Lt => order(kind) == Ordering::Less,
            Op::Le => order(kind) != Ordering::Greater,
            Op::Gt => order(kind) == Ordering::Greater,
            Op::Ge => order(kind) != Ordering::Less,
        };
        if holds {
            Verdict::Match
        } else {
            Verdict::NoMatch
        }
    }
}

fn compare(a: &Typed, b: &Typed) -> Ordering {
    match (a, b) {
        (Typed::Number(a), Typed::Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Typed::Date(a), Typed::Date(b)) => a.cmp(b),
        (Typed::Bool(a), Typed::Bool(b)) => a.cmp(b),
        (Typed::Text(a), Typed::Text(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        // Never reached: values are read in their condition's kind.
        _ => Ordering::Less,
    }
}

enum Read {
    Empty,
    Value(Typed),
    Unreadable(String),
}

/// A record's value in the kind of `like`.
fn read_as(like: &Typed, value: Option<&Json>) -> Read {
    let value = match value {
        None | Some(Json::Null) => return Read::Empty,
        Some(Json::String(s)) if s.trim().is_empty() => return Read::Empty,
        Some(v) => v,
    };
    let shown = || match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let read = match (like, value) {
        (Typed::Number(_), Json::Number(n)) => n.as_f64().map(Typed::Number),
        (Typed::Number(_), Json::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Typed::Number),
        (Typed::Date(_), Json::String(s)) => parse_date(s).map(Typed::Date),
        (Typed::Bool(_), Json::Bool(b)) => Some(Typed::Bool(*b)),
        (Typed::Bool(_), Json::String(s)) => parse_bool(s).map(Typed::Bool),
        (Typed::Bool(_), Json::Number(n)) => match n.as_i64() {
            Some(0) => Some(Typed::Bool(false)),
            Some(1) => Some(Typed::Bool(true)),
            _ => None,
        },
        (Typed::Text(_), Json::String(s)) => Some(Typed::Text(s.trim().to_string())),
        (Typed::Text(_), Json::Number(_) | Json::Bool(_)) => Some(Typed::Text(value.to_string())),
        _ => None,
    };
    match read {
        Some(v) => Read::Value(v),
        None => Read::Unreadable(shown()),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn compile_condition(c: &ConditionConfig, today: i64) -> Result<Condition> {
    let values = match (&c.value, c.op) {
        (toml::Value::Array(items), Op::In) => {
            if items.is_empty() {
                bail!("condition on `{}`: `in` needs at least one value", c.field);
            }
            items
                .iter()
                .map(|v| typed(v, today, &c.field))
                .collect::<Result<Vec<_>>>()?
        }
        (_, Op::In) => bail!("condition on `{}`: `in` needs a list", c.field),
        (toml::Value::Array(_), _) => bail!("condition on `{}`: only `in` takes a list", c.field),
        (v, _) => vec![typed(v, today, &c.field)?],
    };
    if let Some(odd) = values.iter().find(|v| !v.same_kind(&values[0])) {
        bail!(
            "condition on `{}`: the values of `in` must be of one type ({} is {}, {} is {})",
            c.field,
            values[0],
            values[0].kind(),
            odd,
            odd.kind()
        );
    }
    if matches!(values[0], Typed::Bool(_)) && matches!(c.op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
        bail!(
            "condition on `{}`: `{}` does not apply to true or false",
            c.field,
            c.op.as_str()
        );
    }
    Ok(Condition {
        field: c.field.clone(),
        op: c.op,
        values,
    })
}

/// A condition value with its type: TOML numbers, dates and booleans as
/// such; text that is a date (`2026-11-27`, `today`, `today-30`,
/// `today+7`) as a date; other text as text.
fn typed(v: &toml::Value, today: i64, field: &str) -> Result<Typed> {
    Ok(match v {
        toml::Value::Integer(i) => Typed::Number(*i as f64),
        toml::Value::Float(f) if f.is_finite() => Typed::Number(*f),
        toml::Value::Boolean(b) => Typed::Bool(*b),
        toml::Value::Datetime(d) => match &d.date {
            Some(date) => Typed::Date(days_from_civil(
                i64::from(date.year),
                u32::from(date.month),
                u32::from(date.day),
            )),
            None => bail!("condition on `{field}`: {d} is a time of day, not a date"),
        },
        toml::Value::String(s) => match relative_day(s, today) {
            Some(day) => Typed::Date(day),
            None => match parse_date(s) {
                Some(day) if s.trim().len() == 10 => Typed::Date(day),
                _ => Typed::Text(s.trim().to_string()),
            },
        },
        other => bail!("condition on `{field}`: unsupported value {other}"),
    })
}

/// `today`, `today-N`, `today+N` (days).
fn relative_day(s: &str, today: i64) -> Option<i64> {
    let rest = s.trim().strip_prefix("today")?;
    if rest.is_empty() {
        return Some(today);
    }
    let (sign, n) = match rest.split_at(1) {
        ("-", n) => (-1, n),
        ("+", n) => (1, n),
        _ => return None,
    };
    n.trim().parse::<i64>().ok().map(|n| today + sign * n)
}

/// The calendar date at the start of `s`: `YYYY-MM-DD`, alone or followed
/// by a time (`T` or a space) as in a timestamp. Days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() > 10 && !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
pub fn date_text(day: i64) -> String {
    crate::clock::rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs((day.max(0) * 86_400) as u64),
    )[..10]
        .to_string()
}

/// Today (UTC) as a day number.
pub fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

/// The name among `candidates` closest to `field` (edit distance, ties to
/// the first), if any is within reach (at most half the name's length).
pub fn closest<'a>(field: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = field.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= wanted.len().max(4) / 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let swap = i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb;
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if swap {
                cur[j + 1] = cur[j + 1].min(prev[j.saturating_sub(1)] + 1);
            }
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(field: &str, op: Op, value: toml::Value) -> ConditionConfig {
        ConditionConfig {
            field: field.into(),
            op,
            value,
        }
    }

    fn trigger(c: &[ConditionConfig]) -> Trigger {
        Trigger::compile(c, days_from_civil(2026, 11, 27)).unwrap()
    }

    fn is(t: &Trigger, record: Json) -> bool {
        match t.check(&record) {
            Verdict::Match => true,
            Verdict::NoMatch => false,
            other => panic!("{record}: {other:?}"),
        }
    }

    #[test]
    fn dates_compare_as_dates() {
        let t = trigger(&[cond("offboarding_date", Op::Le, "today".into())]);
        assert!(is(&t, json!({"offboarding_date": "2026-11-27"})));
        assert!(is(&t, json!({"offboarding_date": "2026-11-01"})));
        // A timestamp is its date: later today is still today.
        assert!(is(&t, json!({"offboarding_date": "2026-11-27T23:59:00Z"})));
        assert!(is(&t, json!({"offboarding_date": "2026-11-27 10:00:00"})));
        assert!(!is(&t, json!({"offboarding_date": "2026-12-01"})));
        // As text, "2026-11-27T.." > "2026-11-27" and "2026-9-1" > "2026-11-27".
        let t = trigger(&[cond("d", Op::Gt, "today-30".into())]);
        assert!(is(&t, json!({"d": "2026-11-01"})));
        assert!(!is(&t, json!({"d": "2026-10-28"})));
        let t = trigger(&[cond("d", Op::Eq, "2026-11-27".into())]);
        assert!(is(&t, json!({"d": "2026-11-27T08:00:00Z"})));
        match t.check(&json!({"d": "next week"})) {
            Verdict::Unreadable {
                field,
                value,
                expected,
            } => {
                assert_eq!(
                    (field.as_str(), value.as_str(), expected),
                    ("d", "next week", "a date")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_compare_as_numbers() {
        let t = trigger(&[cond("role", Op::Gt, toml::Value::Integer(3))]);
        // As text, "25" < "3".
        assert!(is(&t, json!({"role": 25})));
        assert!(is(&t, json!({"role": "25"})));
        assert!(!is(&t, json!({"role": 3})));
        let t = trigger(&[cond("role", Op::Eq, toml::Value::Integer(25))]);
        assert!(is(&t, json!({"role": 25.0})));
        assert!(matches!(
            t.check(&json!({"role": "admin"})),
            Verdict::Unreadable {
                expected: "a number",
                ..
            }
        ));
    }

    #[test]
    fn text_ignores_case_and_booleans_read_common_spellings() {
        let t = trigger(&[cond("to_be_deleted_in_saas", Op::Eq, "Yes".into())]);
        assert!(is(&t, json!({"to_be_deleted_in_saas": "yes"})));
        assert!(!is(&t, json!({"to_be_deleted_in_saas": "No"})));
        let t = trigger(&[cond("flag", Op::Eq, true.into())]);
        assert!(is(&t, json!({"flag": true})));
        assert!(is(&t, json!({"flag": "Yes"})));
        assert!(!is(&t, json!({"flag": 0})));
        let t = trigger(&[cond(
            "status",
            Op::In,
            toml::Value::Array(vec!["Active".into(), "O'Brien".into()]),
        )]);
        assert!(is(&t, json!({"status": "active"})));
        assert!(!is(&t, json!({"status": "gone"})));
    }

    #[test]
    fn empty_values_never_satisfy_an_ordering() {
        let t = trigger(&[cond("offboarding_date", Op::Le, "2026-11-27".into())]);
        assert!(!is(&t, json!({})));
        assert!(!is(&t, json!({"offboarding_date": null})));
        assert!(!is(&t, json!({"offboarding_date": ""})));
        let t = trigger(&[cond("x", Op::Ne, "Yes".into())]);
        assert!(is(&t, json!({"x": null})));
        let t = trigger(&[cond("x", Op::Eq, "".into())]);
        assert!(is(&t, json!({"x": null})));
    }

    #[test]
    fn bad_conditions_are_refused() {
        let today = 0;
        for (c, needle) in [
            (cond("f", Op::In, "x".into()), "needs a list"),
            (
                cond("f", Op::Eq, toml::Value::Array(vec!["x".into()])),
                "only `in`",
            ),
            (
                cond("f", Op::In, toml::Value::Array(vec![])),
                "at least one",
            ),
            (
                cond(
                    "f",
                    Op::In,
                    toml::Value::Array(vec!["x".into(), toml::Value::Integer(2)]),
                ),
                "of one type",
            ),
            (cond("f", Op::Lt, true.into()), "does not apply"),
        ] {
            let err = Trigger::compile(&[c], today).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn dates_are_parsed_strictly() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(
            parse_date("2026-11-27"),
            Some(days_from_civil(2026, 11, 27))
        );
        assert_eq!(date_text(days_from_civil(2024, 2, 29)), "2024-02-29");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-11-27",
            "2026/11/27",
            "2026-11-27x",
            "abcd-ef-gh",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_closest_field_is_suggested() {
        let fields = [
            "email",
            "offboarding_date",
            "to_be_deleted_in_saas",
            "user_id",
        ];
        assert_eq!(closest("offboardng_date", fields), Some("offboarding_date"));
        assert_eq!(
            closest("to_be_deleted_in_sass", fields),
            Some("to_be_deleted_in_saas")
        );
        assert_eq!(closest("Email", fields), Some("email"));
        assert_eq!(closest("department", fields), None);
    }
}
