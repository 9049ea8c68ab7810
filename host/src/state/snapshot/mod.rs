//! The team snapshot: the members as the last complete sync listed them,
//! written in the same transaction as each page's checkpoint, so it is
//! never ahead of nor behind what was sent.
//!
//! **One row per page.** A page's members are kept as one blob (each member
//! a [`postcard`] record of borrowed strings, back to back) beside the
//! page's counts. Writing a row per member cost the 1M-member sync ~30%
//! (an insert, a dozen bound texts and their copies, per member); a row per
//! page costs one insert and one copy of the bytes. Readers decode pages in
//! order and filter in memory (`views`): a page of the list views reads only
//! the pages it needs, a filtered one scans the team at a few hundred
//! nanoseconds a member.
//!
//! **Two slots.** Pages go to `team_pages_0` or `team_pages_1`: a new
//! portion empties the slot not in use and appends to it. When the listing
//! completes, the same transaction makes that slot current. Readers always
//! see the last complete listing, never half a team; a crash or a stopped
//! run resumes appending to the same slot from the checkpoint, since both
//! commit together.
//!
//! **Aggregates.** Each page row carries its counts by status, membership
//! type, role and join month; when the listing completes they are summed
//! into `snapshot_counts` (keyed by portion) and a row in `snapshots`
//! closes the portion, so trends are one small query, whatever the team
//! size.
//!
//! Where the values come from: [`layout`].

pub mod layout;

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxBuildHasher;

pub use layout::{COLUMNS, Layout, extend_spec};

/// The schema of migration 5 (the first snapshot: a row per member).
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

/// Migration 7: a row per page instead of a row per member. The rows of
/// migration 5 are not converted: the snapshot is derived from the vendor,
/// and the next sync keeps the team again (until then the pages say no
/// sync has kept one). The per-run counts and `snapshots` stay as history.
pub const MIGRATION_PAGES: &str = "
    DROP TABLE team_members_0;
    DROP TABLE team_members_1;
    CREATE TABLE team_pages_0 (
        seq INTEGER PRIMARY KEY, run_id INTEGER, members INTEGER NOT NULL,
        failed INTEGER NOT NULL, counts BLOB NOT NULL, data BLOB NOT NULL
    );
    CREATE TABLE team_pages_1 (
        seq INTEGER PRIMARY KEY, run_id INTEGER, members INTEGER NOT NULL,
        failed INTEGER NOT NULL, counts BLOB NOT NULL, data BLOB NOT NULL
    );
    DELETE FROM snapshot_slots;";

/// At most this many failed records of one run are kept with their reasons
/// (the run's count is exact; the list is for reading).
pub const MAX_FAILURES_PER_RUN: i64 = 1000;

/// One member as the snapshot keeps it, owned (what the views hand out).
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

/// One member as stored, borrowed from a page's bytes: what the views
/// filter on without allocating. The fields, in this order, are the storage
/// format (postcard writes them without names or count): any change to them
/// needs a migration that empties `team_pages_*`, as migration 7 did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberRef<'a> {
    pub id: &'a str,
    #[serde(borrow)]
    pub email: Option<&'a str>,
    #[serde(borrow)]
    pub given_name: Option<&'a str>,
    #[serde(borrow)]
    pub surname: Option<&'a str>,
    #[serde(borrow)]
    pub status: Option<&'a str>,
    #[serde(borrow)]
    pub membership_type: Option<&'a str>,
    #[serde(borrow)]
    pub roles: Vec<&'a str>,
    #[serde(borrow)]
    pub joined_on: Option<&'a str>,
    #[serde(borrow)]
    pub invited_on: Option<&'a str>,
    #[serde(borrow)]
    pub suspended_on: Option<&'a str>,
    #[serde(borrow)]
    pub failure: Option<&'a str>,
    /// The page's, not stored per member.
    #[serde(skip)]
    pub run_id: Option<i64>,
}

