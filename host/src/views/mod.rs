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
use rusqlite::Connection;
use serde::Serialize;

pub use crate::state::snapshot::Member;
use crate::state::snapshot::MemberRef;

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
    /// The filter made ready to test members against: trimmed, lower-cased
    /// once, the day bound made a timestamp bound.
    fn compile(&self) -> Compiled {
        Compiled {
            status: nonempty(&self.status).map(str::to_owned),
            membership_type: nonempty(&self.membership_type).map(str::to_owned),
            role: nonempty(&self.role).map(str::to_owned),
            joined_from: nonempty(&self.joined_from).map(str::to_owned),
            // Inclusive of the whole day: every time on it sorts below.
            joined_to: nonempty(&self.joined_to).map(|d| format!("{d}T99")),
            q: nonempty(&self.q).map(str::to_lowercase),
        }
    }
}

/// A [`MemberFilter`] ready to test members.
struct Compiled {
    status: Option<String>,
    membership_type: Option<String>,
    role: Option<String>,
    joined_from: Option<String>,
    joined_to: Option<String>,
    q: Option<String>,
}

/// Whether `hay`, lower-cased, contains `needle` (already lower case).
fn contains_lower(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle)
    }
}

impl Compiled {
    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.membership_type.is_none()
            && self.role.is_none()
            && self.joined_from.is_none()
            && self.joined_to.is_none()
            && self.q.is_none()
    }

    fn matches(&self, m: &MemberRef<'_>) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.status, m.status)
            && eq(&self.membership_type, m.membership_type)
            && match self.role.as_deref() {
                None => true,
                Some("member") => m.roles.is_empty(),
                Some(r) => m.roles.contains(&r),
            }
            && self
                .joined_from
                .as_deref()
                .is_none_or(|from| m.joined_on.is_some_and(|j| j >= from))
            && self
                .joined_to
                .as_deref()
                .is_none_or(|to| m.joined_on.is_some_and(|j| j < to))
            && self.q.as_deref().is_none_or(|q| {
                m.email.is_some_and(|e| contains_lower(e, q))
                    || contains_lower(
                        &format!("{} {}", m.given_name.unwrap_or(""), m.surname.unwrap_or("")),
                        q,
                    )
            })
    }
}

/// One page of the members list view, and how many match in all.
pub struct MemberPage {
    pub members: Vec<Member>,
    pub total: u64,
}

impl MemberPage {
    fn empty() -> Self {
        MemberPage {
            members: vec![],
            total: 0,
        }
    }
}

