//! What the report and the console show: the queries over the team
//! snapshot (written by the sync, in `state::snapshot`), the run history
//! and the audit log, with the list views' filters. Shared by `report`,
//! `runs`/`audit --json/--csv` and the console, so a number is computed
//! one way everywhere.
//!
//! Everything here is data: values are as the vendor or the component
//! gave them, and every renderer escapes them for its medium.

pub mod csv;

use anyhow::Result;
use rusqlite::{Connection, params_from_iter};
use serde::Serialize;

pub use crate::state::snapshot::Member;

use crate::state::{AuditEntry, RunRecord, StateDb};

/// Filters of the members list view. Empty fields filter nothing.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MemberFilter {
    pub status: Option<String>,
    pub membership_type: Option<String>,
    /// An admin role name; `member` for members without one.
    pub role: Option<String>,
    /// `YYYY-MM-DD` bounds on the join date, inclusive.
    pub joined_from: Option<String>,
    pub joined_to: Option<String>,
    /// A substring of the email or the name.
    pub q: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl MemberFilter {
    fn sql(&self) -> (String, Vec<String>) {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = nonempty(&self.status) {
            clauses.push("status = ?");
            args.push(s.to_owned());
        }
        if let Some(s) = nonempty(&self.membership_type) {
            clauses.push("membership_type = ?");
            args.push(s.to_owned());
        }
        match nonempty(&self.role) {
            Some("member") => clauses.push("roles = '[]'"),
            Some(r) => {
                clauses.push("EXISTS (SELECT 1 FROM json_each(roles) WHERE value = ?)");
                args.push(r.to_owned());
            }
            None => {}
        }
        if let Some(s) = nonempty(&self.joined_from) {
            clauses.push("joined_on >= ?");
            args.push(s.to_owned());
        }
        if let Some(s) = nonempty(&self.joined_to) {
            // Inclusive of the whole day.
            clauses.push("joined_on < ? || 'T99'");
            args.push(s.to_owned());
        }
        if let Some(s) = nonempty(&self.q) {
            clauses.push("(instr(lower(email), lower(?)) > 0 OR instr(lower(coalesce(given_name, '') || ' ' || coalesce(surname, '')), lower(?)) > 0)");
            args.push(s.to_owned());
            args.push(s.to_owned());
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }
}

const MEMBER_COLUMNS: &str = "id, email, given_name, surname, status, membership_type, roles, joined_on, invited_on, suspended_on, failure, run_id";

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    let roles: String = r.get(6)?;
    Ok(Member {
        id: r.get(0)?,
        email: r.get(1)?,
        given_name: r.get(2)?,
        surname: r.get(3)?,
        status: r.get(4)?,
        membership_type: r.get(5)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        joined_on: r.get(7)?,
        invited_on: r.get(8)?,
        suspended_on: r.get(9)?,
        failure: r.get(10)?,
        run_id: r.get(11)?,
    })
}

/// One page of the members list view, and how many match in all.
pub struct MemberPage {
    pub members: Vec<Member>,
    pub total: u64,
}

/// A page of the current snapshot's members matching `filter`, in the
/// order they were listed.
pub fn members(db: &StateDb, filter: &MemberFilter, offset: u64, limit: u64) -> Result<MemberPage> {
    let conn = &db.conn;
    let Some(table) = crate::state::snapshot::current_table(conn)? else {
        return Ok(MemberPage {
            members: vec![],
            total: 0,
        });
    };
    let (clause, args) = filter.sql();
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table}{clause}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {MEMBER_COLUMNS} FROM {table}{clause} ORDER BY rowid LIMIT {limit} OFFSET {offset}"
    ))?;
    let members = stmt
        .query_map(params_from_iter(args.iter()), member_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(MemberPage {
        members,
        total: total as u64,
    })
}

/// Every member of the current snapshot matching `filter`, streamed to `f`
/// (the CSV export: nothing is held in memory).
pub fn each_member(
    db: &StateDb,
    filter: &MemberFilter,
    mut f: impl FnMut(&Member) -> Result<()>,
) -> Result<()> {
    let conn = &db.conn;
    let Some(table) = crate::state::snapshot::current_table(conn)? else {
        return Ok(());
    };
    let (clause, args) = filter.sql();
    let mut stmt = conn.prepare(&format!(
        "SELECT {MEMBER_COLUMNS} FROM {table}{clause} ORDER BY rowid"
    ))?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        f(&member_row(r)?)?;
    }
    Ok(())
}

