//! The end of a run: closing its portion at Oomnitza, and reconciling SaaS
//! users with what Dropbox lists.
//!
//! Reconciliation judges the portion's whole listing, as its committed
//! pages recorded it in the state database ([`Evidence`]), however many
//! processes (resumes) it took. It first reactivates the SaaS users this
//! tool deactivated that Dropbox lists again (so a wrong deactivation heals
//! on the next run), then deactivates the active SaaS users of the app that
//! the listing did not show: only after a complete listing whose records
//! were all mapped, never in a test run, and never more than
//! `saas.max_deactivations` in one run unless the operator confirms it
//! (`--allow-mass-deactivation`).

use anyhow::Result;

use super::{BatchContext, Db, SyncOptions, SyncReport, db_call};
use crate::config::MaxDeactivations;
use crate::config::limits::defaults;
use crate::integration::Integration;
use crate::oomnitza::OomnitzaClient;
use crate::oomnitza::wire::ReadyPortion;
use crate::state::{SaasKeys, hash64};

/// What the portion's listing showed, as its committed pages recorded it.
pub(super) struct Evidence {
    /// The SaaS keys of every listed member (removed ones excluded).
    seen: SaasKeys,
    /// The listing reached its last page.
    listing_complete: bool,
    /// The keys were recorded from the portion's first page on, under the
    /// current mapping.
    recorded: bool,
    filtered: u64,
    failed: u64,
}

impl Evidence {
    /// The evidence of `integration`'s active portion; `None` when there
    /// is none.
    pub(super) fn load(db: &Db, integration: &str, mapping_hash: &str) -> Result<Option<Self>> {
        let Some(a) = db_call(db, |d| d.active_run(integration))? else {
            return Ok(None);
        };
        let seen = db_call(db, |d| d.saas_seen(&a.portion))?;
        Ok(Some(Evidence {
            seen,
            listing_complete: a.listing_complete,
            recorded: a.saas_keys.as_deref() == Some(mapping_hash),
            filtered: a.filtered,
            failed: a.failed,
        }))
    }
}

/// The key of a SaaS user as Oomnitza lists it, hashed as the listing's.
fn key_hash(sync_key: &str) -> i64 {
    hash64(&[sync_key.to_ascii_lowercase().as_bytes()])
}

