//! The team snapshot: one row per member as the last complete sync saw
//! them, written in the same transaction as the page's checkpoint.
//!
//! **Where the values come from.** The sync's hot path (`fetch-mapped`)
//! never brings source records across the component boundary, only mapped
//! values. So the sync appends a few *snapshot rules* to the spec it sends
//! (`snapshot:email` from `email`, `snapshot:status` from `status`, …):
//! the component maps them like any rule, the shaper ignores values past
//! the operator's rules (they never reach Oomnitza, nor the fingerprints),
//! and the committer copies them into the snapshot. A failed record brings
//! its raw values by name, read the same way. Filtered records carry no
//! values: they are counted in the run, not kept.
//!
//! **Two slots.** Rows go to `team_members_0` or `team_members_1`: a new
//! portion empties the slot not in use (a `DELETE` without `WHERE`, which
//! SQLite turns into dropping the table's pages: no per-row work) and
//! appends to it (rowids in order: the B-tree grows at its right edge, so
//! an insert touches one page). When the listing completes, the same
//! transaction makes that slot current. Readers always see the last
//! complete listing, never half a team; a crash or a stopped run resumes
//! appending to the same slot from the checkpoint, since both commit
//! together.
//!
//! **Aggregates.** Counts by status, membership type and role are added
//! per page in the same transaction (`snapshot_counts`, keyed by portion),
//! and a row in `snapshots` closes them when the listing completes, so
//! trends are one small query, whatever the team size.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use crate::bindings::{Manifest, MapOutcome, MappingRule, MappingSpec, RuleSource, Value};

/// The catalog fields the snapshot keeps, in column order.
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

/// The prefix of snapshot rule targets: no Oomnitza field or custom key can
/// contain a colon, so they never collide with an operator's rule.
const TARGET_PREFIX: &str = "snapshot:";

/// The schema (appended to the state database's migrations).
pub const MIGRATION: &str = "
    CREATE TABLE team_members_0 (
        id TEXT NOT NULL, email TEXT, given_name TEXT, surname TEXT, status TEXT,
        membership_type TEXT, roles TEXT NOT NULL DEFAULT '[]', joined_on TEXT,
        invited_on TEXT, suspended_on TEXT, failure TEXT, run_id INTEGER
    );
    CREATE TABLE team_members_1 (
        id TEXT NOT NULL, email TEXT, given_name TEXT, surname TEXT, status TEXT,
        membership_type TEXT, roles TEXT NOT NULL DEFAULT '[]', joined_on TEXT,
        invited_on TEXT, suspended_on TEXT, failure TEXT, run_id INTEGER
    );
    CREATE TABLE snapshot_slots (
        integration TEXT PRIMARY KEY,
        current_slot INTEGER,
        current_portion TEXT,
        writing_slot INTEGER NOT NULL,
        writing_portion TEXT NOT NULL
    );
    CREATE TABLE snapshot_counts (
        portion TEXT NOT NULL,
        dimension TEXT NOT NULL,
        value TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (portion, dimension, value)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        portion TEXT PRIMARY KEY,
        integration TEXT NOT NULL,
        run_id INTEGER,
        completed_at TEXT NOT NULL,
        members INTEGER NOT NULL,
        failed INTEGER NOT NULL
    );
    CREATE TABLE run_failures (
        run_id INTEGER NOT NULL,
        member_id TEXT NOT NULL,
        email TEXT,
        reason TEXT NOT NULL
    );
    CREATE INDEX run_failures_by_run ON run_failures (run_id);";

/// At most this many failed records of one run are kept with their reasons
/// (the run's count is exact; the list is for reading).
pub const MAX_FAILURES_PER_RUN: i64 = 1000;

/// Where the snapshot's values sit in a mapped record: the position of each
/// [`COLUMNS`] entry, when the connector's catalog has that field.
#[derive(Debug, Clone)]
pub struct Layout {
    positions: [Option<usize>; COLUMNS.len()],
    /// Positions from here on hold the snapshot's own rules, which nothing
    /// else reads (the shaper stops at the operator's rules): their values
    /// are moved out of the record, not copied.
    own_from: usize,
}

