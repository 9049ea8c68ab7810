//! The sync pipeline: fetch → map → forward to Oomnitza.
//!
//! Pages stream through three stages that overlap: the component fetches
//! and maps a page in one call ([`pages`]: `fetch-mapped`, so source
//! records never cross the boundary); a committer thread decides what to
//! send, writes each record straight to JSON ([`shape`]), cuts the batches
//! and commits the page ([`commit`]); a forwarder posts the batches to
//! Oomnitza ([`forward`]), several in flight, while the next page is
//! fetched. Memory is bounded by two pages
//! plus the batches in flight, whatever the team size.
//!
//! Every run has one `portion`, and nothing is lost: each page is committed
//! to the state database (its batches into the outbox, the cursor past it)
//! before anything is posted, and a batch leaves the outbox only once
//! Oomnitza acknowledged it. A run killed at any point, stopped by a
//! signal, or cut short by an Oomnitza outage resumes its portion on the
//! next start: pending batches first, then the listing from the checkpoint.
//! Keys already queued in the portion are not queued again (an expired
//! cursor restarts the listing without duplicates), and by default records
//! whose mapped content did not change since they were last queued are not
//! sent (`--full` sends everything).
//!
//! A real sync whose listing ended well then asks the connector for the
//! team's seats ([`seats`]), stored with the run for the report.
//!
//! A run that sent records is closed with `finalize`; one with nothing to
//! send is reported with `add_ready_portion` (`is_empty_run`), and one that
//! failed before anything reached Oomnitza with `add_ready_portion`
//! (`failed`). See [`close`].

mod close;
mod commit;
mod forward;
mod pages;
mod progress;
mod report;
mod seats;
mod shape;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::Mode;
use crate::integration::Integration;
use crate::oomnitza::OomnitzaClient;
use crate::oomnitza::wire::BulkRequest;
use crate::state::{PortionStart, RunKind, StateDb};

pub use report::SyncReport;
use shape::{Envelope, RecordShaper};

/// How a sync runs.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Send nothing; write the exact bulk payloads to `payloads`.
    pub dry_run: bool,
    /// Mark the run as a trial: at most 10 records are sent.
    pub test_run: bool,
    /// Show a progress bar (callers pass `stderr().is_terminal()`).
    pub progress: bool,
    /// Send every record, changed or not.
    pub full: bool,
    /// Let this run's SaaS reconciliation deactivate more than
    /// `saas.max_deactivations` (an operator's one-time confirmation).
    pub allow_mass_deactivation: bool,
    /// Set by a signal handler: finish the page in hand, checkpoint, stop.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Where a dry run writes its bulk payloads, one JSON body a line (the
    /// command line: stdout). `None`: nowhere; the counts still say what
    /// would be sent.
    pub payloads: Option<PayloadSink>,
}

/// A writer a dry run's payloads go to. The sync never prints: the caller
/// says where its output goes.
#[derive(Clone)]
pub struct PayloadSink(Arc<std::sync::Mutex<dyn std::io::Write + Send>>);

impl PayloadSink {
    pub fn new(w: impl std::io::Write + Send + 'static) -> Self {
        Self(Arc::new(std::sync::Mutex::new(w)))
    }

    /// Writes one payload and its newline.
    pub(crate) fn write_line(&self, body: &[u8]) -> Result<()> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| anyhow!("the payload writer lock is poisoned"))?;
        w.write_all(body)?;
        w.write_all(b"\n")?;
        Ok(())
    }
}

impl std::fmt::Debug for PayloadSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadSink")
    }
}

/// A batch ready to post: its outbox row, its records (a JSON array, as
/// they go into the request) and how many.
struct Batch {
    id: i64,
    records: String,
    n: u64,
}

type Db = Arc<std::sync::Mutex<StateDb>>;

fn db_call<T>(db: &Db, f: impl FnOnce(&StateDb) -> Result<T>) -> Result<T> {
    let guard = db
        .lock()
        .map_err(|_| anyhow!("the state database lock is poisoned"))?;
    f(&guard)
}

