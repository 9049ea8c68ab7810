//! The listing, state side: the committer turns each fetched page into
//! bulk batches and commits it, on a blocking thread.
//!
//! Per page it decides what to send ([`choose`]: not a record already
//! queued in this portion, not one unchanged since it was last queued),
//! writes each record's JSON ([`super::shape`]), cuts the records into
//! batches of `oomnitza.batch_size` ([`into_batches`]), and commits the
//! batches and the cursor past the page in one transaction
//! (`state::durable`) before handing the batches to the forwarder.
//!
//! It also keeps each record's mark (key, fingerprint, portion), buffered
//! and written in groups ([`MarkBuffer`]). With SaaS reconciliation on, it
//! records the SaaS keys each page listed in the page's own commit, so a
//! resumed portion knows them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use tokio::sync::{mpsc, oneshot};

use super::shape::RecordShaper;
use super::{Batch, BatchContext, Db, SyncOptions, db_call};
use crate::bindings::{MapOutcome, MappedPage};
use crate::state::{Mark, PageCommit, hash64};

/// What the fetcher hands the committer.
pub(super) enum Fetched {
    Page(MappedPage),
    /// The cursor expired: the listing starts again from the first page.
    Restart,
}

/// A page for the committer; in a test run it answers whether to go on.
pub(super) struct PageMsg {
    pub fetched: Fetched,
    pub go_on: Option<oneshot::Sender<bool>>,
}

/// Counts the committer keeps; merged into the report at the end.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub pages: u64,
    pub fetched: u64,
    pub mapped: u64,
    pub failed: u64,
    pub filtered: u64,
    pub unchanged_skipped: u64,
    pub already_queued: u64,
    /// Dry run: records and batches it would send.
    pub would_send: u64,
    pub would_batches: u64,
}

/// What stays the same for every page of a run.
pub(super) struct Listing {
    pub shaper: RecordShaper,
    pub ctx: Arc<BatchContext>,
    pub db: Db,
    pub opts: SyncOptions,
    /// Salts fingerprints: a mapping change makes every record new.
    pub mapping_hash: String,
    pub batch_size: usize,
    /// Record the SaaS keys each page lists, for reconciliation.
    pub record_saas_keys: bool,
    /// Where the team snapshot's values sit in each mapped record (`None`:
    /// dry and test runs, which keep none; see `state::snapshot`).
    pub snapshot: Option<crate::state::snapshot::Layout>,
    pub run_id: Option<i64>,
}

/// The committing half, on a blocking thread: per page, decide what to
/// send (change detection, portion dedupe), commit, then queue batches.
pub(super) fn commit_pages(
    listing: Listing,
    mut pages: mpsc::Receiver<PageMsg>,
    tx: mpsc::Sender<Batch>,
    progress: super::progress::Progress,
) -> std::result::Result<Counts, (Counts, anyhow::Error)> {
    let mut c = Counts::default();
    let mut marks = MarkBuffer::default();
    let result = commit_loop(&listing, &mut pages, &tx, &progress, &mut c, &mut marks);
    // The marks of every committed page, whatever stopped the loop.
    let flushed = match listing.opts.dry_run {
        true => Ok(()),
        false => marks.flush(&listing.db),
    };
    match result.and(flushed) {
        Ok(()) => Ok(c),
        Err(e) => Err((c, e)),
    }
}

/// Marks of committed pages not yet written (see `state::durable` on why
/// they are written in groups). Lookups see them first.
struct MarkBuffer {
    marks: HashMap<i64, Mark>,
    since: Option<Instant>,
    /// Written when this many wait, or when the oldest waited this long.
    max: usize,
    max_wait: Duration,
}

impl Default for MarkBuffer {
    fn default() -> Self {
        Self {
            marks: HashMap::new(),
            since: None,
            max: Self::MAX,
            max_wait: Self::MAX_WAIT,
        }
    }
}