/// Reconciles the app's SaaS users with the listing (see the module docs).
/// Failures and refusals go into `report.error`; notes into `saas_note`.
pub(super) async fn reconcile_saas(
    integration: &Integration,
    client: &OomnitzaClient,
    opts: &SyncOptions,
    evidence: &Evidence,
    report: &mut SyncReport,
    db: &Db,
) {
    let cfg = &integration.config;
    let name = cfg.integration.name.as_str();
    let Some(saas) = cfg.saas.as_ref().filter(|s| s.deactivate_missing) else {
        return;
    };
    if opts.test_run {
        report.saas_note = Some("skipped for a test run".into());
        return;
    }
    if let Err(e) = reactivate_listed(client, evidence, report, db, name).await {
        report.error = Some(format!("reactivating SaaS users failed: {e:#}"));
        return;
    }
    let skip_reason = if !evidence.recorded {
        Some(
            "no deactivation: this portion began without recording the SaaS keys it lists (before deactivate_missing was on, under another mapping, or with an older oomnitza-connect); the next complete run reconciles"
                .to_string(),
        )
    } else if !evidence.listing_complete {
        Some("no deactivation: the listing is not complete".to_string())
    } else if evidence.filtered > 0 || evidence.failed > 0 {
        Some(format!(
            "no deactivation: {} records were filtered out and {} failed to map in this portion, so absence is not proof",
            evidence.filtered, evidence.failed
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
    let mut missing: Vec<(String, i64)> = Vec::new();
    let mut active = 0u64;
    let mut skip = 0u64;
    loop {
        match client
            .list_saas_users(&filter, defaults::OOMNITZA_READ_PAGE, skip)
            .await
        {
            Ok((page, total)) => {
                let n = page.len() as u64;
                active = active.max(total).max(skip + n);
                for u in page {
                    let key = u["sync_key"].as_str().unwrap_or_default();
                    if key.is_empty() {
                        continue;
                    }
                    let key = key_hash(key);
                    if !evidence.seen.contains(&key)
                        && let Some(id) = u["saas_user_id"].as_str()
                    {
                        missing.push((id.to_string(), key));
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
    let limit = MaxDeactivations::limit(saas.max_deactivations.as_ref(), active);
    let n = missing.len() as u64;
    if n > limit {
        if !opts.allow_mass_deactivation {
            report.saas_refused = n;
            report.error = Some(format!(
                "SaaS reconciliation refused: this run would deactivate {n} of the {active} active SaaS users of {app}, more than saas.max_deactivations allows ({limit}; setting: {setting}). Nobody was deactivated. If the vendor really no longer lists them, confirm once with `oomnitza-connect sync --allow-mass-deactivation`; to allow more every run, raise saas.max_deactivations",
                app = saas.app_name(&cfg.integration.name),
                setting = MaxDeactivations::describe(saas.max_deactivations.as_ref()),
            ));
            return;
        }
        tracing::warn!(
            "deactivating {n} SaaS users, more than saas.max_deactivations ({limit}): confirmed by --allow-mass-deactivation"
        );
    }
    for chunk in missing.chunks(defaults::SAAS_UPDATE_CHUNK) {
        // Remembered before the call, so a crash after it cannot forget
        // whom this tool deactivated (and must heal if listed again).
        let recorded = db_call(db, |d| {
            d.record_deactivations(name, chunk, &crate::clock::now())
        });
        if let Err(e) = recorded {
            report.error = Some(format!("deactivating SaaS users failed: {e:#}"));
            return;
        }
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        match client.deactivate_saas_users(&ids).await {
            Ok(failed) => {
                report.saas_deactivated += (chunk.len() - failed.len()) as u64;
                for (id, why) in &failed {
                    tracing::warn!("SaaS user {id} was not deactivated: {why}");
                }
                let never: Vec<String> = failed.into_iter().map(|(id, _)| id).collect();
                let _ = db_call(db, |d| d.forget_deactivations(name, &never));
            }
            Err(e) => {
                report.error = Some(format!("deactivating SaaS users failed: {e}"));
                return;
            }
        }
    }
}

/// Reactivates the SaaS users this tool deactivated whose key the listing
/// shows again (a listed member is proof enough, whatever else the listing
/// lacks). A user Oomnitza no longer has is forgotten.
async fn reactivate_listed(
    client: &OomnitzaClient,
    evidence: &Evidence,
    report: &mut SyncReport,
    db: &Db,
    name: &str,
) -> Result<()> {
    let ours = db_call(db, |d| d.deactivations(name))?;
    let back: Vec<String> = ours
        .into_iter()
        .filter(|(_, key)| evidence.seen.contains(key))
        .map(|(id, _)| id)
        .collect();
    for chunk in back.chunks(defaults::SAAS_UPDATE_CHUNK) {
        let failed = client.activate_saas_users(chunk).await?;
        let mut done = Vec::with_capacity(chunk.len());
        for id in chunk {
            match failed.iter().find(|(f, _)| f == id) {
                None => {
                    report.saas_reactivated += 1;
                    done.push(id.clone());
                }
                Some((_, why)) if why == "not found" => done.push(id.clone()),
                Some((_, why)) => tracing::warn!("SaaS user {id} was not reactivated: {why}"),
            }
        }
        db_call(db, |d| d.forget_deactivations(name, &done))?;
    }
    Ok(())
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
        Ok(()) => {
            // A full portion that completed resets the `full_every` clock.
            if report.full && !ctx.test_run {
                db_call(db, |d| d.set_last_full(name, super::now_secs()))?;
            }
            db_call(db, |d| d.clear_active_run(name, &ctx.portion))
        }
        Err(e) => {
            report.error = Some(format!(
                "closing portion {} failed: {e}; the next run closes it",
                ctx.portion
            ));
            Ok(())
        }
    }
}
