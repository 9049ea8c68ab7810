//! The listing: the connector fetches and maps pages, a committer turns
//! each page into batches, commits it and hands the batches on.
//!
//! The two run apart so they overlap: while the committer writes page N to
//! the state database (on a blocking thread), the component is already
//! fetching page N+1 (and, with read-ahead, has asked for N+2). The channel
//! between them holds one page, so at most three pages are fetched but not
//! committed when a process dies; they are fetched again on resume, from
//! the last committed cursor.
//!
//! The committer also keeps each record's mark (key, fingerprint, portion;
//! see `state::durable`), buffered and written in groups. With SaaS
//! reconciliation on, it records the SaaS keys each page listed in the
//! page's own commit, so a resumed portion knows them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use tokio::sync::{mpsc, oneshot};

use super::shape::RecordShaper;
use super::{Batch, BatchContext, Db, SyncOptions, SyncReport, db_call};
use crate::bindings::MappingSpec;
use crate::bindings::{ConnectorError, FetchRequest, MapOutcome, MappedPage, RecordKind};
use crate::config::Mode;
use crate::integration::{Integration, describe_error};
use crate::state::{Mark, PageCommit, hash64};

/// What the fetcher hands the committer.
enum Fetched {
    Page(MappedPage),
    /// The cursor expired: the listing starts again from the first page.
    Restart,
}

/// A page for the committer; in a test run it answers whether to go on.
struct PageMsg {
    fetched: Fetched,
    go_on: Option<oneshot::Sender<bool>>,
}

/// Counts the committer keeps; merged into the report at the end.
#[derive(Debug, Default)]
struct Counts {
    pages: u64,
    fetched: u64,
    mapped: u64,
    failed: u64,
    filtered: u64,
    unchanged_skipped: u64,
    already_queued: u64,
    /// Dry run: records and batches it would send.
    would_send: u64,
    would_batches: u64,
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

/// Fetches pages from `cursor` on and commits each before its batches go
/// to the forwarder. Stops at the first error, on a stop signal, or when
/// the forwarder has stopped. Pages fetched before an error are committed.
pub(super) async fn fetch_all(
    integration: &Integration,
    spec: &MappingSpec,
    listing: Listing,
    report: &mut SyncReport,
    tx: mpsc::Sender<Batch>,
    cursor: Option<String>,
) -> Result<()> {
    let (page_tx, page_rx) = mpsc::channel::<PageMsg>(1);
    let total = match super::progress::wanted(listing.opts.progress) {
        true => {
            super::progress::count_hint(integration, kind(integration), &integration.fetch_options)
                .await
        }
        false => None,
    };
    let progress = super::progress::Progress::new(listing.opts.progress, total);
    let test_run = listing.opts.test_run;
    let stop = listing.opts.stop.clone();
    let committer = {
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || commit_pages(listing, page_rx, tx, progress))
    };
    let fetched = fetch_pages(integration, spec, report, page_tx, cursor, test_run, stop).await;
    let committed = committer
        .await
        .map_err(|e| anyhow!("the page committer failed: {e}"))?;
    progress.finish();
    let counts = match committed {
        Ok(c) => c,
        Err((c, e)) => {
            merge(report, &c);
            return Err(e);
        }
    };
    merge(report, &counts);
    fetched.map_err(|e| {
        e.context(if counts.fetched > 0 {
            format!(
                "{} records fetched before the failure are safe in the outbox or delivered",
                counts.fetched
            )
        } else {
            "no records were fetched".to_string()
        })
    })
}

fn merge(report: &mut SyncReport, c: &Counts) {
    report.pages += c.pages;
    report.fetched += c.fetched;
    report.mapped += c.mapped;
    report.failed += c.failed;
    report.filtered += c.filtered;
    report.unchanged_skipped += c.unchanged_skipped;
    report.already_queued += c.already_queued;
    if report.dry_run {
        report.sent += c.would_send;
        report.batches += c.would_batches;
    }
}