impl MemberRef<'_> {
    pub fn to_member(&self) -> Member {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Member {
            id: self.id.to_owned(),
            email: own(self.email),
            given_name: own(self.given_name),
            surname: own(self.surname),
            status: own(self.status),
            membership_type: own(self.membership_type),
            roles: self.roles.iter().map(|r| (*r).to_owned()).collect(),
            joined_on: own(self.joined_on),
            invited_on: own(self.invited_on),
            suspended_on: own(self.suspended_on),
            failure: own(self.failure),
            run_id: self.run_id,
        }
    }
}

/// The dimensions of the counts, as `snapshot_counts` names them.
const DIMENSIONS: [&str; 5] = ["total", "status", "membership_type", "role", "joined_month"];

/// A failed record kept with its reason.
#[derive(Debug)]
struct Failure {
    id: String,
    email: Option<String>,
    reason: String,
}

/// One page's part of the snapshot, committed with the page.
#[derive(Debug, Default)]
pub struct SnapshotPage {
    run_id: Option<i64>,
    /// The members, postcard records back to back.
    data: Vec<u8>,
    members: u64,
    /// Members that failed to map (all, not only those kept in `failures`).
    failed: u64,
    /// Counts by [`DIMENSIONS`] index, then value.
    counts: [HashMap<String, u64, FxBuildHasher>; DIMENSIONS.len()],
    failures: Vec<Failure>,
}

impl SnapshotPage {
    /// An empty page with room for `members` typical members: growing the
    /// buffer by doubling would copy it ~10 times over per page.
    pub fn new(run_id: Option<i64>, members: usize) -> Self {
        Self {
            run_id,
            data: Vec::with_capacity(members * 192),
            ..Self::default()
        }
    }

    /// Appends a member and counts it.
    pub fn push(&mut self, m: &MemberRef<'_>) {
        let before = self.data.len();
        if postcard::to_extend(m, Sink(&mut self.data)).is_err() {
            // Our own types always encode; should one ever not, the page
            // loses that member's row rather than keeping half of it.
            self.data.truncate(before);
            tracing::warn!("a team member could not be encoded for the snapshot");
            return;
        }
        self.members += 1;
        // The total is `members`; the rest are counted by value.
        let mut add = |dim: usize, value: &str| count(&mut self.counts[dim], value, 1);
        add(1, m.status.unwrap_or(""));
        add(2, m.membership_type.unwrap_or(""));
        if m.roles.is_empty() {
            add(3, "");
        }
        for r in &m.roles {
            add(3, r);
        }
        if let Some(month) = m.joined_on.and_then(|d| d.get(..7)) {
            add(4, month);
        }
        if let Some(reason) = m.failure {
            self.failed += 1;
            if self.failures.len() < MAX_FAILURES_PER_RUN as usize {
                self.failures.push(Failure {
                    id: m.id.to_owned(),
                    email: m.email.map(str::to_owned),
                    reason: reason.to_owned(),
                });
            }
        }
    }

    /// The counts as stored beside the page: `(dimension, value, n)`.
    fn counts_blob(&self) -> Result<Vec<u8>> {
        let total = (self.members > 0).then_some((0u8, "", self.members));
        let flat: Vec<(u8, &str, u64)> = total
            .into_iter()
            .chain(
                self.counts
                    .iter()
                    .enumerate()
                    .flat_map(|(d, m)| m.iter().map(move |(v, n)| (d as u8, v.as_str(), *n))),
            )
            .collect();
        Ok(postcard::to_allocvec(&flat)?)
    }

    /// The page's members, decoded again (tests).
    #[cfg(test)]
    pub fn decode(&self) -> Result<Vec<Member>> {
        let mut out = Vec::new();
        decode_page(&self.data, self.run_id, 0, |m| {
            out.push(m.to_member());
            true
        })?;
        Ok(out)
    }
}