/// `spec` with the snapshot rules appended, and where their values land.
///
/// A field the operator's spec already copies as it is (a rule with the
/// field as its source and no transform) is read from that rule's value:
/// every value crossing the component boundary costs time on the sync's
/// critical path, and the default mapping carries names and status this way.
pub fn extend_spec(spec: &MappingSpec, manifest: &Manifest) -> (MappingSpec, Layout) {
    let mut out = spec.clone();
    let own_from = spec.rules.len();
    let mut positions = [None; COLUMNS.len()];
    for (i, field) in COLUMNS.iter().enumerate() {
        if !manifest.fields.iter().any(|f| f.name == *field) {
            continue;
        }
        let copied = spec.rules.iter().position(|r| {
            r.transforms.is_empty() && matches!(&r.source, RuleSource::Field(f) if f == field)
        });
        positions[i] = Some(match copied {
            Some(p) => p,
            None => {
                out.rules.push(MappingRule {
                    target: format!("{TARGET_PREFIX}{field}"),
                    source: RuleSource::Field((*field).to_owned()),
                    transforms: vec![],
                    required: false,
                });
                out.rules.len() - 1
            }
        });
    }
    (
        out,
        Layout {
            positions,
            own_from,
        },
    )
}

/// One member as the snapshot keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub id: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub status: Option<String>,
    pub membership_type: Option<String>,
    pub roles: Vec<String>,
    pub joined_on: Option<String>,
    pub invited_on: Option<String>,
    pub suspended_on: Option<String>,
    /// Why the record failed to map, if it did.
    pub failure: Option<String>,
    pub run_id: Option<i64>,
}

/// A value as the snapshot's text (empty text is none).
fn text(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) | Value::Timestamp(s) => Some(s),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::TextList(l) => Some(l.join(", ")),
    }
    .filter(|s| !s.is_empty())
}

fn list(v: Value) -> Vec<String> {
    match v {
        Value::TextList(mut l) => {
            l.retain(|s| !s.is_empty());
            l
        }
        other => text(other).into_iter().collect(),
    }
}

impl Layout {
    /// A member from its [`COLUMNS`] values, in order.
    fn fill(id: String, mut values: impl FnMut(usize) -> Value) -> Member {
        Member {
            id,
            email: text(values(0)),
            given_name: text(values(1)),
            surname: text(values(2)),
            status: text(values(3)),
            membership_type: text(values(4)),
            roles: list(values(5)),
            joined_on: text(values(6)),
            invited_on: text(values(7)),
            suspended_on: text(values(8)),
            failure: None,
            run_id: None,
        }
    }

    /// The page's members (mapped and failed; filtered records carry no
    /// values), taken before the page is shaped: the snapshot's own values
    /// are moved out (the shaper never reads them), the operator's copied.
    pub fn members(&self, outcomes: &mut [MapOutcome]) -> Vec<Member> {
        let mut out = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            match o {
                MapOutcome::Mapped(r) => {
                    let values = &mut r.values;
                    out.push(Self::fill(r.source_id.clone(), |i| {
                        match self.positions[i].and_then(|p| Some((p, values.get_mut(p)?))) {
                            Some((p, v)) if p >= self.own_from => std::mem::replace(v, Value::Null),
                            Some((_, v)) => v.clone(),
                            None => Value::Null,
                        }
                    }))
                }
                MapOutcome::Failed(f) => {
                    let mut m = Self::fill(f.source_id.clone(), |i| {
                        f.raw
                            .iter()
                            .find(|(k, _)| k == COLUMNS[i])
                            .map_or(Value::Null, |(_, v)| v.clone())
                    });
                    m.failure = Some(f.reason.clone());
                    out.push(m);
                }
                MapOutcome::Filtered(_) => {}
            }
        }
        out
    }
}

/// One page's part of the snapshot, committed with the page.
#[derive(Debug, Default)]
pub struct SnapshotPage {
    pub members: Vec<Member>,
    pub run_id: Option<i64>,
}

fn slot_table(slot: i64) -> &'static str {
    if slot == 0 {
        "team_members_0"
    } else {
        "team_members_1"
    }
}

