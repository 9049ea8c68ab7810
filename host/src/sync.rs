//! The sync pipeline: fetch → map → forward to Oomnitza.
//!
//! Pages stream through: the connector fetches one page, maps it, and the
//! mapped records are cut into bulk batches that a forwarder task posts to
//! Oomnitza (several in flight) while the next page is fetched. Memory is
//! bounded by a page plus the batches in flight, whatever the team size.
//!
//! Every run has one `portion`, and nothing is lost: each page is committed
//! to the state database (its batches into the outbox, the cursor past it)
//! before anything is posted, and a batch leaves the outbox only once
//! Oomnitza acknowledged it. A run killed at any point, stopped by a
//! signal, or cut short by an Oomnitza outage resumes its portion on the
//! next start: pending batches first, then the listing from the checkpoint.
//! Keys already queued in the portion are never queued again (an expired
//! cursor restarts the listing without duplicates), and by default records
//! whose mapped content did not change since they were last acknowledged
//! are not sent (`--full` sends everything).
//!
//! A run that sent records is closed with `finalize`; one with nothing to
//! send is reported with `add_ready_portion` (`is_empty_run`), and one that
//! failed before anything reached Oomnitza with `add_ready_portion`
//! (`failed`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value as Json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::bindings::{ConnectorError, FetchRequest, MapOutcome, RecordKind, Value};
use crate::config::Mode;
use crate::integration::{Integration, describe_error};
use crate::oomnitza::OomnitzaClient;
use crate::oomnitza::wire::{BulkRequest, BulkResponse, ReadyPortion};
use crate::state::StateDb;
use sha2::{Digest, Sha256};

/// How a sync runs.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Print the exact bulk payloads (JSON lines on stdout); send nothing.
    pub dry_run: bool,
    /// Mark the run as a trial: at most 10 records are sent.
    pub test_run: bool,
    /// Show a progress bar (callers pass `stderr().is_terminal()`).
    pub progress: bool,
    /// Send every record, changed or not.
    pub full: bool,
    /// Set by a signal handler: finish the page in hand, checkpoint, stop.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// What a run did; printed at the end and returned to tests.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub portion: String,
    pub pages: u64,
    pub fetched: u64,
    pub mapped: u64,
    pub failed: u64,
    pub filtered: u64,
    /// Records posted to Oomnitza (mapped and failed-raw).
    pub sent: u64,
    pub batches: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub vendor_retries: u64,
    /// Retries of Oomnitza calls (429, 5xx, network).
    pub oomnitza_retries: u64,
    pub requests: u64,
    pub denied: u64,
    /// This run resumed an unfinished portion.
    pub resumed: bool,
    /// Records not sent because they did not change since last sent.
    pub unchanged_skipped: u64,
    /// Records not queued again because the portion already had them.
    pub already_queued: u64,
    /// Times the listing restarted after an expired cursor.
    pub cursor_restarts: u64,
    /// Batches still waiting in the outbox when the run ended.
    pub pending_batches: u64,
    /// Stopped by a signal, checkpointed.
    pub stopped: bool,
    /// SaaS users deactivated because Dropbox no longer lists them.
    pub saas_deactivated: u64,
    /// Why SaaS reconciliation did not run, when it was asked for.
    pub saas_note: Option<String>,
    pub elapsed: Duration,
    pub dry_run: bool,
    pub test_run: bool,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