/// Counts of one dimension, largest first.
pub type Counts = Vec<(String, u64)>;

/// The team's composition, from the last complete snapshot's counts (a
/// few rows, whatever the team size).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Composition {
    pub total: u64,
    pub failed: u64,
    pub by_status: Counts,
    pub by_membership_type: Counts,
    /// Admin roles; `member` counts those without one.
    pub by_role: Counts,
    /// `YYYY-MM` → members who joined that month, oldest first.
    pub joins_by_month: Counts,
    pub completed_at: Option<String>,
    pub run_id: Option<i64>,
}

impl Composition {
    pub fn count(&self, dim: &Counts, value: &str) -> u64 {
        dim.iter().find(|(v, _)| v == value).map_or(0, |(_, n)| *n)
    }
}

fn counts_of(conn: &Connection, portion: &str, dimension: &str) -> Result<Counts> {
    let mut stmt = conn.prepare_cached(
        "SELECT value, n FROM snapshot_counts WHERE portion = ?1 AND dimension = ?2 ORDER BY n DESC, value",
    )?;
    let rows = stmt.query_map([portion, dimension], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn composition(db: &StateDb) -> Result<Option<Composition>> {
    let conn = &db.conn;
    let row: Option<(String, Option<i64>, String, i64, i64)> = {
        use rusqlite::OptionalExtension;
        conn.query_row(
            "SELECT s.portion, s.run_id, s.completed_at, s.members, s.failed FROM snapshots s
             JOIN snapshot_slots c ON c.current_portion = s.portion LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?
    };
    let Some((portion, run_id, completed_at, total, failed)) = row else {
        return Ok(None);
    };
    let label = |c: Counts, empty: &str| -> Counts {
        c.into_iter()
            .map(|(v, n)| (if v.is_empty() { empty.to_owned() } else { v }, n))
            .collect()
    };
    let mut joins = counts_of(conn, &portion, "joined_month")?;
    joins.sort();
    Ok(Some(Composition {
        total: total as u64,
        failed: failed as u64,
        by_status: label(counts_of(conn, &portion, "status")?, "(none)"),
        by_membership_type: label(counts_of(conn, &portion, "membership_type")?, "(none)"),
        by_role: label(counts_of(conn, &portion, "role")?, "member"),
        joins_by_month: joins,
        completed_at: Some(completed_at),
        run_id,
    }))
}

/// Where a seat count comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeatSource {
    /// The vendor's own count, as the connector read it in a sync.
    Vendor,
    /// Counted from the team snapshot.
    Snapshot,
    /// Not known.
    #[default]
    Unknown,
}

impl SeatSource {
    /// `vendor`, `snapshot`, `unknown` (for pages and tests to read).
    pub fn as_str(self) -> &'static str {
        match self {
            SeatSource::Vendor => "vendor",
            SeatSource::Snapshot => "snapshot",
            SeatSource::Unknown => "unknown",
        }
    }
}

/// Seats: licensed (paid for) and provisioned (in use), each with where
/// it comes from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seats {
    /// The vendor's count from the last sync's answer (`seats`, contract
    /// 0.4.0); `None` when unknown.
    pub licensed: Option<u64>,
    pub licensed_from: SeatSource,
    /// Where `licensed` comes from, or why it is unknown, said on the page.
    pub licensed_note: String,
    /// The vendor's count from the same answer, else counted from the
    /// snapshot: members holding a seat (active, invited and suspended).
    pub provisioned: u64,
    pub provisioned_from: SeatSource,
    /// Where `provisioned` comes from, said on the page.
    pub provisioned_note: String,
}