/// The fetching half: one component call per page, retried while the
/// vendor is rate-limiting or unavailable.
async fn fetch_pages(
    integration: &Integration,
    spec: &MappingSpec,
    report: &mut SyncReport,
    page_tx: mpsc::Sender<PageMsg>,
    mut cursor: Option<String>,
    test_run: bool,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<()> {
    let cfg = &integration.config;
    let mut inst = integration.instance().await?;
    let kind = kind(integration);
    let sync_time = crate::clock::now();
    let options = integration.fetch_options.clone();
    let mut page_no = 0u64;
    loop {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            report.stopped = true;
            return Ok(());
        }
        let req = FetchRequest {
            kind,
            cursor: cursor.clone(),
            page_size: cfg.source.page_size,
            options: options.clone(),
            sync_time: sync_time.clone(),
            read_ahead: !test_run,
        };
        let fetched = match fetch_with_retries(integration, spec, &mut inst, &req, report, page_no)
            .await?
        {
            Some(page) => {
                page_no += 1;
                Fetched::Page(page)
            }
            None if report.cursor_restarts < 3 => {
                tracing::warn!(
                    "Dropbox rejected the cursor as expired; listing again from the start (same portion, no duplicates)"
                );
                report.cursor_restarts += 1;
                Fetched::Restart
            }
            None => bail!("Dropbox rejected the listing cursor 3 times in a row"),
        };
        let restart = matches!(fetched, Fetched::Restart);
        let (next, more) = match &fetched {
            Fetched::Page(p) => (p.cursor.clone(), p.has_more),
            Fetched::Restart => (None, true),
        };
        let (go_on, answer) = if test_run {
            let (s, r) = oneshot::channel();
            (Some(s), Some(r))
        } else {
            (None, None)
        };
        if page_tx.send(PageMsg { fetched, go_on }).await.is_err() {
            // The committer stopped; its error says why.
            return Ok(());
        }
        if let Some(answer) = answer
            && !answer.await.unwrap_or(false)
        {
            return Ok(());
        }
        // A page that says "more" without a cursor is the committer's
        // error to report; fetching on would start the listing over.
        if !more || (next.is_none() && !restart) {
            return Ok(());
        }
        cursor = next;
    }
}

/// The endpoint outages of the listing are reported under.
const LISTING: &str = "the connector's member listing";

/// The record kind the integration's mode lists.
fn kind(integration: &Integration) -> RecordKind {
    match integration.config.integration.mode {
        Mode::UserOnly => RecordKind::Users,
        Mode::UserPlusSaas => RecordKind::SaasUsers,
    }
}

/// One fetch, retried while the vendor is rate-limiting or unavailable.
/// `None`: the cursor expired.
async fn fetch_with_retries(
    integration: &Integration,
    spec: &MappingSpec,
    inst: &mut crate::instance::ConnectorInstance,
    req: &FetchRequest,
    report: &mut SyncReport,
    pages_before: u64,
) -> Result<Option<MappedPage>> {
    let max_retries = integration.config.limits.max_retries;
    let mut retry = crate::retry::Retry::new(max_retries);
    loop {
        let err = match inst.fetch_mapped(req, spec).await? {
            Ok(page) => {
                crate::outage::global().succeeded(LISTING);
                return Ok(Some(page));
            }
            Err(ConnectorError::Conflict(c))
                if c.tag == "invalid_cursor" && req.cursor.is_some() =>
            {
                return Ok(None);
            }
            Err(e) => e,
        };
        // Rate limits and outages are retried; other answers are final.
        let retryable = match &err {
            ConnectorError::RateLimited(r) => {
                Some(Some(Duration::from_secs(u64::from(r.retry_after_seconds))))
            }
            ConnectorError::Unavailable(_) => Some(None),
            _ => None,
        };
        // No retry can help once the credential itself is gone.
        let fatal = integration.policy.credential_failure().is_some();
        match retryable.filter(|_| !fatal).and_then(|ask| retry.next(ask)) {
            Some(wait) => {
                report.vendor_retries += 1;
                let kind = match &err {
                    ConnectorError::RateLimited(_) => "rate limited",
                    _ => "unavailable",
                };
                crate::outage::global().failed(
                    LISTING,
                    kind,
                    &format!(
                        "page {}: {}",
                        pages_before + 1,
                        crate::vendor::describe(&integration.config, &err)
                    ),
                    wait,
                );
                tokio::time::sleep(wait).await;
            }
            None => {
                let why = match (&err, integration.policy.stats.last_refusal()) {
                    (ConnectorError::Denied(_), Some(reason)) => {
                        format!("{} [{reason}]", describe_error(&err))
                    }
                    _ => crate::vendor::describe(&integration.config, &err),
                };
                bail!(
                    "fetching page {} from the vendor failed: {why}",
                    pages_before + 1
                );
            }
        }
    }
}