impl SyncReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// The human summary printed at the end of a run.
    pub fn render(&self) -> String {
        let status = match &self.error {
            None if self.stopped => format!(
                "stopped by a signal: portion {} is checkpointed; run `oomnitza-connect sync` to resume it",
                self.portion
            ),
            None if self.dry_run => "dry run (nothing sent)".to_string(),
            None => "succeeded".to_string(),
            Some(e) => format!("FAILED: {e}"),
        };
        let rate = self.fetched as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "sync {status}\n  portion        {}{}{}\n  pages          {}\n  fetched        {}\n  mapped         {}\n  failed         {}\n  filtered out   {}\n  sent           {} in {} batches\n",
            self.portion,
            if self.test_run { " (test run)" } else { "" },
            if self.resumed { " (resumed)" } else { "" },
            self.pages,
            self.fetched,
            self.mapped,
            self.failed,
            self.filtered,
            self.sent,
            self.batches,
        );
        if !self.dry_run {
            s.push_str(&format!(
                "  oomnitza       {} created, {} updated, {} unchanged, {} skipped, {} failed\n",
                self.created, self.updated, self.unchanged, self.skipped, self.rejected
            ));
        }
        s.push_str(&format!(
            "  not sent       {} unchanged since last sent, {} already queued in this portion\n",
            self.unchanged_skipped, self.already_queued
        ));
        if self.pending_batches > 0 {
            s.push_str(&format!(
                "  outbox         {} batches wait for Oomnitza; the next run sends them first\n",
                self.pending_batches
            ));
        }
        if self.cursor_restarts > 0 {
            s.push_str(&format!(
                "  listing        restarted {} time(s) after an expired cursor\n",
                self.cursor_restarts
            ));
        }
        if self.saas_deactivated > 0 || self.saas_note.is_some() {
            s.push_str(&format!(
                "  saas users     {} deactivated (not in Dropbox){}\n",
                self.saas_deactivated,
                self.saas_note
                    .as_ref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            ));
        }
        s.push_str(&format!(
            "  vendor calls   {} ({} retried, {} refused by the sandbox); Oomnitza calls retried {}\n  time           {:.2} s ({:.0} records/s)",
            self.requests,
            self.vendor_retries,
            self.denied,
            self.oomnitza_retries,
            self.elapsed.as_secs_f64(),
            rate
        ));
        s
    }
}

/// A batch ready to post: its outbox row (none in a dry run), its
/// records, and the fingerprints to remember once acknowledged.
struct Batch {
    id: i64,
    records: Vec<Map<String, Json>>,
    fingerprints: String,
}

type Db = Arc<std::sync::Mutex<StateDb>>;

fn db_call<T>(db: &Db, f: impl FnOnce(&StateDb) -> Result<T>) -> Result<T> {
    let guard = db
        .lock()
        .map_err(|_| anyhow!("the state database lock is poisoned"))?;
    f(&guard)
}