impl MarkBuffer {
    const MAX: usize = 100_000;
    const MAX_WAIT: Duration = Duration::from_secs(2);

    fn get(&self, key: i64) -> Option<Mark> {
        self.marks.get(&key).copied()
    }

    fn add(&mut self, db: &Db, marks: impl Iterator<Item = (i64, Mark)>) -> Result<()> {
        self.marks.extend(marks);
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.marks.len() >= self.max || since.elapsed() >= self.max_wait {
            self.flush(db)?;
        }
        Ok(())
    }

    fn flush(&mut self, db: &Db) -> Result<()> {
        self.since = None;
        if self.marks.is_empty() {
            return Ok(());
        }
        let mut all: Vec<(i64, Mark)> = self.marks.drain().collect();
        db_call(db, |d| d.put_marks(&mut all))
    }
}

fn commit_loop(
    l: &Listing,
    pages: &mut mpsc::Receiver<PageMsg>,
    tx: &mpsc::Sender<Batch>,
    progress: &super::progress::Progress,
    c: &mut Counts,
    pending: &mut MarkBuffer,
) -> Result<()> {
    let name = l.ctx.connector_name.as_str();
    let portion_tag = hash64(&[l.ctx.portion.as_bytes()]);
    let test_run = l.opts.test_run;
    let limit = test_run.then_some(TEST_RUN_RECORDS);
    let dry = l.opts.dry_run;
    let rule = Choice {
        portion: portion_tag,
        full: l.opts.full || l.opts.test_run,
        dry,
    };
    let mut queued = 0u64;
    let mut key = String::new();
    let mut seen_on_page = HashSet::new();
    while let Some(msg) = pages.blocking_recv() {
        let page = match msg.fetched {
            Fetched::Page(p) => p,
            Fetched::Restart => {
                if !dry {
                    db_call(&l.db, |d| d.restart_listing(name))?;
                }
                if let Some(s) = msg.go_on {
                    let _ = s.send(true);
                }
                continue;
            }
        };
        c.pages += 1;
        c.fetched += page.outcomes.len() as u64;
        if !dry {
            // Keep the run lock fresh: a lock without heartbeats is a crash.
            db_call(&l.db, |d| d.heartbeat(name))?;
        }
        let (filtered, failed) = (c.filtered, c.failed);
        let mut seen = l.record_saas_keys.then(Vec::new);
        let outcomes = page.outcomes;
        let snapshot = l
            .snapshot
            .as_ref()
            .map(|layout| layout.page(&outcomes, l.run_id));
        let candidates = shape_records(l, outcomes, c, &mut key, seen.as_mut());
        let keys: Vec<i64> = candidates.iter().map(|r| r.key).collect();
        let mut marks = db_call(&l.db, |d| d.marks(&keys))?;
        for (m, k) in marks.iter_mut().zip(&keys) {
            if let Some(p) = pending.get(*k) {
                *m = Some(p);
            }
        }
        let room = limit.map(|l| l.saturating_sub(queued));
        let chosen = choose(candidates, marks, &rule, room, &mut seen_on_page, c);
        queued += chosen.len() as u64;
        let last_page = !page.has_more || limit.is_some_and(|l| queued >= l);
        if !last_page && page.cursor.is_none() {
            bail!(
                "the connector said more pages follow but gave no cursor (page {})",
                c.pages
            );
        }
        let (batches, counts) = into_batches(&chosen, l.batch_size)?;
        let commit = PageCommit {
            batches,
            cursor: page.cursor.as_deref(),
            listing_complete: last_page,
            filtered: c.filtered - filtered,
            failed: c.failed - failed,
            seen,
            snapshot,
        };
        if dry {
            c.would_send += chosen.len() as u64;
            c.would_batches += commit.batches.len() as u64;
            if let Some(sink) = &l.opts.payloads {
                for records in &commit.batches {
                    sink.write_line(&l.ctx.envelope.body(records.as_bytes()))?;
                }
            }
        } else {
            let ids = db_call(&l.db, |d| d.commit_page(name, &l.ctx.portion, &commit))?;
            let marks = chosen
                .iter()
                .map(|r| (r.key, new_mark(r, test_run, portion_tag)));
            pending.add(&l.db, marks)?;
            for ((records, n), id) in commit.batches.into_iter().zip(counts).zip(ids) {
                tx.blocking_send(Batch { id, records, n })
                    .map_err(|_| anyhow::Error::new(super::forward::ForwarderStopped))?;
            }
        }
        progress.page(c.pages, c.fetched, queued);
        if let Some(s) = msg.go_on {
            let _ = s.send(!last_page);
        }
        if last_page {
            break;
        }
    }
    Ok(())
}

