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
}

/// `spec` with the snapshot rules appended, and where their values land.
pub fn extend_spec(spec: &MappingSpec, manifest: &Manifest) -> (MappingSpec, Layout) {
    let mut out = spec.clone();
    let mut positions = [None; COLUMNS.len()];
    for (i, field) in COLUMNS.iter().enumerate() {
        if manifest.fields.iter().any(|f| f.name == *field) {
            positions[i] = Some(out.rules.len());
            out.rules.push(MappingRule {
                target: format!("{TARGET_PREFIX}{field}"),
                source: RuleSource::Field((*field).to_owned()),
                transforms: vec![],
                required: false,
            });
        }
    }
    (out, Layout { positions })
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

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) | Value::Timestamp(s) => Some(s.clone()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::TextList(l) => Some(l.join(", ")),
    }
    .filter(|s| !s.is_empty())
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::TextList(l) => l.iter().filter(|s| !s.is_empty()).cloned().collect(),
        other => text(other).into_iter().collect(),
    }
}

impl Layout {
    fn fill(&self, id: &str, get: impl Fn(usize) -> Option<Value>) -> Member {
        let mut m = Member {
            id: id.to_owned(),
            ..Default::default()
        };
        let value = |i: usize| get(i).unwrap_or(Value::Null);
        m.email = text(&value(0));
        m.given_name = text(&value(1));
        m.surname = text(&value(2));
        m.status = text(&value(3));
        m.membership_type = text(&value(4));
        m.roles = list(&value(5));
        m.joined_on = text(&value(6));
        m.invited_on = text(&value(7));
        m.suspended_on = text(&value(8));
        m
    }

    /// The page's members (mapped and failed; filtered records carry no
    /// values), read by reference before the page is shaped.
    pub fn members(&self, outcomes: &[MapOutcome]) -> Vec<Member> {
        let mut out = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            match o {
                MapOutcome::Mapped(r) => out.push(self.fill(&r.source_id, |i| {
                    self.positions[i].and_then(|p| r.values.get(p).cloned())
                })),
                MapOutcome::Failed(f) => {
                    let mut m = self.fill(&f.source_id, |i| {
                        f.raw
                            .iter()
                            .find(|(k, _)| k == COLUMNS[i])
                            .map(|(_, v)| v.clone())
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
        let mut ins = conn.prepare_cached(&format!(
            "INSERT INTO {} (id, email, given_name, surname, status, membership_type, roles,
             joined_on, invited_on, suspended_on, failure, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            slot_table(slot)
        ))?;
        let mut counts: HashMap<(&str, &str), i64> = HashMap::new();
        let mut failures = 0i64;
        for m in &page.members {
            let roles = serde_json::to_string(&m.roles)?;
            ins.execute(params![
                m.id,
                m.email,
                m.given_name,
                m.surname,
                m.status,
                m.membership_type,
                roles,
                m.joined_on,
                m.invited_on,
                m.suspended_on,
                m.failure,
                page.run_id
            ])?;
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
