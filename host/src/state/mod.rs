//! The embedded state database (SQLite, one file): the audit log of every
//! action, and the history of runs.
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
    // 4: the team snapshot, its per-run counts and each run's failed
    // records (see `views::snapshot`).
    crate::views::snapshot::MIGRATION,
];

mod durable;
pub use durable::{ActiveRun, Mark, PageCommit, PendingBatch, hash64};

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

    /// Starts a run; returns its id.
    pub fn start_run(&self, integration: &str, portion: &str, started_at: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (integration, portion, started_at, status) VALUES (?1, ?2, ?3, 'running')",
            params![integration, portion, started_at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, id: i64, r: &RunRecord) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET ended_at = ?2, status = ?3, fetched = ?4, mapped = ?5, failed = ?6,
             filtered = ?7, sent = ?8, created = ?9, updated = ?10, error = ?11 WHERE id = ?1",
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
                r.error
            ],
        )?;
        Ok(())
    }

    /// The latest `limit` runs, newest first.
    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, integration, portion, started_at, ended_at, status, fetched, mapped, failed,
             filtered, sent, created, updated, error FROM runs ORDER BY id DESC LIMIT ?1",
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

    #[test]
    fn runs_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        let id = db
            .start_run("Dropbox Users", "p-1", "2026-11-27T00:00:00Z")
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
    }
}