/// The slot `portion` writes to, starting it (emptying the slot not in
/// use) when this is the portion's first page.
fn writing_slot(conn: &Connection, integration: &str, portion: &str) -> Result<i64> {
    let row: Option<(Option<i64>, i64, String)> = conn
        .query_row(
            "SELECT current_slot, writing_slot, writing_portion FROM snapshot_slots WHERE integration = ?1",
            [integration],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match row {
        Some((_, slot, p)) if p == portion => Ok(slot),
        other => {
            let current = other.and_then(|(c, _, _)| c);
            let slot = match current {
                Some(0) => 1,
                _ => 0,
            };
            conn.execute(&format!("DELETE FROM {}", slot_table(slot)), [])?;
            conn.execute(
                "INSERT INTO snapshot_slots (integration, current_slot, writing_slot, writing_portion)
                 VALUES (?1, NULL, ?2, ?3)
                 ON CONFLICT (integration) DO UPDATE SET writing_slot = excluded.writing_slot,
                 writing_portion = excluded.writing_portion",
                params![integration, slot, portion],
            )?;
            conn.execute("DELETE FROM snapshot_counts WHERE portion = ?1", [portion])?;
            Ok(slot)
        }
    }
}

/// Rows per `INSERT`: each statement run has a fixed cost (a VDBE program,
/// a B-tree seek), so a page's rows go in groups. 64 × 12 parameters stays
/// far below SQLite's limit of 32,766.
const ROWS_PER_INSERT: usize = 64;
const COLUMNS_PER_ROW: usize = 12;

/// `INSERT INTO table (…) VALUES (…), (…)…` for `rows` rows.
fn insert_sql(table: &str, rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO {table} (id, email, given_name, surname, status, membership_type, roles, \
         joined_on, invited_on, suspended_on, failure, run_id) VALUES "
    );
    let row = format!("({})", ["?"; COLUMNS_PER_ROW].join(","));
    sql.push_str(&vec![row; rows].join(","));
    sql
}

/// Appends `members` to `table`: full groups of [`ROWS_PER_INSERT`] with
/// one statement, the rest one row each (two cached statements per table,
/// whatever the page size).
fn insert_rows(
    conn: &Connection,
    table: &str,
    members: &[Member],
    run_id: Option<i64>,
) -> Result<()> {
    let mut groups = members.chunks_exact(ROWS_PER_INSERT);
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>, rows: &[Member]| -> Result<()> {
        for (r, m) in rows.iter().enumerate() {
            let at = r * COLUMNS_PER_ROW;
            let roles = serde_json::to_string(&m.roles)?;
            stmt.raw_bind_parameter(at + 1, &m.id)?;
            stmt.raw_bind_parameter(at + 2, &m.email)?;
            stmt.raw_bind_parameter(at + 3, &m.given_name)?;
            stmt.raw_bind_parameter(at + 4, &m.surname)?;
            stmt.raw_bind_parameter(at + 5, &m.status)?;
            stmt.raw_bind_parameter(at + 6, &m.membership_type)?;
            stmt.raw_bind_parameter(at + 7, &roles)?;
            stmt.raw_bind_parameter(at + 8, &m.joined_on)?;
            stmt.raw_bind_parameter(at + 9, &m.invited_on)?;
            stmt.raw_bind_parameter(at + 10, &m.suspended_on)?;
            stmt.raw_bind_parameter(at + 11, &m.failure)?;
            stmt.raw_bind_parameter(at + 12, run_id)?;
        }
        stmt.raw_execute()?;
        Ok(())
    };
    if members.len() >= ROWS_PER_INSERT {
        let mut stmt = conn.prepare_cached(&insert_sql(table, ROWS_PER_INSERT))?;
        for group in &mut groups {
            bind(&mut stmt, group)?;
        }
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&insert_sql(table, 1))?;
        for m in rest {
            bind(&mut stmt, std::slice::from_ref(m))?;
        }
    }
    Ok(())
}