/// At most this many distinct values are counted per dimension (in a page,
/// and in a portion); the rest are counted under [`OTHER`]. A team has a
/// handful of statuses and roles and a few hundred join months; a hostile
/// component could otherwise name a new role per member and grow the
/// counts, the state database and every chart with the team.
pub const MAX_VALUES: usize = 1000;

/// Where values past [`MAX_VALUES`] are counted.
pub const OTHER: &str = "(other)";

/// Adds `n` to `value`'s count, or to [`OTHER`]'s when `counts` already
/// holds [`MAX_VALUES`] others.
fn count<S: std::hash::BuildHasher>(counts: &mut HashMap<String, u64, S>, value: &str, n: u64) {
    if let Some(c) = counts.get_mut(value) {
        *c += n;
    } else if counts.len() < MAX_VALUES {
        counts.insert(value.to_owned(), n);
    } else {
        *counts.entry(OTHER.to_owned()).or_default() += n;
    }
}

/// Lets postcard append to a borrowed buffer.
struct Sink<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Sink<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Decodes a page's members in order, skipping the first `skip`, each to
/// `f` until it returns false. Returns false when `f` stopped.
fn decode_page(
    mut data: &[u8],
    run_id: Option<i64>,
    mut skip: u64,
    mut f: impl FnMut(&MemberRef<'_>) -> bool,
) -> Result<bool> {
    while !data.is_empty() {
        let (mut m, rest): (MemberRef<'_>, &[u8]) = postcard::take_from_bytes(data)?;
        data = rest;
        if skip > 0 {
            skip -= 1;
            continue;
        }
        m.run_id = run_id;
        if !f(&m) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn slot_table(slot: i64) -> &'static str {
    if slot == 0 {
        "team_pages_0"
    } else {
        "team_pages_1"
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
            Ok(slot)
        }
    }
}

/// Writes a page into the writing slot; when the listing is complete, sums
/// the portion's counts and makes the slot current. Called inside the
/// page's transaction.
pub fn write_page(
    conn: &Connection,
    integration: &str,
    portion: &str,
    page: &SnapshotPage,
    listing_complete: bool,
) -> Result<()> {
    let slot = writing_slot(conn, integration, portion)?;
    let table = slot_table(slot);
    conn.prepare_cached(&format!(
        "INSERT INTO {table} (run_id, members, failed, counts, data) VALUES (?1, ?2, ?3, ?4, ?5)"
    ))?
    .execute(params![
        page.run_id,
        page.members as i64,
        page.failed as i64,
        page.counts_blob()?,
        page.data
    ])?;
    if !page.failures.is_empty()
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
        for f in page
            .failures
            .iter()
            .take((MAX_FAILURES_PER_RUN - kept).max(0) as usize)
        {
            fail.execute(params![run, f.id, f.email, f.reason])?;
        }
    }
    if listing_complete {
        complete(conn, integration, portion, table, page.run_id)?;
    }
    Ok(())
}

/// Closes the portion: its counts summed over its pages, the slot current.
fn complete(
    conn: &Connection,
    integration: &str,
    portion: &str,
    table: &str,
    run_id: Option<i64>,
) -> Result<()> {
    let mut totals: [HashMap<String, u64>; DIMENSIONS.len()] = Default::default();
    let (mut members, mut failed) = (0i64, 0i64);
    {
        let mut stmt =
            conn.prepare(&format!("SELECT seq, members, failed, counts FROM {table}"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            members += r.get::<_, i64>(1)?;
            failed += r.get::<_, i64>(2)?;
            let counts: Vec<(u8, &str, u64)> = postcard::from_bytes(r.get_ref(3)?.as_blob()?)
                .with_context(|| format!("the team snapshot's page {seq} has damaged counts"))?;
            for (d, v, n) in counts {
                let Some(dim) = totals.get_mut(usize::from(d)) else {
                    anyhow::bail!("the team snapshot's page {seq} counts an unknown dimension {d}");
                };
                count(dim, v, n);
            }
        }
    }
    conn.execute("DELETE FROM snapshot_counts WHERE portion = ?1", [portion])?;
    let mut add = conn.prepare_cached(
        "INSERT INTO snapshot_counts (portion, dimension, value, n) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (dimension, values) in DIMENSIONS.iter().zip(&totals) {
        for (v, n) in values {
            add.execute(params![portion, dimension, v, *n as i64])?;
        }
    }
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
            run_id,
            crate::clock::now(),
            members,
            failed
        ],
    )?;
    Ok(())
}

