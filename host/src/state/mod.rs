//! The embedded state database (SQLite, one file): the audit log of every
//! action, and the history of runs (with the team snapshot, `snapshot`,
//! and the seats the vendor counted, `seats`).
//!
//! The schema is versioned with `PRAGMA user_version` and migrated forward
//! on open. A file that is not a database, or one written by a newer
//! version of this tool, is refused with an error that names it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

/// Migrations, in order; `MIGRATIONS[i]` moves the schema from version i
/// to i + 1. Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: audit log and run history.
    "CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        workflow TEXT,
        step INTEGER,
        user TEXT NOT NULL,
        action TEXT NOT NULL,
        params TEXT NOT NULL,
        vendor_response TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_workflow_user ON audit (workflow, user, step);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        integration TEXT NOT NULL,
        portion TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        fetched INTEGER NOT NULL DEFAULT 0,
        mapped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        filtered INTEGER NOT NULL DEFAULT 0,
        sent INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );",
    // 2: resumable runs: checkpoint, durable outbox, per-portion keys,
    // change-detection fingerprints, settings, and run locks.
    "CREATE TABLE active_run (
        integration TEXT PRIMARY KEY,
        portion TEXT NOT NULL,
        run_id INTEGER,
        cursor TEXT,
        pages_done INTEGER NOT NULL DEFAULT 0,
        listing_complete INTEGER NOT NULL DEFAULT 0,
        acked_batches INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        portion TEXT NOT NULL,
        records TEXT NOT NULL,
        fingerprints TEXT NOT NULL
    );
    CREATE TABLE portion_keys (
        portion TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (portion, key)
    ) WITHOUT ROWID;
    CREATE TABLE fingerprints (
        integration TEXT NOT NULL,
        key TEXT NOT NULL,
        hash INTEGER NOT NULL,
        PRIMARY KEY (integration, key)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
    );",
    // 3: one compact row per record key, replacing `portion_keys` and
    // `fingerprints`: the key, the fingerprint of what was last queued and
    // the portion that queued it, all 64-bit hashes (see `durable`), so a
    // page costs one integer-keyed lookup and one upsert per record. The old
    // fingerprints cannot be converted: the first run after the upgrade
    // sends every record once.
    "DROP TABLE portion_keys;
    DROP TABLE fingerprints;
    CREATE TABLE record_marks (
        key INTEGER PRIMARY KEY,
        fingerprint INTEGER,
        portion INTEGER NOT NULL
    );",
    // 4: what SaaS reconciliation needs to be right across a resume (the
    // SaaS keys each committed page listed, the portion's filtered and
    // failed counts, which SaaS users this tool deactivated), what kind of
    // run each run was (sync, test, dry; full or not; its process, to tell
    // a dead run from a running one), and how many records Oomnitza
    // acknowledged without counts.
    "ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync';
    ALTER TABLE runs ADD COLUMN full INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN deactivated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN reactivated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE active_run ADD COLUMN test_run INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE active_run ADD COLUMN full INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE active_run ADD COLUMN filtered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE active_run ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE active_run ADD COLUMN saas_keys TEXT;
    CREATE TABLE saas_seen (
        portion TEXT NOT NULL,
        keys BLOB NOT NULL
    );
    CREATE INDEX saas_seen_by_portion ON saas_seen (portion);
    CREATE TABLE saas_deactivated (
        integration TEXT NOT NULL,
        saas_user_id TEXT NOT NULL,
        key INTEGER NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (integration, saas_user_id)
    ) WITHOUT ROWID;",
    // 5: the team snapshot, its per-run counts and each run's failed
    // records (see `snapshot`).
    crate::state::snapshot::MIGRATION,
    // 6: the seats each real sync read from the vendor (see `seats`).
    crate::state::seats::MIGRATION,
    // 7: the team snapshot as a row per page (see `snapshot`).
    crate::state::snapshot::MIGRATION_PAGES,
];

mod durable;
pub mod seats;
pub mod snapshot;
pub use durable::{ActiveRun, Mark, PageCommit, PendingBatch, PortionStart, SaasKeys, hash64};

/// What an action did, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Unchanged,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: String,
    /// `None` for an action run by hand.
    pub workflow: Option<String>,
    pub step: Option<u32>,
    pub user: String,
    pub action: String,
    /// Parameters as JSON text.
    pub params: String,
    pub vendor_response: String,
    pub outcome: String,
    pub detail: String,
}