/// The seats to show beside the snapshot `c`: the last answer the vendor
/// gave a sync ([`crate::state::seats`]); provisioned seats fall back to
/// the snapshot's count when the vendor gave none.
pub fn seats(db: &StateDb, c: &Composition) -> Result<Seats> {
    use crate::state::seats::Answer;
    let counted = ["active", "invited", "suspended"]
        .iter()
        .map(|s| c.count(&c.by_status, s))
        .sum();
    let stored = db.last_seats()?;
    let run = stored.as_ref().map_or(0, |s| s.run_id);
    let (licensed, provisioned) = match stored.as_ref().map(|s| &s.answer) {
        Some(Answer::Counts {
            licensed,
            provisioned,
        }) => (*licensed, *provisioned),
        _ => (None, None),
    };
    let vendor = format!("the vendor's count, read by sync run #{run}");
    let licensed_note = match (licensed, stored.as_ref().map(|s| &s.answer)) {
        (Some(_), _) => vendor.clone(),
        (None, None) => "unknown: no sync has read the vendor's count yet".to_owned(),
        (None, Some(Answer::Counts { .. })) => {
            format!("unknown: the vendor gave no licence count (sync run #{run})")
        }
        (None, Some(Answer::NoSeats)) => "unknown: the connector gives no seat counts".to_owned(),
        (None, Some(Answer::Failed(_))) => {
            format!("unknown: sync run #{run} could not read the vendor's count (its log says why)")
        }
    };
    Ok(Seats {
        licensed,
        licensed_from: match licensed {
            Some(_) => SeatSource::Vendor,
            None => SeatSource::Unknown,
        },
        licensed_note,
        provisioned: provisioned.unwrap_or(counted),
        provisioned_from: match provisioned {
            Some(_) => SeatSource::Vendor,
            None => SeatSource::Snapshot,
        },
        provisioned_note: match provisioned {
            Some(_) => vendor,
            None => {
                "counted from the team snapshot (active, invited and suspended members)".to_owned()
            }
        },
    })
}

/// Members matching a fixed query, at most `limit`, and how many in all.
fn listed(db: &StateDb, clause: &str, args: &[String], limit: u64) -> Result<MemberPage> {
    let conn = &db.conn;
    let Some(table) = crate::state::snapshot::current_table(conn)? else {
        return Ok(MemberPage {
            members: vec![],
            total: 0,
        });
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE {clause}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {MEMBER_COLUMNS} FROM {table} WHERE {clause} ORDER BY rowid LIMIT {limit}"
    ))?;
    let members = stmt
        .query_map(params_from_iter(args.iter()), member_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(MemberPage {
        members,
        total: total as u64,
    })
}

/// Members suspended for more than `days` days (as of `now`, RFC 3339).
pub fn suspended_longer_than(db: &StateDb, days: u32, now: &str, limit: u64) -> Result<MemberPage> {
    let cutoff = shift_days(now, -(i64::from(days)));
    listed(
        db,
        "status = 'suspended' AND suspended_on IS NOT NULL AND suspended_on < ?",
        &[cutoff],
        limit,
    )
}

/// Invitations never accepted: members still `invited`.
pub fn invited(db: &StateDb, limit: u64) -> Result<MemberPage> {
    listed(db, "status = 'invited'", &[], limit)
}

/// Members holding an admin role.
pub fn admins(db: &StateDb, limit: u64) -> Result<MemberPage> {
    listed(db, "roles <> '[]'", &[], limit)
}

/// A run with its duration, for the history views.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub integration: String,
    pub portion: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_secs: Option<i64>,
    pub status: String,
    pub fetched: u64,
    pub mapped: u64,
    pub failed: u64,
    pub filtered: u64,
    pub sent: u64,
    pub created: u64,
    pub updated: u64,
    pub error: Option<String>,
    /// `full`, `changes`, `test`, `dry` (see [`crate::state::RunKind::label`]).
    pub kind: &'static str,
    /// Whether this was a dry run (it sent nothing; `sent` is what it would).
    pub dry: bool,
    /// Records Oomnitza acknowledged in answers that carried no counts.
    pub accepted: u64,
    pub deactivated: u64,
    pub reactivated: u64,
}

impl From<RunRecord> for RunRow {
    fn from(r: RunRecord) -> Self {
        let duration_secs = r
            .ended_at
            .as_deref()
            .and_then(|e| Some(epoch_secs(e)? - epoch_secs(&r.started_at)?));
        RunRow {
            id: r.id,
            integration: r.integration,
            portion: r.portion,
            started_at: r.started_at,
            ended_at: r.ended_at,
            duration_secs,
            status: r.status,
            fetched: r.fetched,
            mapped: r.mapped,
            failed: r.failed,
            filtered: r.filtered,
            sent: r.sent,
            created: r.created,
            updated: r.updated,
            error: r.error,
            kind: r.kind.label(r.full),
            dry: r.kind == crate::state::RunKind::Dry,
            accepted: r.accepted,
            deactivated: r.deactivated,
            reactivated: r.reactivated,
        }
    }
}

