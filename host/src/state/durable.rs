//! What makes a sync survive a crash: the checkpoint of the active run, the
//! outbox of mapped batches not yet acknowledged by Oomnitza, and one mark
//! per record key: the fingerprint of what was last queued for it and the
//! portion that queued it.
//!
//! A page is committed in one transaction: its batches enter the outbox
//! and the cursor moves past it. So a process killed at any point resumes
//! either before the page (and rebuilds the same batches) or after it (and
//! sends what the outbox holds); a batch leaves the outbox only once
//! Oomnitza has acknowledged it.
//!
//! Marks are written after their page commits, in groups ([`StateDb::put_marks`]):
//! a mark is one random B-tree update, and a transaction per page would
//! rewrite most of the table's pages once per page (gigabytes of WAL for a
//! million records). Losing unwritten marks to a crash costs a resend
//! (Oomnitza counts it as unchanged), never a record: the outbox already
//! guarantees delivery within the portion.
//!
//! With SaaS reconciliation on, each page's commit also records the SaaS
//! keys it listed ([`PageCommit::seen`]), in the same transaction as its
//! checkpoint: a resumed portion knows every key its earlier processes saw,
//! so reconciliation judges the whole listing, never the part one process
//! saw. The SaaS users this tool deactivates are remembered too, so one
//! that Dropbox lists again is reactivated.
//!
//! Keys, fingerprints and portions are stored as 64-bit hashes
//! ([`hash64`]): an integer primary key makes the per-record lookup and
//! upsert cheap, and the table small (about 30 bytes a record). Two keys
//! collide with odds of about n²/2⁶⁵ (3·10⁻⁸ for a million records).

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
    /// The portion is a test run (only a test run resumes it).
    pub test_run: bool,
    /// The portion sends every record, changed or not.
    pub full: bool,
    /// Records filtered out, and records that failed to map, in all the
    /// portion's committed pages (a listed page counts again after an
    /// expired cursor; only "none" matters).
    pub filtered: u64,
    pub failed: u64,
    /// The mapping hash under which the portion records the SaaS keys it
    /// lists, from its first page on; `None`: it records none.
    pub saas_keys: Option<String>,
}

/// How a new portion begins.
#[derive(Debug, Clone, Default)]
pub struct PortionStart<'a> {
    pub test_run: bool,
    pub full: bool,
    /// Record the SaaS keys listed, under this mapping hash.
    pub saas_keys: Option<&'a str>,
}

/// The SaaS keys a portion listed, as [`hash64`]s of the lower-cased key.
pub type SaasKeys = std::collections::HashSet<i64>;

/// A batch waiting in the outbox.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    pub id: i64,
    /// JSON array of records, exactly as they go into the bulk request.
    pub records: String,
}

/// What the state database knows of one record key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The fingerprint of what was last queued; `None` for a record that
    /// failed to map (sent raw, never skipped as unchanged).
    pub fingerprint: Option<i64>,
    /// The portion that queued it ([`hash64`] of the portion id).
    pub portion: i64,
}

/// One page, ready to commit.
#[derive(Debug, Default)]
pub struct PageCommit<'a> {
    /// Each batch's records as a JSON array.
    pub batches: Vec<String>,
    pub cursor: Option<&'a str>,
    pub listing_complete: bool,
    /// Records of the page filtered out, and failed to map.
    pub filtered: u64,
    pub failed: u64,
    /// The SaaS keys the page listed ([`hash64`] of each, little-endian,
    /// back to back), when the portion records them.
    pub seen: Option<Vec<u8>>,
    /// The page's members for the team snapshot (`None`: a dry or test
    /// run, which keeps none), written in the page's transaction.
    pub snapshot: Option<crate::state::snapshot::SnapshotPage>,
}