/// The most records a test run sends.
const TEST_RUN_RECORDS: u64 = 10;

/// How the committer chooses a page's records.
#[derive(Debug, Clone, Copy)]
struct Choice {
    /// [`hash64`] of this run's portion.
    portion: i64,
    /// Send records whose content did not change too.
    full: bool,
    /// A dry run queues nothing, so no mark says "queued in this portion".
    dry: bool,
}

/// The candidates to send, in page order: not one queued already in this
/// portion (earlier on this page, or, outside a dry run, on an earlier
/// page or by an earlier process of the portion), not one whose mapped
/// content is unchanged since it was last queued (unless `full`; a record
/// that failed to map is never unchanged), and at most `room` (a test
/// run's cap; the rest of the page is neither chosen nor counted). Each
/// chosen candidate keeps its `previous` mark.
fn choose(
    candidates: Vec<Candidate>,
    marks: Vec<Option<Mark>>,
    rule: &Choice,
    room: Option<u64>,
    seen_on_page: &mut HashSet<i64>,
    c: &mut Counts,
) -> Vec<Candidate> {
    let mut chosen = Vec::with_capacity(candidates.len());
    seen_on_page.clear();
    for (mut r, mark) in candidates.into_iter().zip(marks) {
        if room.is_some_and(|room| chosen.len() as u64 >= room) {
            break;
        }
        r.previous = mark;
        let queued_here = !seen_on_page.insert(r.key);
        let queued_before = !rule.dry && mark.is_some_and(|m| m.portion == rule.portion);
        if queued_here || queued_before {
            c.already_queued += 1;
            continue;
        }
        if !rule.full
            && r.fingerprint.is_some()
            && mark.and_then(|m| m.fingerprint) == r.fingerprint
        {
            c.unchanged_skipped += 1;
            continue;
        }
        chosen.push(r);
    }
    chosen
}

/// The mark a queued record gets. A test run marks its records as queued
/// in its portion, but keeps the fingerprint last sent by a real run: what
/// it sent counts as never sent, so the next real sync sends it.
fn new_mark(r: &Candidate, test_run: bool, portion: i64) -> Mark {
    let fingerprint = match test_run {
        true => r.previous.and_then(|m| m.fingerprint),
        false => r.fingerprint,
    };
    Mark {
        fingerprint,
        portion,
    }
}

/// A record of the page that may need sending.
struct Candidate {
    /// Its JSON object, as it goes into the bulk request.
    json: Vec<u8>,
    /// [`hash64`] of the integration and the record's sync key.
    key: i64,
    /// [`hash64`] of the mapping and `json`; `None` for a record that failed
    /// to map (sent raw, never skipped as unchanged).
    fingerprint: Option<i64>,
    /// Its mark before this page (set when chosen).
    previous: Option<Mark>,
}