/// What kind of run a history row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunKind {
    /// A real sync.
    #[default]
    Sync,
    /// `--test-run`: a trial of at most 10 records.
    Test,
    /// `--dry-run`: nothing sent.
    Dry,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Test => "test",
            RunKind::Dry => "dry",
        }
    }

    /// How `runs` and the views label a run: `full`, `changes` (only
    /// changed records sent), `test`, `dry` or `dry,full`.
    pub fn label(self, full: bool) -> &'static str {
        match (self, full) {
            (RunKind::Dry, true) => "dry,full",
            (RunKind::Dry, false) => "dry",
            (RunKind::Test, _) => "test",
            (RunKind::Sync, true) => "full",
            (RunKind::Sync, false) => "changes",
        }
    }

    fn parse(s: &str) -> RunKind {
        match s {
            "test" => RunKind::Test,
            "dry" => RunKind::Dry,
            _ => RunKind::Sync,
        }
    }
}

/// The status of a run whose process died without finishing it.
pub const INTERRUPTED: &str = "interrupted";

/// A run of a sync, as the history records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub integration: String,
    pub portion: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub fetched: u64,
    pub mapped: u64,
    pub failed: u64,
    pub filtered: u64,
    pub sent: u64,
    pub created: u64,
    pub updated: u64,
    pub error: Option<String>,
    pub kind: RunKind,
    /// Sent every record, changed or not.
    pub full: bool,
    /// Records Oomnitza acknowledged in answers that carried no counts.
    pub accepted: u64,
    /// SaaS users deactivated / reactivated by the run's reconciliation.
    pub deactivated: u64,
    pub reactivated: u64,
}