/// A stable 64-bit hash: the first 8 bytes of SHA-256 over `parts`, each
/// followed by 0x1f (so `["ab", "c"]` and `["a", "bc"]` differ).
pub fn hash64(parts: &[&[u8]]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0x1f]);
    }
    let d = h.finalize();
    i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
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
                "SELECT portion, run_id, cursor, pages_done, listing_complete, acked_batches, started_at,
                 test_run, full, filtered, failed, saas_keys
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
                        test_run: r.get::<_, i64>(7)? != 0,
                        full: r.get::<_, i64>(8)? != 0,
                        filtered: r.get::<_, i64>(9)? as u64,
                        failed: r.get::<_, i64>(10)? as u64,
                        saas_keys: r.get(11)?,
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
        how: &PortionStart<'_>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO active_run (integration, portion, run_id, started_at, test_run, full, saas_keys)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                integration,
                portion,
                run_id,
                at,
                how.test_run as i64,
                how.full as i64,
                how.saas_keys
            ],
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

    /// The run is over: forget its checkpoint, outbox and SaaS keys.
    /// (Marks stay: a later portion has another hash, so they no longer
    /// count as queued.)
    pub fn clear_active_run(&self, integration: &str, portion: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM active_run WHERE integration = ?1",
            [integration],
        )?;
        tx.execute("DELETE FROM outbox WHERE portion = ?1", [portion])?;
        tx.execute("DELETE FROM saas_seen WHERE portion = ?1", [portion])?;
        tx.commit()?;
        Ok(())
    }

    /// Starts the listing again from the first page (an expired cursor).
    pub fn restart_listing(&self, integration: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE active_run SET cursor = NULL, listing_complete = 0 WHERE integration = ?1",
            [integration],
        )?;
        crate::state::snapshot::restart(&tx, integration)?;
        tx.commit()?;
        Ok(())
    }

    /// Empties the team snapshot (`[state] team_snapshot = false`).
    pub fn drop_team_snapshot(&self, integration: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        crate::state::snapshot::drop_rows(&tx, integration)?;
        tx.commit()?;
        Ok(())
    }

    /// Commits one page: its batches into the outbox, the SaaS keys it
    /// listed, its counts and the checkpoint past it, in one transaction.
    /// Returns the outbox ids, in order.
    pub fn commit_page(
        &self,
        integration: &str,
        portion: &str,
        page: &PageCommit<'_>,
    ) -> Result<Vec<i64>> {
        let tx = self.conn.unchecked_transaction()?;
        let mut ids = Vec::with_capacity(page.batches.len());
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO outbox (portion, records, fingerprints) VALUES (?1, ?2, '')",
            )?;
            for records in &page.batches {
                ins.execute(params![portion, records])?;
                ids.push(tx.last_insert_rowid());
            }
        }
        if let Some(seen) = page.seen.as_deref().filter(|s| !s.is_empty()) {
            tx.prepare_cached("INSERT INTO saas_seen (portion, keys) VALUES (?1, ?2)")?
                .execute(params![portion, seen])?;
        }
        let updated = tx.execute(
            "UPDATE active_run SET cursor = ?2, pages_done = pages_done + 1, listing_complete = ?3,
             filtered = filtered + ?4, failed = failed + ?5
             WHERE integration = ?1 AND portion = ?6",
            params![
                integration,
                page.cursor,
                page.listing_complete as i64,
                page.filtered as i64,
                page.failed as i64,
                portion
            ],
        )?;
        if updated != 1 {
            anyhow::bail!("portion {portion} is not the active run of `{integration}`");
        }
        if let Some(snapshot) = &page.snapshot {
            crate::state::snapshot::write_page(
                &tx,
                integration,
                portion,
                snapshot,
                page.listing_complete,
            )?;
        }
        tx.commit()
            .context("cannot commit the page to the state database")?;
        Ok(ids)
    }

    /// Every SaaS key the portion's committed pages listed.
    pub fn saas_seen(&self, portion: &str) -> Result<SaasKeys> {
        let mut stmt = self
            .conn
            .prepare("SELECT keys FROM saas_seen WHERE portion = ?1")?;
        let mut rows = stmt.query([portion])?;
        let mut keys = SaasKeys::new();
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(0)?;
            if !blob.len().is_multiple_of(8) {
                anyhow::bail!("the SaaS keys recorded for portion {portion} are damaged");
            }
            keys.extend(
                blob.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
            );
        }
        Ok(keys)
    }

    /// Remembers SaaS users this tool is about to deactivate (before the
    /// call: a crash after it must not forget them), with their keys.
    pub fn record_deactivations(
        &self,
        integration: &str,
        users: &[(String, i64)],
        at: &str,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO saas_deactivated (integration, saas_user_id, key, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (integration, saas_user_id) DO UPDATE SET key = excluded.key, at = excluded.at",
            )?;
            for (id, key) in users {
                put.execute(params![integration, id, key, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets deactivations (reactivated, or never made).
    pub fn forget_deactivations(&self, integration: &str, ids: &[String]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut del = tx.prepare_cached(
                "DELETE FROM saas_deactivated WHERE integration = ?1 AND saas_user_id = ?2",
            )?;
            for id in ids {
                del.execute(params![integration, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The SaaS users this tool deactivated and has not reactivated:
    /// `(saas_user_id, key)`.
    pub fn deactivations(&self, integration: &str) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT saas_user_id, key FROM saas_deactivated WHERE integration = ?1 ORDER BY at, saas_user_id",
        )?;
        let rows = stmt.query_map([integration], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn pending_batches(&self, portion: &str) -> Result<Vec<PendingBatch>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, records FROM outbox WHERE portion = ?1 ORDER BY id")?;
        let rows = stmt.query_map([portion], |r| {
            Ok(PendingBatch {
                id: r.get(0)?,
                records: r.get(1)?,
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

    /// Oomnitza acknowledged these batches: drop them from the outbox, in
    /// one transaction (acknowledgements are grouped to keep commits few).
    pub fn ack_batches(&self, integration: &str, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
            for id in ids {
                del.execute([id])?;
            }
        }
        tx.execute(
            "UPDATE active_run SET acked_batches = acked_batches + ?2 WHERE integration = ?1",
            params![integration, ids.len() as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Sets marks, in one transaction, in key order (neighbours share
    /// B-tree pages).
    pub fn put_marks(&self, marks: &mut [(i64, Mark)]) -> Result<()> {
        marks.sort_unstable_by_key(|(k, _)| *k);
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO record_marks (key, fingerprint, portion) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, portion = excluded.portion",
            )?;
            for (key, m) in marks.iter() {
                put.execute(params![key, m.fingerprint, m.portion])?;
            }
        }
        tx.commit().context("cannot write record marks")?;
        Ok(())
    }

    /// The marks of `keys`, in order (`None`: never queued). One read
    /// transaction for all of them: outside one, every lookup would take
    /// and drop the database's read lock (two `fcntl` calls each).
    pub fn marks(&self, keys: &[i64]) -> Result<Vec<Option<Mark>>> {
        let tx = self.conn.unchecked_transaction()?;
        let marks = {
            let mut stmt =
                tx.prepare_cached("SELECT fingerprint, portion FROM record_marks WHERE key = ?1")?;
            keys.iter()
                .map(|k| {
                    Ok(stmt
                        .query_row([k], |r| {
                            Ok(Mark {
                                fingerprint: r.get(0)?,
                                portion: r.get(1)?,
                            })
                        })
                        .optional()?)
                })
                .collect::<Result<Vec<_>>>()?
        };
        tx.commit()?;
        Ok(marks)
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

    /// Records the mapping hash (anything that shapes records); returns
    /// whether it changed since the last run. Fingerprints are salted with
    /// it, so a change makes every record look changed without rewriting
    /// a single mark.
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
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, mapping_hash],
        )?;
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

    /// Whether process `pid` holds the run lock of `name`, with a fresh
    /// heartbeat.
    pub fn holds_lock(&self, name: &str, pid: i64) -> Result<bool> {
        let beat: Option<i64> = self
            .conn
            .query_row(
                "SELECT heartbeat_at FROM locks WHERE name = ?1 AND pid = ?2",
                params![name, pid],
                |r| r.get(0),
            )
            .optional()?;
        Ok(beat.is_some_and(|b| now_secs() - b < LOCK_TTL_SECS))
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
pub(super) fn process_alive(pid: i64) -> bool {
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
        db.begin_active_run("i", "p", 1, "t", &PortionStart::default())
            .unwrap();
        let mark = Mark {
            fingerprint: Some(7),
            portion: hash64(&[b"p"]),
        };
        let ids = db
            .commit_page(
                "i",
                "p",
                &PageCommit {
                    batches: vec!["[1]".into(), "[2]".into()],
                    cursor: Some("c1"),
                    listing_complete: false,
                    ..PageCommit::default()
                },
            )
            .unwrap();
        db.put_marks(&mut [(11, mark)]).unwrap();
        let a = db.active_run("i").unwrap().unwrap();
        assert_eq!(
            (a.cursor.as_deref(), a.pages_done, a.listing_complete),
            (Some("c1"), 1, false)
        );
        assert_eq!(db.marks(&[11, 12]).unwrap(), vec![Some(mark), None]);
        let pending = db.pending_batches("p").unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|b| b.records.as_str())
                .collect::<Vec<_>>(),
            ["[1]", "[2]"]
        );
        db.ack_batches("i", &ids).unwrap();
        assert_eq!(db.pending_count("p").unwrap(), 0);
        assert_eq!(db.active_run("i").unwrap().unwrap().acked_batches, 2);
        db.clear_active_run("i", "p").unwrap();
        assert!(db.active_run("i").unwrap().is_none());
        assert_eq!(
            db.marks(&[11]).unwrap(),
            vec![Some(mark)],
            "marks outlive the run"
        );
    }

    #[test]
    fn saas_keys_and_counts_commit_with_their_page() {
        let (_d, db) = db();
        let how = PortionStart {
            saas_keys: Some("m1"),
            ..PortionStart::default()
        };
        db.begin_active_run("i", "p", 1, "t", &how).unwrap();
        let keys = |ks: &[i64]| Some(ks.iter().flat_map(|k| k.to_le_bytes()).collect());
        for (seen, filtered) in [(keys(&[1, -2]), 0), (keys(&[]), 3), (keys(&[i64::MIN]), 0)] {
            db.commit_page(
                "i",
                "p",
                &PageCommit {
                    seen,
                    filtered,
                    failed: 1,
                    ..PageCommit::default()
                },
            )
            .unwrap();
        }
        // Another portion's page is refused whole: nothing of it is kept.
        let other = PageCommit {
            seen: keys(&[99]),
            ..PageCommit::default()
        };
        assert!(db.commit_page("i", "q", &other).is_err());
        let a = db.active_run("i").unwrap().unwrap();
        assert_eq!(
            (a.pages_done, a.filtered, a.failed, a.saas_keys.as_deref()),
            (3, 3, 3, Some("m1"))
        );
        assert_eq!(
            db.saas_seen("p").unwrap(),
            SaasKeys::from([1, -2, i64::MIN])
        );
        assert!(db.saas_seen("q").unwrap().is_empty());
        // An expired cursor restarts the listing; what was seen stays.
        db.restart_listing("i").unwrap();
        assert_eq!(db.saas_seen("p").unwrap().len(), 3);
        db.clear_active_run("i", "p").unwrap();
        assert!(db.saas_seen("p").unwrap().is_empty());
    }

    #[test]
    fn deactivations_are_remembered_until_forgotten() {
        let (_d, db) = db();
        db.record_deactivations("i", &[("a".into(), 1), ("b".into(), 2)], "t1")
            .unwrap();
        db.record_deactivations("j", &[("a".into(), 9)], "t1")
            .unwrap();
        assert_eq!(
            db.deactivations("i").unwrap(),
            vec![("a".to_string(), 1), ("b".to_string(), 2)]
        );
        db.forget_deactivations("i", &["a".into()]).unwrap();
        assert_eq!(db.deactivations("i").unwrap(), vec![("b".to_string(), 2)]);
        assert_eq!(db.deactivations("j").unwrap(), vec![("a".to_string(), 9)]);
    }

    #[test]
    fn marks_are_upserted() {
        let (_d, db) = db();
        let m = |fp| Mark {
            fingerprint: Some(fp),
            portion: 1,
        };
        db.put_marks(&mut [(9, m(1)), (-3, m(1))]).unwrap();
        db.put_marks(&mut [(9, m(2))]).unwrap();
        assert_eq!(
            db.marks(&[9, -3, 4]).unwrap(),
            vec![Some(m(2)), Some(m(1)), None]
        );
    }

    #[test]
    fn the_mapping_hash_is_remembered() {
        let (_d, db) = db();
        assert!(!db.check_mapping("i", "m1").unwrap(), "first run");
        assert!(!db.check_mapping("i", "m1").unwrap());
        assert!(db.mapping_matches("i", "m1").unwrap());
        assert!(db.check_mapping("i", "m2").unwrap(), "changed");
        assert!(!db.mapping_matches("i", "m1").unwrap());
    }

    #[test]
    fn hash64_is_stable_and_separates_parts() {
        assert_eq!(hash64(&[b"a", b"bc"]), hash64(&[b"a", b"bc"]));
        assert_ne!(hash64(&[b"a", b"bc"]), hash64(&[b"ab", b"c"]));
        // Pinned: marks in existing state files depend on it.
        assert_eq!(hash64(&[b"portion"]), 0x1d72_44fc_521f_4f7d_u64 as i64);
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