/// The page's outcomes as JSON records with their keys and fingerprints;
/// filtered records are only counted. With `seen`, the SaaS key of every
/// mapped record (not removed) is appended to it ([`hash64`], little-endian).
fn shape_records(
    l: &Listing,
    outcomes: Vec<MapOutcome>,
    c: &mut Counts,
    key: &mut String,
    mut seen: Option<&mut Vec<u8>>,
) -> Vec<Candidate> {
    let name = l.ctx.connector_name.as_bytes();
    let mut candidates = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        // Each record's JSON is its own buffer, moved (not copied) on.
        let mut json = Vec::with_capacity(512);
        let (key, fingerprint) = match outcome {
            MapOutcome::Mapped(m) => {
                c.mapped += 1;
                l.shaper.write_mapped(&m.values, &mut json);
                if let Some(seen) = seen.as_deref_mut()
                    && let Some(k) = l.shaper.saas_key(&m.values)
                {
                    seen.extend_from_slice(&hash64(&[k.as_bytes()]).to_le_bytes());
                }
                l.shaper.write_key(&m.values, key);
                let fp = hash64(&[l.mapping_hash.as_bytes(), &json]);
                (hash64(&[name, key.as_bytes()]), Some(fp))
            }
            MapOutcome::Failed(f) => {
                c.failed += 1;
                tracing::debug!("record {} failed to map: {}", f.source_id, f.reason);
                l.shaper.write_failed(f.raw, &f.reason, &mut json);
                (hash64(&[name, b"raw", f.source_id.as_bytes()]), None)
            }
            MapOutcome::Filtered(_) => {
                c.filtered += 1;
                continue;
            }
        };
        candidates.push(Candidate {
            json,
            key,
            fingerprint,
            previous: None,
        });
    }
    candidates
}