pub struct StateDb {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl StateDb {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the folder of state database {}",
                    path.display()
                )
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open state database {}", path.display()))?;
        let db = StateDb {
            conn,
            path: path.to_path_buf(),
        };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&self) -> Result<()> {
        let named = |e: rusqlite::Error| {
            anyhow::anyhow!(
                "state database {} is unreadable or not a SQLite database ({e}); move it aside to start afresh",
                self.path.display()
            )
        };
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(named)?;
        // WAL: a reader (`runs`, `audit`) never blocks a running sync, and a
        // killed process leaves a consistent database.
        let _ = self.conn.pragma_update(None, "journal_mode", "WAL");
        let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        // A bounded page cache (32 MiB) keeps a large team's record marks
        // off the disk without letting memory grow with the team.
        let _ = self.conn.pragma_update(None, "cache_size", -32768);
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map_err(named)? as usize;
        if version > MIGRATIONS.len() {
            bail!(
                "state database {} has schema version {version}, newer than this oomnitza-connect understands ({}); upgrade oomnitza-connect",
                self.path.display(),
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.unchecked_transaction().map_err(named)?;
            tx.execute_batch(sql).map_err(named)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(named)?;
            tx.commit().map_err(named)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record_action(&self, e: &AuditEntry) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO audit (at, workflow, step, user, action, params, vendor_response, outcome, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![e.at, e.workflow, e.step, e.user, e.action, e.params, e.vendor_response, e.outcome, e.detail],
            )
            .with_context(|| format!("cannot write the audit log in {}", self.path.display()))?;
        Ok(())
    }

    /// Whether `workflow`'s `step` already completed (done or unchanged)
    /// for `user`.
    pub fn step_completed(&self, workflow: &str, step: u32, user: &str) -> Result<bool> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM audit WHERE workflow = ?1 AND step = ?2 AND user = ?3
                 AND outcome IN ('done', 'unchanged') LIMIT 1",
                params![workflow, step, user],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// The latest `limit` entries, newest first.
    pub fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, workflow, step, user, action, params, vendor_response, outcome, detail
             FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                workflow: r.get(1)?,
                step: r.get(2)?,
                user: r.get(3)?,
                action: r.get(4)?,
                params: r.get(5)?,
                vendor_response: r.get(6)?,
                outcome: r.get(7)?,
                detail: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Starts a run of this process; returns its id.
    pub fn start_run(
        &self,
        integration: &str,
        portion: &str,
        started_at: &str,
        kind: RunKind,
        full: bool,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (integration, portion, started_at, status, kind, full, pid)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![
                integration,
                portion,
                started_at,
                kind.as_str(),
                full as i64,
                std::process::id() as i64
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, id: i64, r: &RunRecord) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, status = ?3, fetched = ?4, mapped = ?5, failed = ?6,
             filtered = ?7, sent = ?8, created = ?9, updated = ?10, error = ?11, accepted = ?12,
             deactivated = ?13, reactivated = ?14 WHERE id = ?1",
            params![
                id,
                r.ended_at,
                r.status,
                r.fetched as i64,
                r.mapped as i64,
                r.failed as i64,
                r.filtered as i64,
                r.sent as i64,
                r.created as i64,
                r.updated as i64,
                r.error,
                r.accepted as i64,
                r.deactivated as i64,
                r.reactivated as i64
            ],
        )?;
        Ok(())
    }

    /// Marks as interrupted every run recorded as running whose process is
    /// gone: a double Ctrl-C or a SIGKILL ends a process before it can say
    /// so. A real or test run is alive only while its process holds the
    /// integration's lock; a dry run takes no lock, so only its process is
    /// checked. This process has no run going when it calls this. Returns
    /// how many were marked.
    pub fn mark_dead_runs(&self) -> Result<u64> {
        let me = std::process::id() as i64;
        let running: Vec<(i64, String, String, Option<i64>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, integration, kind, pid FROM runs WHERE status = 'running'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut marked = 0;
        for (id, integration, kind, pid) in running {
            let alive = match pid {
                None => false,
                Some(pid) if pid == me => false,
                Some(pid) if RunKind::parse(&kind) == RunKind::Dry => durable::process_alive(pid),
                Some(pid) => self.holds_lock(&integration, pid)? && durable::process_alive(pid),
            };
            if !alive {
                marked += self.conn.execute(
                    "UPDATE runs SET status = ?2, error = COALESCE(error, ?3) WHERE id = ?1 AND status = 'running'",
                    params![
                        id,
                        INTERRUPTED,
                        "its process ended before the run finished (killed, or stopped by a second signal); the next sync resumes its portion"
                    ],
                )? as u64;
            }
        }
        Ok(marked)
    }

    /// When the last run that sent every record completed (Unix seconds).
    pub fn last_full_at(&self, integration: &str) -> Result<Option<i64>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("last_full:{integration}")],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()))
    }

    pub fn set_last_full(&self, integration: &str, at_secs: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![format!("last_full:{integration}"), at_secs.to_string()],
        )?;
        Ok(())
    }

    /// When the latest real sync (not a test or dry run) of `integration`
    /// started.
    pub fn last_sync_started(&self, integration: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT started_at FROM runs WHERE integration = ?1 AND kind = 'sync'
                 ORDER BY id DESC LIMIT 1",
                [integration],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The latest `limit` runs, newest first.
    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, integration, portion, started_at, ended_at, status, fetched, mapped, failed,
             filtered, sent, created, updated, error, kind, full, accepted, deactivated, reactivated
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(RunRecord {
                id: r.get(0)?,
                integration: r.get(1)?,
                portion: r.get(2)?,
                started_at: r.get(3)?,
                ended_at: r.get(4)?,
                status: r.get(5)?,
                fetched: r.get::<_, i64>(6)? as u64,
                mapped: r.get::<_, i64>(7)? as u64,
                failed: r.get::<_, i64>(8)? as u64,
                filtered: r.get::<_, i64>(9)? as u64,
                sent: r.get::<_, i64>(10)? as u64,
                created: r.get::<_, i64>(11)? as u64,
                updated: r.get::<_, i64>(12)? as u64,
                error: r.get(13)?,
                kind: RunKind::parse(&r.get::<_, String>(14)?),
                full: r.get::<_, i64>(15)? != 0,
                accepted: r.get::<_, i64>(16)? as u64,
                deactivated: r.get::<_, i64>(17)? as u64,
                reactivated: r.get::<_, i64>(18)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(outcome: &str) -> AuditEntry {
        AuditEntry {
            at: "2026-11-27T00:00:00Z".into(),
            workflow: Some("offboard".into()),
            step: Some(0),
            user: "a@corp.com".into(),
            action: "deactivate-user".into(),
            params: "{\"wipe-data\":false}".into(),
            vendor_response: "null".into(),
            outcome: outcome.into(),
            detail: "suspended".into(),
        }
    }

    #[test]
    fn audit_round_trips_and_tracks_completion() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        db.record_action(&entry("failed")).unwrap();
        assert!(!db.step_completed("offboard", 0, "a@corp.com").unwrap());
        db.record_action(&entry("done")).unwrap();
        assert!(db.step_completed("offboard", 0, "a@corp.com").unwrap());
        assert!(!db.step_completed("offboard", 1, "a@corp.com").unwrap());
        let all = db.audit(10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, "done");
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        StateDb::open(&path)
            .unwrap()
            .record_action(&entry("done"))
            .unwrap();
        assert_eq!(StateDb::open(&path).unwrap().audit(5).unwrap().len(), 1);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = StateDb::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("junk.db") && err.contains("not a SQLite database"),
            "{err}"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = StateDb::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("schema version 99") && err.contains("new.db"),
            "{err}"
        );
    }

    /// Migration 7 replaces the row-per-member snapshot: the old rows go
    /// (the next sync keeps the team again), the run history stays.
    #[test]
    fn a_schema_6_snapshot_is_dropped_and_its_history_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 6).unwrap();
            c.execute_batch(
                "INSERT INTO team_members_0 (id, email) VALUES ('dbmid:1', 'a@example.com');
                 INSERT INTO snapshot_slots VALUES ('dropbox', 0, 'p1', 0, 'p1');
                 INSERT INTO snapshot_counts VALUES ('p1', 'total', '', 1);
                 INSERT INTO snapshots VALUES ('p1', 'dropbox', 1, '2026-11-28T00:00:00Z', 1, 0);",
            )
            .unwrap();
        }
        let db = StateDb::open(&path).unwrap();
        assert_eq!(snapshot::total(&db.conn).unwrap(), None);
        assert!(crate::views::composition(&db).unwrap().is_none());
        let history: i64 = db
            .conn
            .query_row("SELECT count(*) FROM snapshots", [], |r| r.get(0))
            .unwrap();
        assert_eq!(history, 1);
    }

    #[test]
    fn runs_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let id = db
            .start_run(
                "Dropbox Users",
                "p-1",
                "2026-11-27T00:00:00Z",
                RunKind::Sync,
                true,
            )
            .unwrap();
        db.finish_run(
            id,
            &RunRecord {
                status: "succeeded".into(),
                fetched: 5,
                sent: 5,
                ended_at: Some("t".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let runs = db.runs(10).unwrap();
        assert_eq!(runs[0].fetched, 5);
        assert_eq!(runs[0].status, "succeeded");
        assert!(runs[0].full);
        assert_eq!(runs[0].kind, RunKind::Sync);
        assert_eq!(
            db.last_sync_started("Dropbox Users").unwrap().as_deref(),
            Some("2026-11-27T00:00:00Z")
        );
    }

    #[test]
    fn runs_whose_process_died_are_marked_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        // A dry run of a live process (pid 1), a real run of a live process
        // that holds the lock, one of a dead process, one of a live process
        // without the lock, and one of this process (which has no run going).
        let add = |kind, pid: i64| {
            let id = db.start_run("i", "p", "t", kind, false).unwrap();
            db.conn
                .execute("UPDATE runs SET pid = ?2 WHERE id = ?1", params![id, pid])
                .unwrap();
            id
        };
        let dry = add(RunKind::Dry, 1);
        let locked = add(RunKind::Sync, 1);
        let dead = add(RunKind::Test, 999_999_999);
        let unlocked = add(RunKind::Sync, 1);
        let mine = add(RunKind::Sync, std::process::id() as i64);
        db.conn
            .execute(
                "INSERT INTO locks (name, pid, heartbeat_at) VALUES ('i', 1, ?1)",
                [i64::MAX / 2],
            )
            .unwrap();
        // `unlocked` is the same process as `locked`: only one of them can
        // be its run, so a lock alone does not keep both alive.
        db.conn
            .execute(
                "UPDATE runs SET integration = 'j' WHERE id = ?1",
                [unlocked],
            )
            .unwrap();
        assert_eq!(db.mark_dead_runs().unwrap(), 3);
        let status = |id: i64| {
            db.runs(10)
                .unwrap()
                .into_iter()
                .find(|r| r.id == id)
                .unwrap()
                .status
        };
        assert_eq!(status(dry), "running");
        assert_eq!(status(locked), "running");
        for id in [dead, unlocked, mine] {
            assert_eq!(status(id), INTERRUPTED);
        }
        assert_eq!(db.mark_dead_runs().unwrap(), 0);
    }
}