/// What shapes records: when it changes, fingerprints are forgotten.
fn mapping_hash(integration: &Integration) -> String {
    let cfg = &integration.config;
    let text = format!(
        "{:?}|{}|{:?}|{:?}",
        integration.spec,
        integration.component.sha256,
        cfg.integration.mode,
        cfg.saas.as_ref().map(|s| (&s.saas_id, &s.name))
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The identity of a record in Oomnitza: its sync-key values.
fn record_key(record: &Map<String, Json>, sync_key: &[String]) -> String {
    sync_key
        .iter()
        .map(|k| match record.get(k) {
            Some(Json::String(s)) => s.to_ascii_lowercase(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

fn fingerprint(record: &Map<String, Json>) -> i64 {
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    let d = Sha256::digest(&bytes);
    i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
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
    // A dry run after a mapping change must show every record, as the real
    // run would send, without forgetting anything itself.
    let stale = opts.dry_run && !db_call(db, |d| d.mapping_matches(&name, &hash))?;
    let effective = SyncOptions {
        full: opts.full || stale,
        ..opts.clone()
    };
    let opts = &effective;
    let active = if opts.dry_run {
        None
    } else {
        if db_call(db, |d| d.check_mapping(&name, &hash))? {
            tracing::info!("the mapping changed since the last run: every record will be sent");
        }
        db_call(db, |d| d.active_run(&name))?
    };
    let portion = active
        .as_ref()
        .map(|a| a.portion.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut report = SyncReport {
        portion: portion.clone(),
        dry_run: opts.dry_run,
        test_run: opts.test_run,
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
    let run_id = if opts.dry_run {
        None
    } else {
        let id = db_call(db, |d| d.start_run(&name, &portion, &crate::clock::now()))?;
        db_call(db, |d| match &active {
            Some(_) => d.set_active_run_id(&name, id),
            None => d.begin_active_run(&name, &portion, id, &crate::clock::now()),
        })?;
        Some(id)
    };
    let stats = integration.policy.stats.clone();
    let before = (
        stats.requests.load(Ordering::Relaxed),
        stats.denied.load(Ordering::Relaxed),
    );
    let saas_keys = std::sync::Mutex::new(std::collections::HashSet::new());
    let ctx = Arc::new(BatchContext {
        connector_version: integration.manifest.version.clone(),
        connector_name: name.clone(),
        portion: portion.clone(),
        sync_field: integration.spec.sync_key.clone(),
        preference: cfg.integration.preference.flags(),
        test_run: opts.test_run,
    });
    let (tx, rx) = mpsc::channel::<Batch>(cfg.oomnitza.concurrency * 2);
    let forwarder = tokio::spawn(forward(
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
            let records: Vec<Map<String, Json>> = serde_json::from_str(&b.records)
                .with_context(|| format!("outbox batch {} is unreadable", b.id))?;
            if tx
                .send(Batch {
                    id: b.id,
                    records,
                    fingerprints: b.fingerprints,
                })
                .await
                .is_err()
            {
                fetched = Err(anyhow!("stopped: posting to Oomnitza failed"));
                break;
            }
        }
    }
    let listing_done = active.as_ref().is_some_and(|a| a.listing_complete);
    if fetched.is_ok() && !listing_done {
        let cursor = active.as_ref().and_then(|a| a.cursor.clone());
        fetched = fetch_all(
            integration,
            opts,
            &mut report,
            &ctx,
            tx,
            &saas_keys,
            db,
            cursor,
        )
        .await;
    } else {
        drop(tx);
    }
    let forwarded = forwarder
        .await
        .map_err(|e| anyhow!("forwarder task failed: {e}"))?;
    match &forwarded {
        Ok(totals) => {
            report.sent = totals.sent;
            report.batches = totals.batches;
            report.created = totals.resp.created;
            report.updated = totals.resp.updated;
            report.unchanged = totals.resp.unchanged;
            report.skipped = totals.resp.skipped;
            report.rejected = totals.resp.failed;
        }
        Err(e) => report.error = Some(format!("{e:#}")),
    }
    if let Err(e) = fetched {
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
        close_portion(client, &ctx, &mut report, db, &name).await?;
        if report.error.is_none() && !report.stopped {
            let keys = saas_keys.into_inner().unwrap_or_default();
            reconcile_saas(integration, client, opts, &keys, &mut report).await;
        }
    }
    report.oomnitza_retries = client.as_ref().map_or(0, |c| c.retries());
    report.elapsed = started.elapsed();
    if let Some(id) = run_id {
        db_call(db, |d| {
            d.finish_run(
                id,
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
                    ..Default::default()
                },
            )
        })?;
    }
    Ok(report)
}

/// Deactivates the SaaS users Oomnitza holds for this app that the sync
/// did not find in Dropbox. Runs only after a complete, successful, full
/// sync in which every record was mapped: a partial listing, a test run,
/// or records that were filtered out or failed are no proof of absence.
async fn reconcile_saas(
    integration: &Integration,
    client: &OomnitzaClient,
    opts: &SyncOptions,
    keys: &std::collections::HashSet<String>,
    report: &mut SyncReport,
) {
    let cfg = &integration.config;
    let Some(saas) = cfg.saas.as_ref().filter(|s| s.deactivate_missing) else {
        return;
    };
    if cfg.integration.mode != Mode::UserPlusSaas {
        return;
    }
    let skip_reason = if opts.test_run {
        Some("skipped for a test run".to_string())
    } else if report.filtered > 0 || report.failed > 0 {
        Some(format!(
            "skipped: {} records were filtered out and {} failed, so absence is not proof",
            report.filtered, report.failed
        ))
    } else {
        None
    };
    if let Some(r) = skip_reason {
        report.saas_note = Some(r);
        return;
    }
    let filter = format!(
        "selected_saas_id eq '{}' and status eq 'active'",
        saas.saas_id.replace('\'', "''")
    );
    let mut missing = Vec::new();
    let mut skip = 0u64;
    loop {
        match client.list_saas_users(&filter, 1000, skip).await {
            Ok((page, total)) => {
                let n = page.len() as u64;
                for u in page {
                    let key = u["sync_key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if !key.is_empty()
                        && !keys.contains(&key)
                        && let Some(id) = u["saas_user_id"].as_str()
                    {
                        missing.push(id.to_string());
                    }
                }
                skip += n;
                if n == 0 || skip >= total {
                    break;
                }
            }
            Err(e) => {
                report.error = Some(format!("listing SaaS users for reconciliation failed: {e}"));
                return;
            }
        }
    }
    for chunk in missing.chunks(100) {
        match client.deactivate_saas_users(chunk).await {
            Ok(failed) => report.saas_deactivated += (chunk.len() - failed.len()) as u64,
            Err(e) => {
                report.error = Some(format!("deactivating SaaS users failed: {e}"));
                return;
            }
        }
    }
}

/// Closes the portion when the run completed: `finalize` if anything was
/// acknowledged, else an empty-run report. A failed run keeps its portion
/// open (to resume) unless nothing reached Oomnitza and nothing waits in the
/// outbox: then it is reported as failed and the next run starts afresh.
async fn close_portion(
    client: &OomnitzaClient,
    ctx: &BatchContext,
    report: &mut SyncReport,
    db: &Db,
    name: &str,
) -> Result<()> {
    let active = db_call(db, |d| d.active_run(name))?;
    let acked = active.as_ref().map_or(0, |a| a.acked_batches);
    let listing_complete = active.as_ref().is_some_and(|a| a.listing_complete);
    report.pending_batches = db_call(db, |d| d.pending_count(&ctx.portion))?;
    if report.stopped {
        return Ok(());
    }
    if let Some(e) = report.error.clone() {
        if acked == 0 && report.pending_batches == 0 {
            let r = client
                .add_ready_portion(
                    &ctx.connector_name,
                    &ReadyPortion::Failed {
                        correlation_id: &ctx.portion,
                        failed: 1,
                        error_message: &e,
                        test_run: ctx.test_run,
                        error_type: "Fatal Error",
                    },
                )
                .await;
            db_call(db, |d| d.clear_active_run(name, &ctx.portion))?;
            if let Err(re) = r {
                report.error = Some(format!(
                    "{e}; and reporting the failure to Oomnitza failed: {re}"
                ));
            }
        } else {
            report.error = Some(format!(
                "{e}; portion {} stays open with {} batches in the outbox and resumes on the next run",
                ctx.portion, report.pending_batches
            ));
        }
        return Ok(());
    }
    if !listing_complete || report.pending_batches > 0 {
        // Only a test run ends early on purpose.
        if !ctx.test_run {
            report.error = Some(format!(
                "the run ended before its portion was complete ({} batches pending)",
                report.pending_batches
            ));
            return Ok(());
        }
    }
    let result = if acked == 0 {
        client
            .add_ready_portion(
                &ctx.connector_name,
                &ReadyPortion::Empty {
                    correlation_id: &ctx.portion,
                    is_empty_run: true,
                },
            )
            .await
    } else {
        client.finalize(&ctx.portion).await
    };
    match result {
        Ok(()) => db_call(db, |d| d.clear_active_run(name, &ctx.portion)),
        Err(e) => {
            report.error = Some(format!(
                "closing portion {} failed: {e}; the next run closes it",
                ctx.portion
            ));
            Ok(())
        }
    }
}

/// Fetches pages from `cursor` on, maps them, and commits each page's
/// batches to the outbox before handing them to the forwarder. Stops at the
/// first error, on a stop signal, or when the forwarder has stopped.
#[allow(clippy::too_many_arguments)]
async fn fetch_all(
    integration: &Integration,
    opts: &SyncOptions,
    report: &mut SyncReport,
    ctx: &BatchContext,
    tx: mpsc::Sender<Batch>,
    saas_keys: &std::sync::Mutex<std::collections::HashSet<String>>,
    db: &Db,
    mut cursor: Option<String>,
) -> Result<()> {
    let cfg = &integration.config;
    let name = &ctx.connector_name;
    let mut inst = integration.instance().await?;
    let kind = match cfg.integration.mode {
        Mode::UserOnly => RecordKind::Users,
        Mode::UserPlusSaas => RecordKind::SaasUsers,
    };
    let sync_time = crate::clock::now();
    let options = vec![(
        "include_removed".to_string(),
        Value::Boolean(cfg.dropbox.include_removed),
    )];
    let shaper = RecordShaper::new(integration);
    let batch_size = cfg.oomnitza.batch_size;
    let limit = if opts.test_run { Some(10u64) } else { None };
    let full = opts.full || opts.test_run;
    let progress = progress_bar(opts.progress);
    let mut stdout = std::io::stdout().lock();
    let mut queued = 0u64;
    loop {
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            report.stopped = true;
            break;
        }
        let req = FetchRequest {
            kind,
            cursor: cursor.clone(),
            page_size: cfg.dropbox.page_size,
            options: options.clone(),
            sync_time: sync_time.clone(),
        };
        let page = match fetch_with_retries(integration, &mut inst, &req, report).await? {
            Fetched::Page(p) => p,
            Fetched::InvalidCursor if report.cursor_restarts < 3 => {
                tracing::warn!(
                    "Dropbox rejected the cursor as expired; listing again from the start (same portion, no duplicates)"
                );
                report.cursor_restarts += 1;
                if !opts.dry_run {
                    db_call(db, |d| d.restart_listing(name))?;
                }
                cursor = None;
                continue;
            }
            Fetched::InvalidCursor => bail!("Dropbox rejected the listing cursor 3 times in a row"),
        };
        report.pages += 1;
        report.fetched += page.records.len() as u64;
        if !opts.dry_run {
            // Keep the run lock fresh: a lock without heartbeats is a crash.
            db_call(db, |d| d.heartbeat(name))?;
        }

        let outcomes = match inst.map(&integration.spec, &page.records).await? {
            Ok(o) => o,
            Err(e) => bail!(
                "the connector could not map page {}: {}",
                report.pages,
                describe_error(&e)
            ),
        };
        // (record, portion key, fingerprint for change detection)
        let mut chosen: Vec<(Map<String, Json>, String, Option<i64>)> = Vec::new();
        {
            let guard = db
                .lock()
                .map_err(|_| anyhow!("the state database lock is poisoned"))?;
            for (outcome, source) in outcomes.into_iter().zip(&page.records) {
                if limit.is_some_and(|l| queued + chosen.len() as u64 >= l) {
                    break;
                }
                let (record, key, fp) = match outcome {
                    MapOutcome::Mapped(m) => {
                        report.mapped += 1;
                        let record = shaper.mapped(m.fields);
                        if let Some(key) = record.get("saas").and_then(|s| s["sync_key"].as_str())
                            && let Ok(mut keys) = saas_keys.lock()
                        {
                            keys.insert(key.to_ascii_lowercase());
                        }
                        let key = record_key(&record, &ctx.sync_field);
                        let fp = fingerprint(&record);
                        if !full && guard.fingerprint(name, &key)? == Some(fp) {
                            report.unchanged_skipped += 1;
                            continue;
                        }
                        (record, key, Some(fp))
                    }
                    MapOutcome::Failed(f) => {
                        report.failed += 1;
                        tracing::debug!("record {} failed to map: {}", source.id, f.reason);
                        (
                            shaper.failed(f.raw, &f.reason),
                            format!("raw\u{1f}{}", source.id),
                            None,
                        )
                    }
                    MapOutcome::Filtered(_) => {
                        report.filtered += 1;
                        continue;
                    }
                };
                if !opts.dry_run && guard.portion_has_key(&ctx.portion, &key)? {
                    report.already_queued += 1;
                    continue;
                }
                chosen.push((record, key, fp));
            }
        }
        queued += chosen.len() as u64;
        let last_page = !page.has_more || limit.is_some_and(|l| queued >= l);
        let next_cursor = page.cursor.clone();
        if !last_page && next_cursor.is_none() {
            bail!(
                "the connector said more pages follow but gave no cursor (page {})",
                report.pages
            );
        }
        let mut batches = Vec::new();
        let mut keys = Vec::with_capacity(chosen.len());
        for chunk in chosen.chunks(batch_size) {
            let records: Vec<Map<String, Json>> = chunk.iter().map(|c| c.0.clone()).collect();
            let fps: Vec<(&str, i64)> = chunk
                .iter()
                .filter_map(|(_, k, f)| f.map(|f| (k.as_str(), f)))
                .collect();
            batches.push((records, serde_json::to_string(&fps)?));
            keys.extend(chunk.iter().map(|c| c.1.clone()));
        }
        if opts.dry_run {
            for (records, _) in &batches {
                serde_json::to_writer(&mut stdout, &ctx.body(records))?;
                writeln!(stdout)?;
            }
        } else {
            let serialized: Vec<(String, String)> = batches
                .iter()
                .map(|(r, f)| Ok((serde_json::to_string(r)?, f.clone())))
                .collect::<Result<_>>()?;
            let ids = db_call(db, |d| {
                d.commit_page(
                    name,
                    &ctx.portion,
                    &serialized,
                    &keys,
                    next_cursor.as_deref(),
                    last_page,
                )
            })?;
            for ((records, fingerprints), id) in batches.into_iter().zip(ids) {
                tx.send(Batch {
                    id,
                    records,
                    fingerprints,
                })
                .await
                .map_err(|_| anyhow!("stopped fetching: posting to Oomnitza failed"))?;
            }
        }
        if let Some(pb) = &progress {
            pb.set_message(format!(
                "page {} · {} fetched · {} queued for Oomnitza",
                report.pages, report.fetched, queued
            ));
        }
        if last_page {
            break;
        }
        cursor = next_cursor;
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok(())
}

/// What a fetch gave: a page, or an expired cursor to restart from.
enum Fetched {
    Page(crate::bindings::Page),
    InvalidCursor,
}

/// One fetch, retried while the vendor is rate-limiting or unavailable.
async fn fetch_with_retries(
    integration: &Integration,
    inst: &mut crate::instance::ConnectorInstance,
    req: &FetchRequest,
    report: &mut SyncReport,
) -> Result<Fetched> {
    let max_retries = integration.config.limits.max_retries;
    let mut retry = crate::retry::Retry::new(max_retries);
    loop {
        let err = match inst.fetch(req).await? {
            Ok(page) => return Ok(Fetched::Page(page)),
            Err(ConnectorError::Conflict(c))
                if c.tag == "invalid_cursor" && req.cursor.is_some() =>
            {
                return Ok(Fetched::InvalidCursor);
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
                tracing::warn!(
                    "fetching page {}: {}; retrying in {wait:?} (retry {} of {max_retries})",
                    report.pages + 1,
                    describe_error(&err),
                    retry.attempts()
                );
                tokio::time::sleep(wait).await;
            }
            None => {
                let why = match (&err, integration.policy.stats.last_refusal()) {
                    (ConnectorError::Denied(_), Some(reason)) => {
                        format!("{} [{reason}]", describe_error(&err))
                    }
                    _ => describe_error(&err),
                };
                return Err(anyhow!(
                    "fetching page {} from the vendor failed: {why}",
                    report.pages + 1
                ))
                .context(if report.fetched > 0 {
                    format!(
                        "{} records fetched before the failure are safe in the outbox or delivered",
                        report.fetched
                    )
                } else {
                    "no records were fetched".to_string()
                });
            }
        }
    }
}

/// Static parts of every bulk request of a run.
struct BatchContext {
    connector_version: String,
    connector_name: String,
    portion: String,
    sync_field: Vec<String>,
    preference: (bool, bool),
    test_run: bool,
}

impl BatchContext {
    fn body<'a>(&'a self, records: &'a [Map<String, Json>]) -> BulkRequest<'a> {
        BulkRequest {
            connector_version: &self.connector_version,
            connector_name: &self.connector_name,
            portion: &self.portion,
            data_type: "users",
            sync_field: &self.sync_field,
            insert_only: self.preference.0,
            update_only: self.preference.1,
            test_run: self.test_run,
            records,
            error: None,
        }
    }
}

#[derive(Default)]
struct Totals {
    sent: u64,
    batches: u64,
    resp: BulkResponse,
}

/// Posts batches with up to `concurrency` requests in flight, and marks
/// each acknowledged in the state database. The first failure stops it: it
/// drops the receiver, which stops the fetcher; unacknowledged batches stay
/// in the outbox.
async fn forward(
    mut rx: mpsc::Receiver<Batch>,
    client: Option<OomnitzaClient>,
    ctx: Arc<BatchContext>,
    concurrency: usize,
    db: Db,
) -> Result<Totals> {
    let mut totals = Totals::default();
    let Some(client) = client else {
        // Dry run: batches never reach this task.
        while rx.recv().await.is_some() {}
        return Ok(totals);
    };
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<Result<(u64, BulkResponse)>> = JoinSet::new();
    let mut failure: Option<anyhow::Error> = None;
    let absorb = |r: Result<Result<(u64, BulkResponse)>, tokio::task::JoinError>,
                  totals: &mut Totals,
                  failure: &mut Option<anyhow::Error>| match r {
        Ok(Ok((n, resp))) => {
            totals.sent += n;
            totals.batches += 1;
            totals.resp.created += resp.created;
            totals.resp.updated += resp.updated;
            totals.resp.unchanged += resp.unchanged;
            totals.resp.skipped += resp.skipped;
            totals.resp.failed += resp.failed;
        }
        Ok(Err(e)) => {
            failure.get_or_insert(e);
        }
        Err(e) => {
            failure.get_or_insert(anyhow!("bulk task failed: {e}"));
        }
    };
    while failure.is_none() {
        let Some(batch) = rx.recv().await else { break };
        let permit = permits.clone().acquire_owned().await?;
        // A batch that failed while we waited for a slot stops the run
        // before another one goes out.
        while let Some(done) = tasks.try_join_next() {
            absorb(done, &mut totals, &mut failure);
        }
        if failure.is_some() {
            break;
        }
        let (client, ctx, db) = (client.clone(), ctx.clone(), db.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let resp = client.bulk(&ctx.body(&batch.records)).await?;
            // Acknowledged: it must never be sent again.
            db_call(&db, |d| {
                d.ack_batch(&ctx.connector_name, batch.id, &batch.fingerprints)
            })?;
            Ok((batch.records.len() as u64, resp))
        });
        while let Some(done) = tasks.try_join_next() {
            absorb(done, &mut totals, &mut failure);
        }
    }
    drop(rx);
    while let Some(done) = tasks.join_next().await {
        absorb(done, &mut totals, &mut failure);
    }
    match failure {
        None => Ok(totals),
        Some(e) => Err(e).context(format!(
            "posting to Oomnitza failed after {} records in {} batches",
            totals.sent, totals.batches
        )),
    }
}

/// Turns mapped fields into Oomnitza JSON records, nesting `saas.*`
/// targets into the `saas` object in "User plus SaaS user" mode.
struct RecordShaper {
    saas: Option<(String, String)>,
}

impl RecordShaper {
    fn new(integration: &Integration) -> Self {
        let cfg = &integration.config;
        let saas = match (cfg.integration.mode, &cfg.saas) {
            (Mode::UserPlusSaas, Some(s)) => Some((s.saas_id.clone(), s.name.clone())),
            _ => None,
        };
        Self { saas }
    }

    fn mapped(&self, fields: Vec<(String, Value)>) -> Map<String, Json> {
        let mut out = Map::with_capacity(fields.len() + 1);
        let mut saas = Map::new();
        for (k, v) in fields {
            match k.strip_prefix("saas.") {
                Some(sub) => {
                    saas.insert(sub.to_string(), to_json(v));
                }
                None => {
                    out.insert(k, to_json(v));
                }
            }
        }
        if let Some((id, name)) = &self.saas {
            saas.insert("selected_saas_id".into(), Json::String(id.clone()));
            saas.insert("name".into(), Json::String(name.clone()));
            out.insert("saas".into(), Json::Object(saas));
        }
        out
    }

    /// A record that failed mapping is still sent, raw, with the reason.
    fn failed(&self, raw: Vec<(String, Value)>, reason: &str) -> Map<String, Json> {
        let mut out: Map<String, Json> = raw.into_iter().map(|(k, v)| (k, to_json(v))).collect();
        out.insert("error".into(), Json::String(reason.to_string()));
        out
    }
}

pub fn to_json(v: Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) | Value::Timestamp(s) => Json::String(s),
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => Json::from(i),
        Value::TextList(l) => Json::Array(l.into_iter().map(Json::String).collect()),
    }
}

fn progress_bar(enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}