/// Writes a page's members into the writing slot and adds them to the
/// portion's counts; when the listing is complete, makes the slot current.
/// Called inside the page's transaction.
pub fn write_page(
    conn: &Connection,
    integration: &str,
    portion: &str,
    page: &SnapshotPage,
    listing_complete: bool,
) -> Result<()> {
    let slot = writing_slot(conn, integration, portion)?;
    {
        insert_rows(conn, slot_table(slot), &page.members, page.run_id)?;
        let mut counts: HashMap<(&str, &str), i64> = HashMap::new();
        let mut failures = 0i64;
        for m in &page.members {
            *counts
                .entry(("status", m.status.as_deref().unwrap_or("")))
                .or_default() += 1;
            *counts
                .entry((
                    "membership_type",
                    m.membership_type.as_deref().unwrap_or(""),
                ))
                .or_default() += 1;
            if m.roles.is_empty() {
                *counts.entry(("role", "")).or_default() += 1;
            }
            for r in &m.roles {
                *counts.entry(("role", r.as_str())).or_default() += 1;
            }
            *counts.entry(("total", "")).or_default() += 1;
            if let Some(month) = m.joined_on.as_deref().and_then(|d| d.get(..7)) {
                *counts.entry(("joined_month", month)).or_default() += 1;
            }
            if m.failure.is_some() {
                failures += 1;
            }
        }
        let mut add = conn.prepare_cached(
            "INSERT INTO snapshot_counts (portion, dimension, value, n) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (portion, dimension, value) DO UPDATE SET n = n + excluded.n",
        )?;
        for ((d, v), n) in &counts {
            add.execute(params![portion, d, v, n])?;
        }
        if failures > 0
            && let Some(run) = page.run_id
        {
            let kept: i64 = conn.query_row(
                "SELECT COUNT(*) FROM run_failures WHERE run_id = ?1",
                [run],
                |r| r.get(0),
            )?;
            let mut fail = conn.prepare_cached(
                "INSERT INTO run_failures (run_id, member_id, email, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for m in page
                .members
                .iter()
                .filter(|m| m.failure.is_some())
                .take((MAX_FAILURES_PER_RUN - kept).max(0) as usize)
            {
                fail.execute(params![run, m.id, m.email, m.failure])?;
            }
        }
    }
    if listing_complete {
        let (members, failed): (i64, i64) = conn.query_row(
            &format!("SELECT COUNT(*), COUNT(failure) FROM {}", slot_table(slot)),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        conn.execute(
            "UPDATE snapshot_slots SET current_slot = writing_slot, current_portion = writing_portion
             WHERE integration = ?1",
            [integration],
        )?;
        conn.execute(
            "INSERT OR REPLACE INTO snapshots (portion, integration, run_id, completed_at, members, failed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                portion,
                integration,
                page.run_id,
                crate::clock::now(),
                members,
                failed
            ],
        )?;
    }
    Ok(())
}

/// The listing restarts from its first page (an expired cursor): what the
/// portion wrote so far is dropped, so no member is kept twice.
pub fn restart(conn: &Connection, integration: &str) -> Result<()> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT writing_slot, writing_portion FROM snapshot_slots WHERE integration = ?1",
            [integration],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((slot, portion)) = row {
        let current: Option<i64> = conn.query_row(
            "SELECT current_slot FROM snapshot_slots WHERE integration = ?1",
            [integration],
            |r| r.get(0),
        )?;
        if current != Some(slot) {
            conn.execute(&format!("DELETE FROM {}", slot_table(slot)), [])?;
            conn.execute("DELETE FROM snapshot_counts WHERE portion = ?1", [&portion])?;
        }
    }
    Ok(())
}

/// Drops the members kept (both slots); the per-run counts and
/// `snapshots` rows stay, as run history.
pub fn drop_rows(conn: &Connection, integration: &str) -> Result<()> {
    conn.execute("DELETE FROM team_members_0", [])?;
    conn.execute("DELETE FROM team_members_1", [])?;
    conn.execute(
        "DELETE FROM snapshot_slots WHERE integration = ?1",
        [integration],
    )?;
    Ok(())
}