/// Filters of the runs list view.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RunFilter {
    pub status: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` bounds on the start, inclusive.
    pub since: Option<String>,
    pub until: Option<String>,
}

impl RunFilter {
    pub fn keep(&self, r: &RunRow) -> bool {
        nonempty(&self.status).is_none_or(|s| r.status == s)
            && nonempty(&self.since).is_none_or(|s| r.started_at.as_str() >= s)
            && nonempty(&self.until).is_none_or(|u| r.started_at.as_str() <= &*format!("{u}~"))
    }
}

/// The latest runs matching `filter`, newest first, at most `limit`.
pub fn runs(db: &StateDb, filter: &RunFilter, limit: u32) -> Result<Vec<RunRow>> {
    // The history is small (a run a day); filter after reading.
    Ok(db
        .runs(u32::MAX)?
        .into_iter()
        .map(RunRow::from)
        .filter(|r| filter.keep(r))
        .take(limit as usize)
        .collect())
}

/// A failed record of a run, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub member_id: String,
    pub email: Option<String>,
    pub reason: String,
}

pub fn run_failures(db: &StateDb, run_id: i64, limit: u64) -> Result<Vec<Failure>> {
    let mut stmt = db.conn.prepare(
        "SELECT member_id, email, reason FROM run_failures WHERE run_id = ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![run_id, limit as i64], |r| {
        Ok(Failure {
            member_id: r.get(0)?,
            email: r.get(1)?,
            reason: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One completed snapshot's totals, for trends.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    pub completed_at: String,
    pub run_id: Option<i64>,
    pub members: u64,
    pub active: u64,
    pub suspended: u64,
    pub invited: u64,
}

/// The last `limit` completed snapshots, oldest first.
pub fn trend(db: &StateDb, limit: u32) -> Result<Vec<TrendPoint>> {
    let mut stmt = db.conn.prepare(
        "SELECT s.completed_at, s.run_id, s.members,
           (SELECT n FROM snapshot_counts c WHERE c.portion = s.portion AND dimension = 'status' AND value = 'active'),
           (SELECT n FROM snapshot_counts c WHERE c.portion = s.portion AND dimension = 'status' AND value = 'suspended'),
           (SELECT n FROM snapshot_counts c WHERE c.portion = s.portion AND dimension = 'status' AND value = 'invited')
         FROM snapshots s ORDER BY s.completed_at DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> {
            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u64)
        };
        Ok(TrendPoint {
            completed_at: r.get(0)?,
            run_id: r.get(1)?,
            members: n(2)?,
            active: n(3)?,
            suspended: n(4)?,
            invited: n(5)?,
        })
    })?;
    let mut out: Vec<TrendPoint> = rows.collect::<rusqlite::Result<_>>()?;
    out.reverse();
    Ok(out)
}

/// Filters of the audit list view.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub workflow: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl AuditFilter {
    pub fn keep(&self, e: &AuditEntry) -> bool {
        nonempty(&self.user).is_none_or(|u| e.user.to_lowercase().contains(&u.to_lowercase()))
            && nonempty(&self.action).is_none_or(|a| e.action == a)
            && nonempty(&self.outcome).is_none_or(|o| e.outcome == o)
            && nonempty(&self.workflow).is_none_or(|w| e.workflow.as_deref() == Some(w))
            && nonempty(&self.since).is_none_or(|s| e.at.as_str() >= s)
            && nonempty(&self.until).is_none_or(|u| e.at.as_str() <= &*format!("{u}~"))
    }
}

/// The latest audit entries matching `filter`, newest first.
pub fn audit(db: &StateDb, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>> {
    Ok(db
        .audit(u32::MAX)?
        .into_iter()
        .filter(|e| filter.keep(e))
        .take(limit as usize)
        .collect())
}

/// Seconds since the epoch of an RFC 3339 UTC instant (`…Z`) or a date.
pub fn epoch_secs(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    if b.len() < 10 {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = if b.len() >= 19 {
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else {
        (0, 0, 0)
    };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Howard Hinnant's civil-to-days algorithm (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `t` moved by `days`, as RFC 3339.
pub fn shift_days(t: &str, days: i64) -> String {
    let secs = epoch_secs(t).unwrap_or(0) + days * 86_400;
    crate::clock::rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(epoch_secs("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(epoch_secs("2015-05-12T15:50:38Z"), Some(1_431_445_838));
        assert_eq!(
            shift_days("2000-03-01T00:00:00Z", -1),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(epoch_secs("nonsense"), None);
    }
}