/// What shapes records: it salts fingerprints, so when it changes every
/// record counts as changed.
fn mapping_hash(integration: &Integration) -> String {
    let cfg = &integration.config;
    let text = format!(
        "{:?}|{}|{:?}|{:?}",
        integration.spec,
        integration.component.sha256,
        cfg.integration.mode,
        cfg.saas
            .as_ref()
            .map(|s| (&s.saas_id, s.app_name(&cfg.integration.name)))
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// Runs one sync of `integration`. Errors of the run itself are in the
/// report; `Err` is only for failures to even start.
pub async fn run(integration: &Integration, opts: &SyncOptions) -> Result<SyncReport> {
    let started = Instant::now();
    let cfg = &integration.config;
    let name = cfg.integration.name.clone();
    let client = match (&integration.oomnitza_token, opts.dry_run) {
        (_, true) => None,
        (Some(tok), false) => Some(
            OomnitzaClient::new(&cfg.oomnitza.url, tok, cfg.limits.max_retries + 1)
                .map_err(|e| anyhow!("{e}"))?,
        ),
        (None, false) => bail!("no Oomnitza token configured"),
    };
    let db: Db = Arc::new(std::sync::Mutex::new(StateDb::open(
        &cfg.resolve(&cfg.state.path),
    )?));
    if !opts.dry_run
        && let Err(pid) = db_call(&db, |d| d.acquire_lock(&name))?
    {
        bail!("another sync of `{name}` is running (process {pid}); it was not started twice");
    }
    let result = run_locked(integration, opts, client, &db, started).await;
    if !opts.dry_run {
        let _ = db_call(&db, |d| d.release_lock(&name));
    }
    result
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether a new portion must send every record: `[sync] full_every` has
/// passed since the last full run completed (or there was none).
fn full_run_due(integration: &Integration, db: &Db) -> Result<bool> {
    let cfg = &integration.config;
    let Some(every) = cfg.sync.full_every_secs()? else {
        return Ok(false);
    };
    let last = db_call(db, |d| d.last_full_at(&cfg.integration.name))?;
    Ok(last.is_none_or(|t| now_secs().saturating_sub(t) >= every as i64))
}

async fn run_locked(
    integration: &Integration,
    opts: &SyncOptions,
    client: Option<OomnitzaClient>,
    db: &Db,
    started: Instant,
) -> Result<SyncReport> {
    let cfg = &integration.config;
    let name = cfg.integration.name.clone();
    let hash = mapping_hash(integration);
    // Runs whose process died (SIGKILL, a double Ctrl-C) show as such.
    let dead = db_call(db, |d| d.mark_dead_runs())?;
    if dead > 0 {
        tracing::info!("{dead} earlier run(s) ended without finishing: marked interrupted");
    }
    // A dry run after a mapping change must show every record, as the real
    // run would send, without forgetting anything itself.
    let stale = opts.dry_run && !db_call(db, |d| d.mapping_matches(&name, &hash))?;
    let mut active = if opts.dry_run {
        None
    } else {
        if db_call(db, |d| d.check_mapping(&name, &hash))? {
            tracing::info!("the mapping changed since the last run: every record will be sent");
        }
        db_call(db, |d| d.active_run(&name))?
    };
    // A test run resumes only a test run's portion, and a real sync never
    // resumes one: its records were capped at 10.
    match &active {
        Some(a) if a.test_run && !opts.test_run => {
            tracing::warn!(
                "an unfinished test run (portion {}) is abandoned; this sync starts afresh",
                a.portion
            );
            db_call(db, |d| d.clear_active_run(&name, &a.portion))?;
            active = None;
        }
        Some(a) if !a.test_run && opts.test_run => bail!(
            "a sync is unfinished (portion {}, {} pages done): run `oomnitza-connect sync` to finish it first; a test run does not resume it",
            a.portion,
            a.pages_done
        ),
        _ => {}
    }
    // A new portion is full when asked, or when `full_every` has passed; a
    // resumed one stays what it began as.
    let full = match &active {
        Some(a) => a.full,
        None => !opts.test_run && (opts.full || full_run_due(integration, db)?),
    };
    if let Some(a) = active.as_ref().filter(|a| opts.full && !a.full) {
        tracing::warn!(
            "--full: the resumed portion {} began as an incremental run; the rest of it is sent whole, and the next run is a full one only when `sync.full_every` says so (run `sync --full` again after this one)",
            a.portion
        );
    }
    let effective = SyncOptions {
        full: full || opts.full || stale,
        ..opts.clone()
    };
    let opts = &effective;
    let reconcile = cfg.integration.mode == Mode::UserPlusSaas
        && cfg.saas.as_ref().is_some_and(|s| s.deactivate_missing);
    // The SaaS keys a portion lists are recorded from its first page, under
    // the mapping that derives them; a portion that did not is not judged.
    let record_saas_keys = reconcile
        && !opts.test_run
        && active
            .as_ref()
            .is_none_or(|a| a.saas_keys.as_deref() == Some(hash.as_str()));
    let portion = active
        .as_ref()
        .map(|a| a.portion.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut report = SyncReport {
        portion: portion.clone(),
        dry_run: opts.dry_run,
        test_run: opts.test_run,
        full,
        resumed: active.is_some(),
        ..Default::default()
    };
    if let Some(a) = &active {
        tracing::info!(
            "resuming portion {} ({} pages done, {} batches acknowledged)",
            a.portion,
            a.pages_done,
            a.acked_batches
        );
    }
    let kind = match (opts.dry_run, opts.test_run) {
        (true, _) => RunKind::Dry,
        (false, true) => RunKind::Test,
        (false, false) => RunKind::Sync,
    };
    let run_id = db_call(db, |d| {
        d.start_run(&name, &portion, &crate::clock::now(), kind, full)
    })?;
    if !opts.dry_run {
        db_call(db, |d| match &active {
            Some(_) => d.set_active_run_id(&name, run_id),
            None => d.begin_active_run(
                &name,
                &portion,
                run_id,
                &crate::clock::now(),
                &PortionStart {
                    test_run: opts.test_run,
                    full,
                    saas_keys: record_saas_keys.then_some(hash.as_str()),
                },
            ),
        })?;
    }
    let stats = integration.policy.stats.clone();
    let before = (
        stats.requests.load(Ordering::Relaxed),
        stats.denied.load(Ordering::Relaxed),
    );
    let spec = shape::run_spec(integration);
    let ctx = Arc::new(BatchContext::new(integration, &portion, opts.test_run)?);
    let (tx, rx) = mpsc::channel::<Batch>(cfg.oomnitza.concurrency * 2);
    let forwarder = tokio::spawn(forward::forward(
        rx,
        client.clone(),
        ctx.clone(),
        cfg.oomnitza.concurrency,
        db.clone(),
    ));

    // Batches a previous run left in the outbox go first.
    let mut fetched: Result<()> = Ok(());
    if !opts.dry_run {
        for b in db_call(db, |d| d.pending_batches(&portion))? {
            let n = serde_json::from_str::<Vec<serde::de::IgnoredAny>>(&b.records)
                .with_context(|| format!("outbox batch {} is unreadable", b.id))?
                .len() as u64;
            let batch = Batch {
                id: b.id,
                records: b.records,
                n,
            };
            if tx.send(batch).await.is_err() {
                fetched = Err(anyhow::Error::new(forward::ForwarderStopped));
                break;
            }
        }
    }
    let listing_done = active.as_ref().is_some_and(|a| a.listing_complete);
    if fetched.is_ok() && !listing_done {
        let cursor = active.as_ref().and_then(|a| a.cursor.clone());
        // The team snapshot is kept by real runs only; its rules come after
        // the run's, so every position the shaper reads stays where it was.
        let (fetch_spec, snapshot) = if opts.dry_run || opts.test_run {
            (spec.clone(), None)
        } else if !cfg.state.team_snapshot {
            db_call(db, |d| d.drop_team_snapshot(&ctx.connector_name))?;
            (spec.clone(), None)
        } else {
            let (extended, layout) =
                crate::state::snapshot::extend_spec(&spec, &integration.manifest);
            (extended, Some(layout))
        };
        let listing = commit::Listing {
            shaper: RecordShaper::new(integration).reading_status(&spec),
            ctx: ctx.clone(),
            db: db.clone(),
            opts: opts.clone(),
            mapping_hash: hash.clone(),
            batch_size: cfg.oomnitza.batch_size,
            record_saas_keys,
            snapshot,
            run_id: Some(run_id),
        };
        fetched =
            pages::fetch_all(integration, &fetch_spec, listing, &mut report, tx, cursor).await;
    } else {
        drop(tx);
    }
    // The vendor's seat counts, once per real sync whose listing ended
    // well (while the forwarder still posts the last batches).
    if kind == RunKind::Sync && fetched.is_ok() && !report.stopped {
        let answer = seats::ask(integration).await;
        if let Err(e) = db_call(db, |d| d.record_seats(run_id, &name, &answer)) {
            tracing::warn!("the team's seats were not stored: {e:#}");
        }
    }
    let forwarded = forwarder
        .await
        .map_err(|e| anyhow!("forwarder task failed: {e}"))?;
    match &forwarded {
        // A dry run posts nothing: its counts are what it would send.
        Ok(_) if opts.dry_run => {}
        Ok(totals) => {
            report.sent = totals.sent;
            report.batches = totals.batches;
            report.created = totals.created;
            report.updated = totals.updated;
            report.unchanged = totals.unchanged;
            report.skipped = totals.skipped;
            report.rejected = totals.failed;
            report.accepted = totals.accepted;
        }
        Err(e) => report.error = Some(format!("{e:#}")),
    }
    // The listing stops when the forwarder does: then the forwarder's
    // error (say, a 401 for the Oomnitza token) is the cause to report.
    let stopped_by_forwarder = matches!(&fetched, Err(e)
        if e.chain().any(|c| c.is::<forward::ForwarderStopped>()));
    if let Err(e) = fetched
        && !(stopped_by_forwarder && forwarded.is_err())
    {
        // The fetch error is the cause; a forwarder error after it is noise.
        // A credential that cannot be refreshed says more than the
        // component's view of it ("the host could not obtain a credential").
        report.error = Some(match integration.policy.credential_failure() {
            Some(fatal) => fatal.to_string(),
            None => format!("{e:#}"),
        });
    }
    report.requests = stats.requests.load(Ordering::Relaxed) - before.0;
    report.denied = stats.denied.load(Ordering::Relaxed) - before.1;

    if let Some(client) = &client {
        // What the listing saw, read before closing the portion forgets it.
        let evidence = match reconcile {
            true => close::Evidence::load(db, &name, &hash)?,
            false => None,
        };
        close::close_portion(client, &ctx, &mut report, db, &name).await?;
        if report.error.is_none()
            && !report.stopped
            && let Some(evidence) = evidence
        {
            close::reconcile_saas(integration, client, opts, &evidence, &mut report, db).await;
        }
    }
    report.oomnitza_retries = client.as_ref().map_or(0, |c| c.retries());
    report.elapsed = started.elapsed();
    db_call(db, |d| {
        d.finish_run(
            run_id,
            &crate::state::RunRecord {
                ended_at: Some(crate::clock::now()),
                status: match (&report.error, report.stopped) {
                    (Some(_), _) => "failed",
                    (None, true) => "stopped",
                    (None, false) => "succeeded",
                }
                .into(),
                fetched: report.fetched,
                mapped: report.mapped,
                failed: report.failed,
                filtered: report.filtered,
                sent: report.sent,
                created: report.created,
                updated: report.updated,
                error: report.error.clone(),
                accepted: report.accepted,
                deactivated: report.saas_deactivated,
                reactivated: report.saas_reactivated,
                ..Default::default()
            },
        )
    })?;
    Ok(report)
}

/// The constant parts of every bulk request of a run.
struct BatchContext {
    connector_name: String,
    portion: String,
    test_run: bool,
    envelope: Envelope,
}

impl BatchContext {
    fn new(integration: &Integration, portion: &str, test_run: bool) -> Result<Self> {
        let cfg = &integration.config;
        let preference = cfg.integration.preference.flags();
        let envelope = Envelope::new(&BulkRequest {
            connector_version: &integration.manifest.version,
            connector_name: &cfg.integration.name,
            portion,
            data_type: "users",
            sync_field: &integration.spec.sync_key,
            insert_only: preference.0,
            update_only: preference.1,
            test_run,
            records: &[],
            error: None,
        })?;
        Ok(BatchContext {
            connector_name: cfg.integration.name.clone(),
            portion: portion.to_owned(),
            test_run,
            envelope,
        })
    }
}