/// A test a list view applies to each member.
type Keep<'k> = &'k dyn Fn(&MemberRef<'_>) -> bool;

/// For each test in `keeps`, in one pass over the current snapshot: the
/// members it keeps from its `offset`-th on, at most `limit`, in listing
/// order, and how many it keeps in all.
fn matching(db: &StateDb, keeps: &[Keep<'_>], offset: u64, limit: u64) -> Result<Vec<MemberPage>> {
    let mut pages: Vec<MemberPage> = keeps.iter().map(|_| MemberPage::empty()).collect();
    crate::state::snapshot::scan(&db.conn, 0, |m| {
        for (keep, page) in keeps.iter().zip(pages.iter_mut()) {
            if keep(m) {
                if page.total >= offset && (page.members.len() as u64) < limit {
                    page.members.push(m.to_member());
                }
                page.total += 1;
            }
        }
        true
    })?;
    Ok(pages)
}

/// A page of the current snapshot's members matching `filter`, in the
/// order they were listed. Without a filter only the pages holding the
/// window are read.
pub fn members(db: &StateDb, filter: &MemberFilter, offset: u64, limit: u64) -> Result<MemberPage> {
    use crate::state::snapshot;
    let f = filter.compile();
    if !f.is_empty() {
        let keep = |m: &MemberRef<'_>| f.matches(m);
        let mut pages = matching(db, &[&keep], offset, limit)?;
        return Ok(pages.pop().unwrap_or_else(MemberPage::empty));
    }
    let Some(total) = snapshot::total(&db.conn)? else {
        return Ok(MemberPage::empty());
    };
    let mut members = Vec::new();
    if limit > 0 {
        snapshot::scan(&db.conn, offset, |m| {
            members.push(m.to_member());
            (members.len() as u64) < limit
        })?;
    }
    Ok(MemberPage { members, total })
}

/// Every member of the current snapshot matching `filter`, streamed to `f`
/// (the CSV export: one member at a time is held in memory).
pub fn each_member(
    db: &StateDb,
    filter: &MemberFilter,
    mut f: impl FnMut(&Member) -> Result<()>,
) -> Result<()> {
    let filter = filter.compile();
    let mut failed = None;
    crate::state::snapshot::scan(&db.conn, 0, |m| {
        if !filter.matches(m) {
            return true;
        }
        match f(&m.to_member()) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    failed.map_or(Ok(()), Err)
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

/// The lists the report and the dashboard show beside the counts, each at
/// most `limit` members and how many in all, read in one pass over the
/// team.
pub struct WatchLists {
    /// Suspended for more than the given number of days.
    pub suspended: MemberPage,
    /// Invitations never accepted: members still `invited`.
    pub invited: MemberPage,
    /// Members holding an admin role.
    pub admins: MemberPage,
}

/// [`WatchLists`] as of `now` (RFC 3339), suspensions older than `days`.
pub fn watch_lists(db: &StateDb, days: u32, now: &str, limit: u64) -> Result<WatchLists> {
    let cutoff = shift_days(now, -(i64::from(days)));
    let keeps: [Keep<'_>; 3] = [
        &|m| m.status == Some("suspended") && m.suspended_on.is_some_and(|s| s < cutoff.as_str()),
        &|m| m.status == Some("invited"),
        &|m| !m.roles.is_empty(),
    ];
    let mut pages = matching(db, &keeps, 0, limit)?.into_iter();
    let mut next = || pages.next().unwrap_or_else(MemberPage::empty);
    let (suspended, invited, admins) = (next(), next(), next());
    Ok(WatchLists {
        suspended,
        invited,
        admins,
    })
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

    fn filter(f: impl FnOnce(&mut MemberFilter)) -> Compiled {
        let mut filter = MemberFilter::default();
        f(&mut filter);
        filter.compile()
    }

    #[test]
    fn member_filters_match_as_the_list_views_promise() {
        let ada = MemberRef {
            id: "dbmid:1",
            email: Some("Ada.Lovelace@Example.com"),
            given_name: Some("Ada"),
            surname: Some("Ångström"),
            status: Some("active"),
            membership_type: Some("full"),
            roles: vec!["Team admin"],
            joined_on: Some("2026-03-31T23:59:59Z"),
            ..Default::default()
        };
        let plain = MemberRef {
            id: "dbmid:2",
            status: Some("invited"),
            ..Default::default()
        };
        let yes = |c: &Compiled| c.matches(&ada);
        assert!(filter(|_| {}).is_empty());
        assert!(yes(&filter(|f| f.status = Some(" active ".into()))));
        assert!(!yes(&filter(|f| f.status = Some("Active".into()))));
        assert!(yes(&filter(|f| f.role = Some("Team admin".into()))));
        assert!(!yes(&filter(|f| f.role = Some("member".into()))));
        assert!(filter(|f| f.role = Some("member".into())).matches(&plain));
        // The day bounds are inclusive of the whole day.
        assert!(yes(&filter(|f| f.joined_to = Some("2026-03-31".into()))));
        assert!(!yes(&filter(|f| f.joined_to = Some("2026-03-30".into()))));
        assert!(yes(&filter(|f| f.joined_from = Some("2026-03-31".into()))));
        assert!(!yes(&filter(|f| f.joined_from = Some("2026-04-01".into()))));
        // No join date never matches a date bound.
        assert!(!filter(|f| f.joined_from = Some("1970-01-01".into())).matches(&plain));
        // The search ignores case, in the email and the whole name.
        assert!(yes(&filter(|f| f.q = Some("LOVELACE@".into()))));
        assert!(yes(&filter(|f| f.q = Some("ada ångs".into()))));
        assert!(yes(&filter(|f| f.q = Some("ÅNGSTRÖM".into()))));
        assert!(!yes(&filter(|f| f.q = Some("grace".into()))));
        // Every filter given must match.
        assert!(!yes(&filter(|f| {
            f.status = Some("active".into());
            f.membership_type = Some("limited".into());
        })));
    }

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
