//! `runs` and `audit`: the run history and the audit log, newest first, as
//! lines, JSON or CSV.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::args::{AuditFilterArgs, ListFormat};
use super::{Printer, open_state};
use crate::config::Config;

pub fn audit(
    printer: Printer,
    config_path: &Path,
    limit: u32,
    format: &ListFormat,
    filter: AuditFilterArgs,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let db = open_state(&config)?;
    let filter = crate::views::AuditFilter {
        user: filter.user,
        action: filter.action,
        outcome: filter.outcome,
        workflow: filter.workflow,
        since: filter.since,
        until: filter.until,
    };
    let entries = crate::views::audit(&db, &filter, limit)?;
    if format.json {
        printer.data(&serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if format.csv {
        let mut buf = Vec::new();
        crate::views::csv::write_audit(&mut buf, &entries)?;
        printer.data(&String::from_utf8_lossy(&buf));
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        printer.out(format_args!(
            "the audit log of {} is empty",
            db.path().display()
        ));
    }
    for e in entries {
        printer.out(format_args!(
            "{}  {:<20} {:<32} {:<16} {:<9} {}  params {}  vendor {}",
            e.at,
            e.workflow.as_deref().unwrap_or("(by hand)"),
            e.user,
            e.action,
            e.outcome,
            e.detail,
            e.params,
            if e.vendor_response.is_empty() {
                "-"
            } else {
                &e.vendor_response
            }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn runs(
    printer: Printer,
    config_path: &Path,
    limit: u32,
    format: &ListFormat,
    filter: crate::views::RunFilter,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let db = open_state(&config)?;
    // A run whose process died shows as interrupted, not running.
    db.mark_dead_runs()?;
    let rows = crate::views::runs(&db, &filter, limit)?;
    if format.json {
        printer.data(&serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if format.csv {
        let mut buf = Vec::new();
        crate::views::csv::write_runs(&mut buf, &rows)?;
        printer.data(&String::from_utf8_lossy(&buf));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        printer.out(format_args!("no runs recorded in {}", db.path().display()));
    }
    for r in rows {
        printer.out(run_line(&r));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `runs`: what kind of run it was (full, test, dry), how it
/// ended, its counts, and what Oomnitza did (or accepted without counts).
fn run_line(r: &crate::views::RunRow) -> String {
    let kind = r.kind;
    let sent = if r.dry {
        format!("would send {:<7}", r.sent)
    } else {
        format!("sent {:<7}", r.sent)
    };
    let oomnitza = if r.dry {
        String::new()
    } else if r.accepted > 0 && r.accepted == r.sent {
        format!("accepted {:<7} (no counts)  ", r.accepted)
    } else if r.accepted > 0 {
        format!(
            "created {:<7} updated {:<7} accepted {:<7} (no counts)  ",
            r.created, r.updated, r.accepted
        )
    } else {
        format!("created {:<7} updated {:<7} ", r.created, r.updated)
    };
    let saas = match (r.deactivated, r.reactivated) {
        (0, 0) => String::new(),
        (d, a) => format!("saas {d} deactivated {a} reactivated  "),
    };
    format!(
        "#{:<4} {}  {:<11} {:<8} fetched {:<7} mapped {:<7} failed {:<5} filtered {:<5} {sent} {oomnitza}{saas}{}{}",
        r.id,
        r.started_at,
        r.status,
        kind,
        r.fetched,
        r.mapped,
        r.failed,
        r.filtered,
        r.portion,
        r.error
            .as_ref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default()
    )
}
