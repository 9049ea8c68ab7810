//! What makes a sync survive a crash: the checkpoint of the active run, the
//! outbox of mapped batches not yet acknowledged by Oomnitza, the keys
//! already queued in a portion, and the fingerprints of what was last sent.
//!
//! A page is committed in one transaction: its batches enter the outbox,
//! its keys are marked queued, and the cursor moves past it. So a process
//! killed at any point resumes either before the page (and rebuilds the
//! same batches) or after it (and sends what the outbox holds); a batch
//! leaves the outbox only once Oomnitza has acknowledged it.

use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, params};

use super::StateDb;

/// The checkpoint of an unfinished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    pub portion: String,
    pub run_id: Option<i64>,
    pub cursor: Option<String>,
    pub pages_done: u64,
    pub listing_complete: bool,
    pub acked_batches: u64,
    pub started_at: String,
}

/// A batch waiting in the outbox.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    pub id: i64,
    /// JSON array of records.
    pub records: String,
    /// JSON array of `[key, hash]` to store once acknowledged.
    pub fingerprints: String,
}

/// A lock is stale when its holder has not beaten for this long.
const LOCK_TTL_SECS: i64 = 120;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl StateDb {
    pub fn active_run(&self, integration: &str) -> Result<Option<ActiveRun>> {
        Ok(self
            .conn
            .query_row(
                "SELECT portion, run_id, cursor, pages_done, listing_complete, acked_batches, started_at
                 FROM active_run WHERE integration = ?1",
                [integration],
                |r| {
                    Ok(ActiveRun {
                        portion: r.get(0)?,
                        run_id: r.get(1)?,
                        cursor: r.get(2)?,
                        pages_done: r.get::<_, i64>(3)? as u64,
                        listing_complete: r.get::<_, i64>(4)? != 0,
                        acked_batches: r.get::<_, i64>(5)? as u64,
                        started_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn begin_active_run(
        &self,
        integration: &str,
        portion: &str,
        run_id: i64,
        at: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO active_run (integration, portion, run_id, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![integration, portion, run_id, at],
        )?;
        Ok(())
    }

    pub fn set_active_run_id(&self, integration: &str, run_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE active_run SET run_id = ?2 WHERE integration = ?1",
            params![integration, run_id],
        )?;
        Ok(())
    }

    /// The run is over: forget its checkpoint and queued keys.
    pub fn clear_active_run(&self, integration: &str, portion: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM active_run WHERE integration = ?1",
            [integration],
        )?;
        tx.execute("DELETE FROM portion_keys WHERE portion = ?1", [portion])?;
        tx.execute("DELETE FROM outbox WHERE portion = ?1", [portion])?;
        tx.commit()?;
        Ok(())
    }

    /// Starts the listing again from the first page (an expired cursor).
    pub fn restart_listing(&self, integration: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE active_run SET cursor = NULL, listing_complete = 0 WHERE integration = ?1",
            [integration],
        )?;
        Ok(())
    }

    /// Commits one page: its batches into the outbox, its keys as queued,
    /// and the checkpoint past it. Returns the outbox ids, in order.
    pub fn commit_page(
        &self,
        integration: &str,
        portion: &str,
        batches: &[(String, String)],
        keys: &[String],
        cursor: Option<&str>,
        listing_complete: bool,
    ) -> Result<Vec<i64>> {
        let tx = self.conn.unchecked_transaction()?;
        let mut ids = Vec::with_capacity(batches.len());
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO outbox (portion, records, fingerprints) VALUES (?1, ?2, ?3)",
            )?;
            for (records, fps) in batches {
                ins.execute(params![portion, records, fps])?;
                ids.push(tx.last_insert_rowid());
            }
            let mut key = tx.prepare_cached(
                "INSERT OR IGNORE INTO portion_keys (portion, key) VALUES (?1, ?2)",
            )?;
            for k in keys {
                key.execute(params![portion, k])?;
            }
        }
        tx.execute(
            "UPDATE active_run SET cursor = ?2, pages_done = pages_done + 1, listing_complete = ?3
             WHERE integration = ?1",
            params![integration, cursor, listing_complete as i64],
        )?;
        tx.commit()
            .context("cannot commit the page to the state database")?;
        Ok(ids)
    }

    pub fn pending_batches(&self, portion: &str) -> Result<Vec<PendingBatch>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, records, fingerprints FROM outbox WHERE portion = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([portion], |r| {
            Ok(PendingBatch {
                id: r.get(0)?,
                records: r.get(1)?,
                fingerprints: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn pending_count(&self, portion: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE portion = ?1",
            [portion],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Oomnitza acknowledged a batch: drop it from the outbox and remember
    /// what was sent, in one transaction.
    pub fn ack_batch(&self, integration: &str, id: i64, fingerprints: &str) -> Result<()> {
        let fps: Vec<(String, i64)> = serde_json::from_str(fingerprints).unwrap_or_default();
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        {
            let mut up = tx.prepare_cached(
                "INSERT INTO fingerprints (integration, key, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (integration, key) DO UPDATE SET hash = excluded.hash",
            )?;
            for (k, h) in &fps {
                up.execute(params![integration, k, h])?;
            }
        }
        tx.execute(
            "UPDATE active_run SET acked_batches = acked_batches + 1 WHERE integration = ?1",
            [integration],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn portion_has_key(&self, portion: &str, key: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM portion_keys WHERE portion = ?1 AND key = ?2")?;
        Ok(stmt.exists(params![portion, key])?)
    }

    pub fn fingerprint(&self, integration: &str, key: &str) -> Result<Option<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hash FROM fingerprints WHERE integration = ?1 AND key = ?2")?;
        Ok(stmt
            .query_row(params![integration, key], |r| r.get(0))
            .optional()?)
    }

    /// Whether the stored mapping hash is `mapping_hash` (read-only; a dry
    /// run must not forget fingerprints, only ignore stale ones).
    pub fn mapping_matches(&self, integration: &str, mapping_hash: &str) -> Result<bool> {
        let old: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("mapping:{integration}")],
                |r| r.get(0),
            )
            .optional()?;
        Ok(old.as_deref() == Some(mapping_hash))
    }

    /// Forgets what was sent when the mapping (or anything else that shapes
    /// records) changed, so the next run sends everything.
    pub fn check_mapping(&self, integration: &str, mapping_hash: &str) -> Result<bool> {
        let key = format!("mapping:{integration}");
        let old: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()?;
        if old.as_deref() == Some(mapping_hash) {
            return Ok(false);
        }
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM fingerprints WHERE integration = ?1",
            [integration],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, mapping_hash],
        )?;
        tx.commit()?;
        Ok(old.is_some())
    }

    /// Takes the run lock of `name`, unless a live holder has it. A holder
    /// whose heartbeat is older than the TTL (a crashed process) loses it.
    pub fn acquire_lock(&self, name: &str) -> Result<std::result::Result<(), i64>> {
        let pid = std::process::id() as i64;
        let now = now_secs();
        let tx = self.conn.unchecked_transaction()?;
        let holder: Option<(i64, i64)> = tx
            .query_row(
                "SELECT pid, heartbeat_at FROM locks WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((other, beat)) = holder
            && other != pid
            && now - beat < LOCK_TTL_SECS
            && process_alive(other)
        {
            return Ok(Err(other));
        }
        tx.execute(
            "INSERT INTO locks (name, pid, heartbeat_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, heartbeat_at = excluded.heartbeat_at",
            params![name, pid, now],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn heartbeat(&self, name: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE locks SET heartbeat_at = ?3 WHERE name = ?1 AND pid = ?2",
            params![name, std::process::id() as i64, now_secs()],
        )?;
        Ok(())
    }

    pub fn release_lock(&self, name: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM locks WHERE name = ?1 AND pid = ?2",
            params![name, std::process::id() as i64],
        )?;
        Ok(())
    }
}

/// Whether a process id is alive on this machine (Linux: /proc). Elsewhere
/// the heartbeat TTL alone decides.
fn process_alive(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, StateDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn a_committed_page_survives_until_acknowledged() {
        let (_d, db) = db();
        db.begin_active_run("i", "p", 1, "t").unwrap();
        let ids = db
            .commit_page(
                "i",
                "p",
                &[("[1]".into(), "[[\"k1\",7]]".into())],
                &["k1".into()],
                Some("c1"),
                false,
            )
            .unwrap();
        let a = db.active_run("i").unwrap().unwrap();
        assert_eq!(
            (a.cursor.as_deref(), a.pages_done, a.listing_complete),
            (Some("c1"), 1, false)
        );
        assert!(db.portion_has_key("p", "k1").unwrap());
        assert_eq!(db.pending_batches("p").unwrap().len(), 1);
        db.ack_batch("i", ids[0], "[[\"k1\",7]]").unwrap();
        assert_eq!(db.pending_count("p").unwrap(), 0);
        assert_eq!(db.fingerprint("i", "k1").unwrap(), Some(7));
        assert_eq!(db.active_run("i").unwrap().unwrap().acked_batches, 1);
        db.clear_active_run("i", "p").unwrap();
        assert!(db.active_run("i").unwrap().is_none());
        assert!(!db.portion_has_key("p", "k1").unwrap());
        assert_eq!(
            db.fingerprint("i", "k1").unwrap(),
            Some(7),
            "fingerprints outlive the run"
        );
    }

    #[test]
    fn a_mapping_change_forgets_fingerprints() {
        let (_d, db) = db();
        assert!(!db.check_mapping("i", "m1").unwrap());
        db.begin_active_run("i", "p", 1, "t").unwrap();
        db.ack_batch("i", 0, "[[\"k\",1]]").unwrap();
        assert!(!db.check_mapping("i", "m1").unwrap());
        assert!(db.fingerprint("i", "k").unwrap().is_some());
        assert!(db.check_mapping("i", "m2").unwrap());
        assert!(db.fingerprint("i", "k").unwrap().is_none());
    }

    #[test]
    fn locks_exclude_live_holders_and_expire_dead_ones() {
        let (_d, db) = db();
        assert!(db.acquire_lock("x").unwrap().is_ok());
        assert!(
            db.acquire_lock("x").unwrap().is_ok(),
            "re-entrant for the holder"
        );
        // A live other process (pid 1 exists on Linux) holds it freshly.
        db.conn
            .execute("UPDATE locks SET pid = 1 WHERE name = 'x'", [])
            .unwrap();
        assert_eq!(db.acquire_lock("x").unwrap(), Err(1));
        // A dead holder loses it.
        db.conn
            .execute("UPDATE locks SET pid = 999999999 WHERE name = 'x'", [])
            .unwrap();
        assert!(db.acquire_lock("x").unwrap().is_ok());
        // A stale heartbeat loses it too.
        db.conn
            .execute(
                "UPDATE locks SET pid = 1, heartbeat_at = 0 WHERE name = 'x'",
                [],
            )
            .unwrap();
        assert!(db.acquire_lock("x").unwrap().is_ok());
    }
}
