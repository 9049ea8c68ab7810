//! `report`: the self-contained HTML report, or the list views as CSV.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::args::ReportArgs;
use super::{Printer, open_state};
use crate::config::Config;

pub fn report(printer: Printer, config_path: &Path, r: ReportArgs) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let db = open_state(&config)?;
    if let Some(dir) = r.csv {
        std::fs::create_dir_all(&dir)?;
        let filter = crate::views::MemberFilter {
            status: r.status,
            membership_type: r.membership_type,
            role: r.role,
            joined_from: r.joined_from,
            joined_to: r.joined_to,
            q: None,
        };
        let members = std::fs::File::create(dir.join("members.csv"))?;
        let n = crate::views::csv::write_members(std::io::BufWriter::new(members), &db, &filter)?;
        let runs = crate::views::runs(&db, &Default::default(), u32::MAX)?;
        crate::views::csv::write_runs(std::fs::File::create(dir.join("runs.csv"))?, &runs)?;
        let audit = crate::views::audit(&db, &Default::default(), u32::MAX)?;
        crate::views::csv::write_audit(std::fs::File::create(dir.join("audit.csv"))?, &audit)?;
        printer.out(format_args!(
            "wrote {n} members, {} runs and {} audit entries as CSV into {}",
            runs.len(),
            audit.len(),
            dir.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let out = r
        .out
        .unwrap_or_else(|| config.resolve(Path::new("oomnitza-connect-report.html")));
    let opts = crate::report::ReportOptions {
        suspended_days: r.suspended_days,
        runs: r.runs,
        ..Default::default()
    };
    let data = crate::report::ReportData::gather(&db, &config.integration.name, &opts)?;
    std::fs::write(&out, crate::report::render(&data))
        .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", out.display()))?;
    printer.out(format_args!("report written to {}", out.display()));
    Ok(ExitCode::SUCCESS)
}