/// Cuts the chosen records into bulk batches: each a JSON array, and how
/// many records it holds.
fn into_batches(chosen: &[Candidate], batch_size: usize) -> Result<(Vec<String>, Vec<u64>)> {
    let mut batches = Vec::new();
    let mut counts = Vec::new();
    for chunk in chosen.chunks(batch_size) {
        let mut array =
            Vec::with_capacity(chunk.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
        array.push(b'[');
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                array.push(b',');
            }
            array.extend_from_slice(&r.json);
        }
        array.push(b']');
        // Built from valid UTF-8 pieces only.
        batches.push(String::from_utf8(array).map_err(|e| anyhow!("batch is not UTF-8: {e}"))?);
        counts.push(chunk.len() as u64);
    }
    Ok((batches, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{MapFailure, MappedRecord, Value};
    use crate::oomnitza::wire::BulkRequest;
    use crate::state::{PortionStart, StateDb};

    fn candidate(key: i64, fingerprint: Option<i64>, json: &str) -> Candidate {
        Candidate {
            json: json.as_bytes().to_vec(),
            key,
            fingerprint,
            previous: None,
        }
    }

    fn numbered(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| candidate(i as i64, Some(i as i64), &format!("{{\"i\":{i}}}")))
            .collect()
    }

    /// Each batch parsed back: the record numbers it holds.
    fn numbers(batches: &[String]) -> Vec<Vec<i64>> {
        batches
            .iter()
            .map(|b| {
                let records: Vec<serde_json::Value> =
                    serde_json::from_str(b).expect("a JSON array");
                records.iter().map(|r| r["i"].as_i64().unwrap()).collect()
            })
            .collect()
    }

    #[test]
    fn records_are_cut_into_batches_of_batch_size_in_order() {
        let (batches, counts) = into_batches(&numbered(7), 3).unwrap();
        assert_eq!(counts, [3, 3, 1]);
        assert_eq!(numbers(&batches), [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        // The count of each batch is the records it holds.
        for (b, n) in numbers(&batches).iter().zip(&counts) {
            assert_eq!(b.len() as u64, *n);
        }
    }

    #[test]
    fn batch_size_bounds_every_batch_and_nothing_makes_no_batch() {
        let (batches, counts) = into_batches(&numbered(6), 3).unwrap();
        assert_eq!(counts, [3, 3], "an exact multiple leaves no empty batch");
        assert_eq!(batches.len(), 2);
        let (batches, counts) = into_batches(&numbered(5), 1).unwrap();
        assert_eq!(counts, [1; 5]);
        assert_eq!(batches[4], r#"[{"i":4}]"#);
        let (batches, counts) = into_batches(&numbered(5), 1000).unwrap();
        assert_eq!((batches.len(), counts), (1, vec![5]));
        assert_eq!(batches[0], r#"[{"i":0},{"i":1},{"i":2},{"i":3},{"i":4}]"#);
        let (batches, counts) = into_batches(&[], 100).unwrap();
        assert!(batches.is_empty() && counts.is_empty());
    }

    const PORTION: i64 = 77;

    fn rule(full: bool, dry: bool) -> Choice {
        Choice {
            portion: PORTION,
            full,
            dry,
        }
    }

    fn mark(fingerprint: Option<i64>, portion: i64) -> Option<Mark> {
        Some(Mark {
            fingerprint,
            portion,
        })
    }

    fn keys(chosen: &[Candidate]) -> Vec<i64> {
        chosen.iter().map(|c| c.key).collect()
    }

    /// A page whose records are: 1 new, 2 queued in this portion before,
    /// 3 unchanged since an earlier portion, 4 changed since then, 5 the
    /// same key as 1 again, 6 a failed record (no fingerprint) marked with
    /// none.
    fn page() -> (Vec<Candidate>, Vec<Option<Mark>>) {
        let candidates = vec![
            candidate(1, Some(10), "{}"),
            candidate(2, Some(20), "{}"),
            candidate(3, Some(30), "{}"),
            candidate(4, Some(41), "{}"),
            candidate(1, Some(10), "{}"),
            candidate(6, None, "{}"),
        ];
        let marks = vec![
            None,
            mark(Some(20), PORTION),
            mark(Some(30), 1),
            mark(Some(40), 1),
            None,
            mark(None, 1),
        ];
        (candidates, marks)
    }

    #[test]
    fn records_queued_in_the_portion_or_unchanged_are_not_chosen() {
        let (candidates, marks) = page();
        let mut c = Counts::default();
        let chosen = choose(
            candidates,
            marks,
            &rule(false, false),
            None,
            &mut HashSet::new(),
            &mut c,
        );
        assert_eq!(keys(&chosen), [1, 4, 6]);
        assert_eq!((c.already_queued, c.unchanged_skipped), (2, 1));
        // Each chosen record remembers its mark before this page.
        assert_eq!(chosen[1].previous, mark(Some(40), 1));
        assert_eq!(chosen[0].previous, None);
    }

    #[test]
    fn a_full_run_sends_unchanged_records_but_never_one_twice() {
        let (candidates, marks) = page();
        let mut c = Counts::default();
        let chosen = choose(
            candidates,
            marks,
            &rule(true, false),
            None,
            &mut HashSet::new(),
            &mut c,
        );
        assert_eq!(keys(&chosen), [1, 3, 4, 6]);
        assert_eq!((c.already_queued, c.unchanged_skipped), (2, 0));
    }

    #[test]
    fn a_dry_run_ignores_what_the_portion_queued_but_not_the_page() {
        let (candidates, marks) = page();
        let mut c = Counts::default();
        let chosen = choose(
            candidates,
            marks,
            &rule(false, true),
            None,
            &mut HashSet::new(),
            &mut c,
        );
        // 2 was queued by this portion, but a dry run queues nothing, so
        // it shows it as a real run would first have sent it: unchanged.
        assert_eq!(keys(&chosen), [1, 4, 6]);
        assert_eq!((c.already_queued, c.unchanged_skipped), (1, 2));
    }

    #[test]
    fn the_room_left_caps_the_page_and_what_is_past_it_is_not_counted() {
        let (candidates, marks) = page();
        let mut c = Counts::default();
        let chosen = choose(
            candidates,
            marks,
            &rule(true, false),
            Some(2),
            &mut HashSet::new(),
            &mut c,
        );
        assert_eq!(keys(&chosen), [1, 3]);
        assert_eq!(c.already_queued, 1, "only the records before the cap");
        let (candidates, marks) = page();
        let none = choose(
            candidates,
            marks,
            &rule(true, false),
            Some(0),
            &mut HashSet::new(),
            &mut Counts::default(),
        );
        assert!(none.is_empty());
    }

    #[test]
    fn a_test_run_marks_its_records_queued_but_keeps_the_fingerprint_sent() {
        let mut r = candidate(5, Some(99), "{}");
        r.previous = mark(Some(42), 1);
        assert_eq!(
            new_mark(&r, false, PORTION),
            mark(Some(99), PORTION).unwrap()
        );
        assert_eq!(
            new_mark(&r, true, PORTION),
            mark(Some(42), PORTION).unwrap()
        );
        r.previous = None;
        assert_eq!(new_mark(&r, true, PORTION), mark(None, PORTION).unwrap());
    }

    fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        (dir, Arc::new(std::sync::Mutex::new(db)))
    }

    fn stored(db: &Db, keys: &[i64]) -> Vec<Option<Mark>> {
        db_call(db, |d| d.marks(keys)).unwrap()
    }

    #[test]
    fn marks_wait_in_the_buffer_and_are_seen_there_until_written() {
        let (_dir, db) = temp_db();
        let mut buffer = MarkBuffer::default();
        let m = |f| Mark {
            fingerprint: Some(f),
            portion: PORTION,
        };
        buffer
            .add(&db, [(1, m(10)), (2, m(20))].into_iter())
            .unwrap();
        assert_eq!(stored(&db, &[1, 2]), [None, None], "not written yet");
        assert_eq!(buffer.get(1), Some(m(10)));
        // A later page's mark for the same key replaces the waiting one.
        buffer.add(&db, [(1, m(11))].into_iter()).unwrap();
        assert_eq!(buffer.get(1), Some(m(11)));
        buffer.flush(&db).unwrap();
        assert_eq!(stored(&db, &[1, 2]), [Some(m(11)), Some(m(20))]);
        assert_eq!(buffer.get(1), None, "written marks leave the buffer");
        buffer.flush(&db).unwrap();
    }

    #[test]
    fn marks_are_written_once_enough_wait_or_the_oldest_waited_long_enough() {
        let (_dir, db) = temp_db();
        let m = Mark {
            fingerprint: Some(1),
            portion: PORTION,
        };
        let mut buffer = MarkBuffer {
            max: 3,
            max_wait: Duration::from_secs(3600),
            ..MarkBuffer::default()
        };
        buffer.add(&db, [(1, m), (2, m)].into_iter()).unwrap();
        assert_eq!(stored(&db, &[1]), [None]);
        buffer.add(&db, [(3, m)].into_iter()).unwrap();
        assert_eq!(stored(&db, &[1, 2, 3]), [Some(m); 3], "three wait: written");
        let mut buffer = MarkBuffer {
            max: 1000,
            max_wait: Duration::from_millis(50),
            ..MarkBuffer::default()
        };
        buffer.add(&db, [(4, m)].into_iter()).unwrap();
        assert_eq!(stored(&db, &[4]), [None]);
        std::thread::sleep(Duration::from_millis(60));
        buffer.add(&db, [(5, m)].into_iter()).unwrap();
        assert_eq!(
            stored(&db, &[4, 5]),
            [Some(m); 2],
            "the oldest waited: written"
        );
    }

    const NAME: &str = "test integration";

    /// A listing of one integration into a fresh state database, with a
    /// portion begun, sending `EMAIL` records in batches of `batch_size`.
    fn listing(db: &Db, batch_size: usize, opts: SyncOptions) -> Listing {
        let portion = "portion-1";
        db_call(db, |d| {
            d.begin_active_run(
                NAME,
                portion,
                1,
                "2026-01-01T00:00:00Z",
                &PortionStart::default(),
            )
        })
        .unwrap();
        let sync_key = vec!["EMAIL".to_owned()];
        let envelope = super::super::shape::Envelope::new(&BulkRequest {
            connector_version: "1",
            connector_name: NAME,
            portion,
            data_type: "users",
            sync_field: &sync_key,
            insert_only: false,
            update_only: false,
            test_run: opts.test_run,
            records: &[],
            error: None,
        })
        .unwrap();
        Listing {
            shaper: RecordShaper::from_targets(&["EMAIL"], &sync_key, None),
            ctx: Arc::new(BatchContext {
                connector_name: NAME.to_owned(),
                portion: portion.to_owned(),
                test_run: opts.test_run,
                envelope,
            }),
            db: db.clone(),
            opts,
            mapping_hash: "m1".into(),
            batch_size,
            record_saas_keys: false,
            snapshot: None,
            run_id: None,
        }
    }

    fn mapped(email: &str) -> MapOutcome {
        MapOutcome::Mapped(MappedRecord {
            source_id: email.into(),
            values: vec![Value::Text(email.into())],
        })
    }

    fn page_of(emails: &[&str], cursor: Option<&str>, has_more: bool) -> PageMsg {
        PageMsg {
            fetched: Fetched::Page(MappedPage {
                outcomes: emails.iter().map(|e| mapped(e)).collect(),
                cursor: cursor.map(str::to_owned),
                has_more,
            }),
            go_on: None,
        }
    }

    /// Runs the committer over `pages`; what it counted and the batches
    /// it handed on, as (outbox id, records).
    fn commit(l: Listing, pages: Vec<PageMsg>) -> (Result<Counts, String>, Vec<(i64, u64)>) {
        let (page_tx, page_rx) = mpsc::channel(pages.len() + 1);
        for p in pages {
            page_tx.try_send(p).ok().unwrap();
        }
        drop(page_tx);
        let (tx, mut rx) = mpsc::channel(100);
        let progress = super::super::progress::Progress::new(false, None);
        let counts = commit_pages(l, page_rx, tx, progress).map_err(|(_, e)| format!("{e:#}"));
        let mut sent = Vec::new();
        while let Ok(b) = rx.try_recv() {
            sent.push((b.id, b.n));
        }
        (counts, sent)
    }

    #[test]
    fn each_page_is_checkpointed_with_its_batches_before_they_are_handed_on() {
        let (_dir, db) = temp_db();
        let l = listing(&db, 2, SyncOptions::default());
        let (counts, sent) = commit(
            l,
            vec![
                page_of(&["a@x.com", "b@x.com", "c@x.com"], Some("c1"), true),
                page_of(&["d@x.com"], None, false),
            ],
        );
        let counts = counts.unwrap();
        assert_eq!((counts.pages, counts.fetched, counts.mapped), (2, 4, 4));
        // Page 1: batches of 2 and 1; page 2: one batch of 1.
        assert_eq!(sent.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [2, 1, 1]);
        let pending = db_call(&db, |d| d.pending_batches("portion-1")).unwrap();
        assert_eq!(
            pending.iter().map(|b| b.id).collect::<Vec<_>>(),
            sent.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "every batch handed on is in the outbox"
        );
        let records: Vec<serde_json::Value> = serde_json::from_str(&pending[0].records).unwrap();
        assert_eq!(
            records,
            [
                serde_json::json!({"EMAIL": "a@x.com"}),
                serde_json::json!({"EMAIL": "b@x.com"})
            ]
        );
        let run = db_call(&db, |d| d.active_run(NAME)).unwrap().unwrap();
        assert_eq!((run.pages_done, run.listing_complete), (2, true));
        // Every queued record is marked as queued in this portion (written
        // at the end, whatever stopped the loop).
        let key = hash64(&[NAME.as_bytes(), b"d@x.com"]);
        let m = stored(&db, &[key])[0].expect("marked");
        assert_eq!(m.portion, hash64(&[b"portion-1"]));
    }

    #[test]
    fn a_resumed_portion_queues_no_record_twice_and_skips_unchanged_ones() {
        let (_dir, db) = temp_db();
        let (counts, sent) = commit(
            listing(&db, 10, SyncOptions::default()),
            vec![page_of(&["a@x.com", "b@x.com"], Some("c1"), true)],
        );
        assert_eq!((counts.unwrap().pages, sent.len()), (1, 1));
        let run = db_call(&db, |d| d.active_run(NAME)).unwrap().unwrap();
        assert_eq!(run.cursor.as_deref(), Some("c1"));
        assert!(!run.listing_complete);
        // The same portion again (a restarted listing): a and b were queued.
        let (counts, sent) = commit(
            listing_again(&db),
            vec![page_of(&["a@x.com", "b@x.com", "c@x.com"], None, false)],
        );
        let counts = counts.unwrap();
        assert_eq!(counts.already_queued, 2);
        assert_eq!(sent.iter().map(|(_, n)| *n).sum::<u64>(), 1);
    }

    /// A second committer of the portion [`listing`] began.
    fn listing_again(db: &Db) -> Listing {
        let (_other, scratch) = temp_db();
        let mut l = listing(&scratch, 10, SyncOptions::default());
        l.db = db.clone();
        l
    }

    #[test]
    fn a_page_with_more_but_no_cursor_is_an_error_and_not_committed() {
        let (_dir, db) = temp_db();
        let (counts, sent) = commit(
            listing(&db, 10, SyncOptions::default()),
            vec![page_of(&["a@x.com"], None, true)],
        );
        let err = counts.map(|_| ()).unwrap_err();
        assert!(err.contains("gave no cursor"), "{err}");
        assert!(sent.is_empty());
        let run = db_call(&db, |d| d.active_run(NAME)).unwrap().unwrap();
        assert_eq!(run.pages_done, 0);
    }

    #[test]
    fn a_dry_run_writes_payloads_to_its_sink_and_commits_nothing() {
        #[derive(Clone, Default)]
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (_dir, db) = temp_db();
        let out = Shared::default();
        let opts = SyncOptions {
            dry_run: true,
            payloads: Some(crate::sync::PayloadSink::new(out.clone())),
            ..Default::default()
        };
        let (counts, sent) = commit(
            listing(&db, 2, opts),
            vec![page_of(&["a@x.com", "b@x.com", "c@x.com"], None, false)],
        );
        let counts = counts.unwrap();
        assert_eq!((counts.would_send, counts.would_batches), (3, 2));
        assert!(sent.is_empty());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let bodies: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0]["records"].as_array().unwrap().len(), 2);
        assert_eq!(bodies[1]["connector_name"], NAME);
        assert!(
            db_call(&db, |d| d.pending_batches("portion-1"))
                .unwrap()
                .is_empty()
        );
        let run = db_call(&db, |d| d.active_run(NAME)).unwrap().unwrap();
        assert_eq!(run.pages_done, 0);
    }

    #[test]
    fn failed_records_are_sent_raw_and_filtered_ones_only_counted() {
        let (_dir, db) = temp_db();
        let failed = MapOutcome::Failed(MapFailure {
            source_id: "id-9".into(),
            reason: "email is empty".into(),
            raw: vec![],
        });
        let page = PageMsg {
            fetched: Fetched::Page(MappedPage {
                outcomes: vec![mapped("a@x.com"), failed, MapOutcome::Filtered("f".into())],
                cursor: None,
                has_more: false,
            }),
            go_on: None,
        };
        let (counts, sent) = commit(listing(&db, 10, SyncOptions::default()), vec![page]);
        let counts = counts.unwrap();
        assert_eq!((counts.mapped, counts.failed, counts.filtered), (1, 1, 1));
        assert_eq!(sent.iter().map(|(_, n)| *n).sum::<u64>(), 2);
        let run = db_call(&db, |d| d.active_run(NAME)).unwrap().unwrap();
        assert_eq!((run.filtered, run.failed), (1, 1));
    }
}