/// The listing restarts from its first page (an expired cursor): what the
/// portion wrote so far is dropped, so no member is kept twice.
pub fn restart(conn: &Connection, integration: &str) -> Result<()> {
    let row: Option<(Option<i64>, i64)> = conn
        .query_row(
            "SELECT current_slot, writing_slot FROM snapshot_slots WHERE integration = ?1",
            [integration],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((current, slot)) = row
        && current != Some(slot)
    {
        conn.execute(&format!("DELETE FROM {}", slot_table(slot)), [])?;
    }
    Ok(())
}

/// Drops the members kept (both slots); the per-run counts and
/// `snapshots` rows stay, as run history.
pub fn drop_rows(conn: &Connection, integration: &str) -> Result<()> {
    conn.execute("DELETE FROM team_pages_0", [])?;
    conn.execute("DELETE FROM team_pages_1", [])?;
    conn.execute(
        "DELETE FROM snapshot_slots WHERE integration = ?1",
        [integration],
    )?;
    Ok(())
}

/// The table holding the current (last complete) snapshot, if any.
fn current_table(conn: &Connection) -> Result<Option<&'static str>> {
    let slot: Option<Option<i64>> = conn
        .query_row(
            "SELECT current_slot FROM snapshot_slots ORDER BY integration LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(slot.flatten().map(slot_table))
}

/// How many members the current snapshot holds; `None` when no sync has
/// kept one.
pub fn total(conn: &Connection) -> Result<Option<u64>> {
    let Some(table) = current_table(conn)? else {
        return Ok(None);
    };
    let n: i64 = conn.query_row(
        &format!("SELECT coalesce(sum(members), 0) FROM {table}"),
        [],
        |r| r.get(0),
    )?;
    Ok(Some(n as u64))
}

/// The current snapshot's members in listing order, from the `skip`-th on
/// (whole pages before it are not read), each to `f` until it returns
/// false. Returns false when there is no snapshot.
pub fn scan(
    conn: &Connection,
    skip: u64,
    mut f: impl FnMut(&MemberRef<'_>) -> bool,
) -> Result<bool> {
    let Some(table) = current_table(conn)? else {
        return Ok(false);
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT seq, members, run_id, data FROM {table} ORDER BY seq"
    ))?;
    let mut rows = stmt.query([])?;
    let mut skip = skip;
    while let Some(r) = rows.next()? {
        let members = r.get::<_, i64>(1)? as u64;
        if skip >= members {
            // The blob is not read: SQLite loads a column only when asked.
            skip -= members;
            continue;
        }
        let seq: i64 = r.get(0)?;
        let go_on = decode_page(r.get_ref(3)?.as_blob()?, r.get(2)?, skip, &mut f)
            .with_context(|| format!("the team snapshot's page {seq} is damaged"))?;
        skip = 0;
        if !go_on {
            break;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: usize) -> Member {
        Member {
            id: format!("dbmid:{i}"),
            email: Some(format!("m{i}@example.com")),
            given_name: i.is_multiple_of(2).then(|| format!("Given\u{1b}[31m{i}")),
            status: Some(
                if i.is_multiple_of(3) {
                    "suspended"
                } else {
                    "active"
                }
                .into(),
            ),
            roles: if i.is_multiple_of(10) {
                vec!["Team admin".into(), "Billing admin".into()]
            } else {
                vec![]
            },
            joined_on: Some(format!("2026-0{}-01T00:00:00Z", 1 + i % 3)),
            failure: i.is_multiple_of(7).then(|| "bad".to_owned()),
            ..Default::default()
        }
    }

    fn as_ref(m: &Member) -> MemberRef<'_> {
        MemberRef {
            id: &m.id,
            email: m.email.as_deref(),
            given_name: m.given_name.as_deref(),
            surname: m.surname.as_deref(),
            status: m.status.as_deref(),
            membership_type: m.membership_type.as_deref(),
            roles: m.roles.iter().map(String::as_str).collect(),
            joined_on: m.joined_on.as_deref(),
            invited_on: m.invited_on.as_deref(),
            suspended_on: m.suspended_on.as_deref(),
            failure: m.failure.as_deref(),
            run_id: None,
        }
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATION).unwrap();
        conn.execute_batch(MIGRATION_PAGES).unwrap();
        conn
    }

    fn all(conn: &Connection, skip: u64) -> Vec<Member> {
        let mut out = Vec::new();
        scan(conn, skip, |m| {
            out.push(m.to_member());
            true
        })
        .unwrap();
        out
    }

    fn count(conn: &Connection, portion: &str, d: &str, v: &str) -> i64 {
        conn.query_row(
            "SELECT n FROM snapshot_counts WHERE portion = ?1 AND dimension = ?2 AND value = ?3",
            [portion, d, v],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Writes `sizes` pages of consecutive members as one portion, the last
    /// page completing the listing.
    fn write(conn: &Connection, portion: &str, sizes: &[usize], run: i64) -> Vec<Member> {
        write_some(conn, portion, sizes, run, true)
    }

    fn write_some(
        conn: &Connection,
        portion: &str,
        sizes: &[usize],
        run: i64,
        complete: bool,
    ) -> Vec<Member> {
        let mut expected = Vec::new();
        let mut next = 0;
        for (p, n) in sizes.iter().enumerate() {
            let members: Vec<Member> = (next..next + n).map(member).collect();
            next += n;
            let mut page = SnapshotPage::new(Some(run), 8);
            for m in &members {
                page.push(&as_ref(m));
            }
            expected.extend(members.into_iter().map(|m| Member {
                run_id: Some(run),
                ..m
            }));
            let last = complete && p == sizes.len() - 1;
            write_page(conn, "dropbox", portion, &page, last).unwrap();
        }
        expected
    }

    /// Pages of any size land whole and in order, with their counts; the
    /// slot becomes current only with the listing's last page, and a scan
    /// from any offset starts at that member, across page boundaries.
    #[test]
    fn pages_land_in_order_with_their_counts_and_scan_from_any_offset() {
        let conn = db();
        let sizes = [0, 1, 63, 64, 65, 1000];
        assert!(!scan(&conn, 0, |_| true).unwrap(), "no snapshot yet");
        // All but the last page: still no current snapshot.
        write_some(&conn, "p1", &sizes[..5], 5, false);
        assert_eq!(total(&conn).unwrap(), None);
        let conn = db();
        let expected = write(&conn, "p1", &sizes, 5);
        assert_eq!(expected.len(), 1193);
        assert_eq!(total(&conn).unwrap(), Some(expected.len() as u64));
        assert_eq!(all(&conn, 0), expected);
        for skip in [1, 63, 64, 65, 129, 192, 1000, expected.len() as u64] {
            assert_eq!(all(&conn, skip), expected[skip as usize..], "skip {skip}");
        }
        let total = expected.len() as i64;
        let by = |f: &dyn Fn(&Member) -> bool| expected.iter().filter(|m| f(m)).count() as i64;
        assert_eq!(count(&conn, "p1", "total", ""), total);
        assert_eq!(
            count(&conn, "p1", "status", "suspended"),
            by(&|m| m.status.as_deref() == Some("suspended"))
        );
        assert_eq!(
            count(&conn, "p1", "role", "Billing admin"),
            by(&|m| !m.roles.is_empty())
        );
        assert_eq!(count(&conn, "p1", "role", ""), by(&|m| m.roles.is_empty()));
        assert_eq!(
            count(&conn, "p1", "joined_month", "2026-02"),
            by(&|m| m
                .joined_on
                .as_deref()
                .is_some_and(|d| d.starts_with("2026-02")))
        );
        let (members, failed): (i64, i64) = conn
            .query_row("SELECT members, failed FROM snapshots", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((members, failed), (total, by(&|m| m.failure.is_some())));
        let kept: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM run_failures WHERE run_id = 5",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, failed);
    }

    /// A new portion writes the other slot: readers keep the last complete
    /// team until it completes; a restart drops only what it wrote.
    #[test]
    fn the_last_complete_team_stays_current_until_the_next_one_completes() {
        let conn = db();
        let first = write(&conn, "p1", &[10, 5], 1);
        write(&conn, "p2", &[3], 2);
        // p2's single page was its last: p2 is current.
        assert_eq!(all(&conn, 0).len(), 3);
        let mut page = SnapshotPage::new(Some(3), 1);
        page.push(&as_ref(&member(99)));
        write_page(&conn, "dropbox", "p3", &page, false).unwrap();
        assert_eq!(all(&conn, 0).len(), 3, "p3 is not complete");
        restart(&conn, "dropbox").unwrap();
        // The restarted portion starts empty again; p2 is untouched.
        write_page(&conn, "dropbox", "p3", &SnapshotPage::new(Some(3), 1), true).unwrap();
        assert_eq!(total(&conn).unwrap(), Some(0));
        let members: i64 = conn
            .query_row(
                "SELECT members FROM snapshots WHERE portion = 'p3'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(members, 0);
        assert_eq!(first.len(), 15);
    }

    /// A value per member (a hostile component's) cannot grow the counts
    /// past [`MAX_VALUES`] a dimension: the rest are counted, as `(other)`.
    #[test]
    fn distinct_values_past_the_cap_are_counted_as_other() {
        let conn = db();
        let per_page = 700;
        for p in 0..3 {
            let members: Vec<Member> = (0..per_page)
                .map(|i| Member {
                    id: format!("m{p}-{i}"),
                    status: Some("active".into()),
                    roles: vec![format!("role {p}-{i}"), "Team admin".into()],
                    ..Default::default()
                })
                .collect();
            let mut page = SnapshotPage::new(Some(1), per_page);
            for m in &members {
                page.push(&as_ref(m));
            }
            write_page(&conn, "dropbox", "p1", &page, p == 2).unwrap();
        }
        let (values, sum): (i64, i64) = conn
            .query_row(
                "SELECT count(*), sum(n) FROM snapshot_counts WHERE portion = 'p1' AND dimension = 'role'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(values, MAX_VALUES as i64 + 1);
        assert_eq!(sum, 2 * 3 * per_page as i64, "every role is counted");
        assert_eq!(
            count(&conn, "p1", "role", "Team admin"),
            3 * per_page as i64
        );
        assert_eq!(count(&conn, "p1", "status", "active"), 3 * per_page as i64);
        assert!(count(&conn, "p1", "role", OTHER) >= (3 * per_page - MAX_VALUES) as i64);
    }

    #[test]
    fn a_damaged_page_is_an_error_that_names_it() {
        let conn = db();
        write(&conn, "p1", &[2], 1);
        conn.execute("UPDATE team_pages_0 SET data = x'05ff'", [])
            .unwrap();
        let err = scan(&conn, 0, |_| true).unwrap_err();
        assert!(format!("{err:#}").contains("page 1 is damaged"), "{err:#}");
    }
}