/// The committing half, on a blocking thread: per page, decide what to
/// send (change detection, portion dedupe), commit, then queue batches.
fn commit_pages(
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
#[derive(Default)]
struct MarkBuffer {
    marks: HashMap<i64, Mark>,
    since: Option<Instant>,
}

impl MarkBuffer {
    /// Written when this many wait, or when the oldest waited this long.
    const MAX: usize = 100_000;
    const MAX_WAIT: Duration = Duration::from_secs(2);

    fn get(&self, key: i64) -> Option<Mark> {
        self.marks.get(&key).copied()
    }

    fn add(&mut self, db: &Db, marks: impl Iterator<Item = (i64, Mark)>) -> Result<()> {
        self.marks.extend(marks);
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.marks.len() >= Self::MAX || since.elapsed() >= Self::MAX_WAIT {
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
    let limit = if test_run { Some(10u64) } else { None };
    let full = l.opts.full || l.opts.test_run;
    let dry = l.opts.dry_run;
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
        let snapshot = l
            .snapshot
            .as_ref()
            .map(|layout| crate::state::snapshot::SnapshotPage {
                members: layout.members(&page.outcomes),
                run_id: l.run_id,
            });
        let candidates = shape_records(l, page.outcomes, c, &mut key, seen.as_mut());
        let keys: Vec<i64> = candidates.iter().map(|r| r.key).collect();
        let mut marks = db_call(&l.db, |d| d.marks(&keys))?;
        for (m, k) in marks.iter_mut().zip(&keys) {
            if let Some(p) = pending.get(*k) {
                *m = Some(p);
            }
        }
        let mut chosen = Vec::with_capacity(candidates.len());
        seen_on_page.clear();
        for (mut r, mark) in candidates.into_iter().zip(marks) {
            if limit.is_some_and(|l| queued + chosen.len() as u64 >= l) {
                break;
            }
            r.previous = mark;
            let queued_here = !seen_on_page.insert(r.key);
            let queued_before = !dry && mark.is_some_and(|m| m.portion == portion_tag);
            if queued_here || queued_before {
                c.already_queued += 1;
                continue;
            }
            if !full && r.fingerprint.is_some() && mark.and_then(|m| m.fingerprint) == r.fingerprint
            {
                c.unchanged_skipped += 1;
                continue;
            }
            chosen.push(r);
        }
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
            // A test run marks its records as queued in its portion, but
            // keeps the fingerprint last sent by a real run: what it sent
            // counts as never sent, so the next real sync sends it.
            let marks = chosen.iter().map(|r| {
                let fingerprint = match test_run {
                    true => r.previous.and_then(|m| m.fingerprint),
                    false => r.fingerprint,
                };
                let mark = Mark {
                    fingerprint,
                    portion: portion_tag,
                };
                (r.key, mark)
            });
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
