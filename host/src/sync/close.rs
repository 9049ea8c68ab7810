//! The end of a run: closing its portion at Oomnitza, and reconciling SaaS
//! users that Dropbox no longer lists.

use std::collections::HashSet;

use anyhow::Result;

use super::{BatchContext, Db, SyncOptions, SyncReport, db_call};
use crate::config::Mode;
use crate::integration::Integration;
use crate::oomnitza::OomnitzaClient;
use crate::oomnitza::wire::ReadyPortion;

/// Deactivates the SaaS users Oomnitza holds for this app that the sync
/// did not find in Dropbox. Runs only after a complete, successful, full
/// sync in which every record was mapped: a partial listing, a test run,
/// or records that were filtered out or failed are no proof of absence.
pub(super) async fn reconcile_saas(
    integration: &Integration,
    client: &OomnitzaClient,
    opts: &SyncOptions,
    keys: &HashSet<String>,
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
pub(super) async fn close_portion(
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
