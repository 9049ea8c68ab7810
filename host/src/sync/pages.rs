//! The listing, component side: the connector fetches and maps pages (one
//! `fetch-mapped` call each, retried while the vendor is rate-limiting or
//! unavailable), and each page goes to the committer ([`super::commit`]),
//! which turns it into batches, commits it and hands the batches on.
//!
//! The two run apart so they overlap: while the committer writes page N to
//! the state database (on a blocking thread), the component is already
//! fetching page N+1 (and, with read-ahead, has asked for N+2). The channel
//! between them holds one page, so at most three pages are fetched but not
//! committed when a process dies; they are fetched again on resume, from
//! the last committed cursor.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use tokio::sync::{mpsc, oneshot};

use super::commit::{Counts, Fetched, Listing, PageMsg, commit_pages};
use super::{Batch, SyncReport};
use crate::bindings::MappingSpec;
use crate::bindings::{ConnectorError, FetchRequest, MappedPage, RecordKind};
use crate::config::Mode;
use crate::integration::{Integration, describe_error};

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
                    "the vendor rejected the cursor as expired; listing again from the start (same portion, no duplicates)"
                );
                report.cursor_restarts += 1;
                Fetched::Restart
            }
            None => bail!("the vendor rejected the listing cursor 3 times in a row"),
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
/// A continuation whose cursor expired (`cursor-expired`; a 0.3.0
/// connector's own way of saying it is converted at the boundary,
/// `bindings::since_v0_3_0::listing`) restarts the listing.
///
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
            Err(ConnectorError::CursorExpired(why)) if req.cursor.is_some() => {
                tracing::debug!("the listing's cursor expired: {why}");
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
                        crate::vendor::describe(integration, &err)
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
                    _ => crate::vendor::describe(integration, &err),
                };
                bail!(
                    "fetching page {} from the vendor failed: {why}",
                    pages_before + 1
                );
            }
        }
    }
}
