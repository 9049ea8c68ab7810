//! The list views as CSV (RFC 4180, via the `csv` crate).
//!
//! A CSV file is opened in a spreadsheet, which runs a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return as a formula ("CSV
//! injection"). Every value comes from Dropbox or a component, so such a
//! cell is written with a leading `'`, which spreadsheets show as text.
//! Control characters are kept (the file is data, not a terminal), quoted
//! as the format requires.

use std::io::Write;

use anyhow::Result;

use super::{Member, MemberFilter, RunRow, StateDb};
use crate::state::AuditEntry;

/// `s`, made inert for a spreadsheet.
pub fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

fn opt(s: &Option<String>) -> String {
    cell(s.as_deref().unwrap_or(""))
}

pub fn write_members(out: impl Write, db: &StateDb, filter: &MemberFilter) -> Result<u64> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "email",
        "given_name",
        "surname",
        "status",
        "membership_type",
        "roles",
        "joined_on",
        "invited_on",
        "suspended_on",
        "failure",
        "last_seen_run",
    ])?;
    let mut n = 0;
    super::each_member(db, filter, |m: &Member| {
        let roles = m.roles.join("; ");
        let run = m.run_id.map(|r| r.to_string()).unwrap_or_default();
        w.write_record([
            cell(&m.id),
            opt(&m.email),
            opt(&m.given_name),
            opt(&m.surname),
            opt(&m.status),
            opt(&m.membership_type),
            cell(&roles),
            opt(&m.joined_on),
            opt(&m.invited_on),
            opt(&m.suspended_on),
            opt(&m.failure),
            cell(&run),
        ])?;
        n += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(n)
}

pub fn write_runs(out: impl Write, runs: &[RunRow]) -> Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "started_at",
        "ended_at",
        "duration_secs",
        "status",
        "fetched",
        "mapped",
        "failed",
        "filtered",
        "sent",
        "created",
        "updated",
        "portion",
        "error",
    ])?;
    for r in runs {
        w.write_record([
            r.id.to_string(),
            cell(&r.started_at),
            opt(&r.ended_at),
            r.duration_secs.map(|d| d.to_string()).unwrap_or_default(),
            cell(&r.status),
            r.fetched.to_string(),
            r.mapped.to_string(),
            r.failed.to_string(),
            r.filtered.to_string(),
            r.sent.to_string(),
            r.created.to_string(),
            r.updated.to_string(),
            cell(&r.portion),
            opt(&r.error),
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_audit(out: impl Write, entries: &[AuditEntry]) -> Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record([
        "at",
        "workflow",
        "step",
        "user",
        "action",
        "params",
        "vendor_response",
        "outcome",
        "detail",
    ])?;
    for e in entries {
        w.write_record([
            cell(&e.at),
            opt(&e.workflow),
            e.step.map(|s| s.to_string()).unwrap_or_default(),
            cell(&e.user),
            cell(&e.action),
            cell(&e.params),
            cell(&e.vendor_response),
            cell(&e.outcome),
            cell(&e.detail),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_made_inert() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("alice@corp.com"), "alice@corp.com");
    }
}