/// The table holding the current (last complete) snapshot, if any.
pub fn current_table(conn: &Connection) -> Result<Option<&'static str>> {
    let slot: Option<Option<i64>> = conn
        .query_row(
            "SELECT current_slot FROM snapshot_slots ORDER BY integration LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(slot.flatten().map(slot_table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{FieldInfo, MapFailure, MappedRecord, Transform, ValueType};

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

    #[test]
    fn copying_rules_are_reused_and_the_rest_appended() {
        let operator = spec(vec![
            rule("EMAIL", "email", vec![Transform::LowerCase]),
            rule("FIRST_NAME", "given_name", vec![]),
            rule("dropbox_status", "status", vec![]),
        ]);
        // No `surname` in the catalog: no rule, no column value.
        let m = manifest(&["email", "given_name", "status", "roles", "role_names"]);
        let (out, layout) = extend_spec(&operator, &m);
        let targets: Vec<&str> = out.rules.iter().map(|r| r.target.as_str()).collect();
        // The lower-cased email is not the email as listed: it gets its own rule.
        assert_eq!(
            targets,
            [
                "EMAIL",
                "FIRST_NAME",
                "dropbox_status",
                "snapshot:email",
                "snapshot:role_names"
            ]
        );
        assert_eq!(
            layout.positions,
            [
                Some(3),
                Some(1),
                None,
                Some(2),
                None,
                Some(4),
                None,
                None,
                None
            ]
        );
        assert_eq!(layout.own_from, 3);
    }

    #[test]
    fn members_take_their_own_values_and_leave_the_operators() {
        let operator = spec(vec![rule("FIRST_NAME", "given_name", vec![])]);
        let m = manifest(&COLUMNS);
        let (out, layout) = extend_spec(&operator, &m);
        assert_eq!(out.rules.len(), 9, "one reused, eight appended");
        let mut values = vec![Value::Null; 9];
        values[0] = t("Ada");
        values[1] = t("ada@example.com");
        values[5] = Value::TextList(vec!["Team admin".into(), String::new()]);
        values[6] = t("");
        let mut outcomes = vec![
            MapOutcome::Mapped(MappedRecord {
                source_id: "dbmid:1".into(),
                values,
            }),
            MapOutcome::Filtered("status is removed".into()),
            MapOutcome::Failed(MapFailure {
                source_id: "dbmid:2".into(),
                reason: "EMAIL is required but empty".into(),
                raw: vec![("status".into(), t("active")), ("bogus".into(), t("x"))],
            }),
        ];
        let members = layout.members(&mut outcomes);
        assert_eq!(
            members,
            [
                Member {
                    id: "dbmid:1".into(),
                    email: Some("ada@example.com".into()),
                    given_name: Some("Ada".into()),
                    roles: vec!["Team admin".into()],
                    ..Default::default()
                },
                Member {
                    id: "dbmid:2".into(),
                    status: Some("active".into()),
                    failure: Some("EMAIL is required but empty".into()),
                    ..Default::default()
                },
            ]
        );
        // The operator's value is still there for the shaper; the
        // snapshot's own were moved out.
        let MapOutcome::Mapped(r) = &outcomes[0] else {
            panic!("mapped")
        };
        assert!(matches!(&r.values[0], Value::Text(s) if s == "Ada"));
        assert!(matches!(r.values[1], Value::Null));
    }

    fn member(i: usize) -> Member {
        Member {
            id: format!("dbmid:{i}"),
            email: Some(format!("m{i}@example.com")),
            status: Some(
                if i.is_multiple_of(3) {
                    "suspended"
                } else {
                    "active"
                }
                .into(),
            ),
            roles: if i.is_multiple_of(10) {
                vec!["Team admin".into()]
            } else {
                vec![]
            },
            joined_on: Some("2026-03-01T00:00:00Z".into()),
            failure: i.is_multiple_of(7).then(|| "bad".to_owned()),
            ..Default::default()
        }
    }

    fn rows(conn: &Connection, table: &str) -> Vec<Member> {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, email, status, roles, joined_on, failure, run_id FROM {table} ORDER BY rowid"
            ))
            .unwrap();
        stmt.query_map([], |r| {
            Ok(Member {
                id: r.get(0)?,
                email: r.get(1)?,
                status: r.get(2)?,
                roles: serde_json::from_str(&r.get::<_, String>(3)?).unwrap(),
                joined_on: r.get(4)?,
                failure: r.get(5)?,
                run_id: r.get(6)?,
                ..Default::default()
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Pages around the group size land whole, in order, with their counts;
    /// the slot becomes current only with the listing's last page.
    #[test]
    fn pages_of_any_size_land_in_order_with_their_counts() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATION).unwrap();
        let sizes = [
            0,
            1,
            ROWS_PER_INSERT - 1,
            ROWS_PER_INSERT,
            ROWS_PER_INSERT + 1,
            1000,
        ];
        let mut expected = Vec::new();
        let mut next = 0;
        for (p, n) in sizes.iter().enumerate() {
            let members: Vec<Member> = (next..next + n).map(member).collect();
            next += n;
            expected.extend(members.iter().cloned().map(|m| Member {
                run_id: Some(5),
                ..m
            }));
            let page = SnapshotPage {
                members,
                run_id: Some(5),
            };
            let last = p == sizes.len() - 1;
            assert_eq!(current_table(&conn).unwrap(), None);
            write_page(&conn, "dropbox", "portion-1", &page, last).unwrap();
        }
        let table = current_table(&conn).unwrap().expect("a current slot");
        assert_eq!(rows(&conn, table), expected);
        let count = |d: &str, v: &str| -> i64 {
            conn.query_row(
                "SELECT n FROM snapshot_counts WHERE portion = 'portion-1' AND dimension = ?1 AND value = ?2",
                [d, v],
                |r| r.get(0),
            )
            .unwrap()
        };
        let total = expected.len() as i64;
        assert_eq!(count("total", ""), total);
        let suspended = expected
            .iter()
            .filter(|m| m.status.as_deref() == Some("suspended"))
            .count();
        assert_eq!(count("status", "suspended"), suspended as i64);
        let admins = expected.iter().filter(|m| !m.roles.is_empty()).count();
        assert_eq!(count("role", "Team admin"), admins as i64);
        assert_eq!(count("joined_month", "2026-03"), total);
        let (members, failed): (i64, i64) = conn
            .query_row("SELECT members, failed FROM snapshots", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(members, total);
        assert_eq!(
            failed,
            expected.iter().filter(|m| m.failure.is_some()).count() as i64
        );
    }
}
