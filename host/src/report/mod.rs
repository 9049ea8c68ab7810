//! `oomnitza-connect report`: one self-contained HTML file to mail to
//! management. No script, no external request (styles inline, charts as
//! inline SVG), print rules for a clean PDF. Every value is escaped by the
//! compiled templates (maud); nothing from Dropbox, Oomnitza or a
//! component is ever written unescaped.

pub mod svg;

use anyhow::Result;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::state::{AuditEntry, StateDb};
use crate::views::{self, Composition, Member, MemberPage, RunRow, Seats, TrendPoint, WatchLists};

/// The stylesheet of the report and of the console (served as a file
/// there; inlined here).
pub const CSS: &str = include_str!("style.css");

/// What the report shows, and its knobs.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// "Suspended for more than N days".
    pub suspended_days: u32,
    /// The last N runs.
    pub runs: u32,
    /// Rows shown per member list (the total is always given).
    pub list_limit: u64,
    /// The audit entries shown.
    pub audit: u32,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            suspended_days: 30,
            runs: 20,
            list_limit: 50,
            audit: 50,
        }
    }
}

/// Everything a report (or the dashboard) draws, gathered once.
pub struct ReportData {
    pub integration: String,
    pub generated_at: String,
    pub composition: Option<Composition>,
    pub seats: Option<Seats>,
    pub trend: Vec<TrendPoint>,
    pub runs: Vec<RunRow>,
    /// Long suspensions, pending invitations and admins.
    pub lists: WatchLists,
    pub audit: Vec<AuditEntry>,
    pub opts: ReportOptions,
}

impl ReportData {
    pub fn gather(db: &StateDb, integration: &str, opts: &ReportOptions) -> Result<ReportData> {
        let now = crate::clock::now();
        let composition = views::composition(db)?;
        Ok(ReportData {
            integration: integration.to_owned(),
            seats: composition
                .as_ref()
                .map(|c| views::seats(db, c))
                .transpose()?,
            composition,
            trend: views::trend(db, opts.runs)?,
            runs: views::runs(db, &Default::default(), opts.runs)?,
            lists: views::watch_lists(db, opts.suspended_days, &now, opts.list_limit)?,
            audit: views::audit(db, &Default::default(), opts.audit)?,
            generated_at: now,
            opts: opts.clone(),
        })
    }
}

/// A value for a page: control characters (ANSI escapes, bidi overrides)
/// shown as visible escapes, as in the terminal; maud then escapes HTML.
pub fn t(s: &str) -> std::borrow::Cow<'_, str> {
    crate::term::clean_line(s)
}

fn or_dash(s: &Option<String>) -> std::borrow::Cow<'_, str> {
    t(s.as_deref().unwrap_or("–"))
}

fn date(s: &Option<String>) -> &str {
    s.as_deref().map_or("–", |d| d.get(..10).unwrap_or(d))
}

pub fn member_table(page: &MemberPage, id: &str) -> Markup {
    html! {
        p.muted { (page.total) " in all" @if (page.members.len() as u64) < page.total { ", first " (page.members.len()) " shown" } }
        @if !page.members.is_empty() {
            table.data id=(id) {
                thead { tr { th { "Email" } th { "Name" } th { "Status" } th { "Type" } th { "Roles" } th { "Joined" } th { "Invited" } th { "Suspended" } } }
                tbody { @for m in &page.members { (member_row(m)) } }
            }
        }
    }
}

pub fn member_row(m: &Member) -> Markup {
    html! {
        tr {
            td { (or_dash(&m.email)) }
            td { (t(m.given_name.as_deref().unwrap_or(""))) " " (t(m.surname.as_deref().unwrap_or(""))) }
            td { span.badge data-status=(or_dash(&m.status)) { (or_dash(&m.status)) } }
            td { (or_dash(&m.membership_type)) }
            td { @if m.roles.is_empty() { span.muted { "member" } } @else { (t(&m.roles.join(", "))) } }
            td { (date(&m.joined_on)) }
            td { (date(&m.invited_on)) }
            td { (date(&m.suspended_on)) }
        }
    }
}

/// The tiles and charts of the team: shared by the report and the
/// console's dashboard.
pub fn dashboard(d: &ReportData) -> Markup {
    let Some(c) = &d.composition else {
        return html! { p.notice { "No complete sync yet: run `oomnitza-connect sync` (or start one from the console) to see the team." } };
    };
    let seats = d.seats.clone().unwrap_or_default();
    html! {
        section.tiles {
            div.tile data-tile="members" { div.n { (c.total) } div.l { "members" } }
            div.tile data-tile="active" { div.n { (c.count(&c.by_status, "active")) } div.l { "active" } }
            div.tile data-tile="invited" { div.n { (c.count(&c.by_status, "invited")) } div.l { "invited, not joined" } }
            div.tile data-tile="suspended" { div.n { (c.count(&c.by_status, "suspended")) } div.l { "suspended" } }
            div.tile data-tile="admins" { div.n { (d.lists.admins.total) } div.l { "hold admin roles" } }
            div.tile data-tile="failed" { div.n { (c.failed) } div.l { "failed to map" } }
        }
        p.muted { "As of the sync completed " (c.completed_at.as_deref().unwrap_or("")) @if let Some(r) = c.run_id { " (run #" (r) ")" } "." }
        section.grid {
            (svg::bars("status", "Members by status", &c.by_status))
            (svg::bars("membership_type", "Seats by membership type (full vs limited)", &c.by_membership_type))
            (svg::bars("roles", "Admin roles", &c.by_role))
            figure.chart data-chart="seats" {
                figcaption { "Seats: licensed vs provisioned" }
                table.data {
                    thead { tr { th { "Seats" } th.num { "Count" } th { "Source" } } }
                    tbody {
                        tr {
                            td { "Licensed (paid for)" }
                            td.num data-source=(seats.licensed_from.as_str()) data-count="licensed" { @match seats.licensed { Some(n) => (n), None => "unknown" } }
                            td.muted { (seats.licensed_note) }
                        }
                        tr {
                            td { "Provisioned (in use: active, invited, suspended)" }
                            td.num data-source=(seats.provisioned_from.as_str()) data-count="provisioned" { (seats.provisioned) }
                            td.muted { (seats.provisioned_note) }
                        }
                        @if let (Some(l), p) = (seats.licensed, seats.provisioned) {
                            tr {
                                td { "Free (licensed − provisioned)" }
                                td.num data-count="free" { (l as i128 - p as i128) }
                                td.muted { "" }
                            }
                        }
                    }
                }
            }
        }
        (svg::columns("joins", "Joins per month", "members", &c.joins_by_month, None))
    }
}

pub fn runs_chart(runs: &[RunRow]) -> Markup {
    let ordered: Vec<&RunRow> = runs.iter().rev().collect();
    let data: Vec<(String, u64)> = ordered
        .iter()
        .map(|r| (format!("#{}", r.id), r.fetched))
        .collect();
    let durations: Vec<f64> = ordered
        .iter()
        .map(|r| r.duration_secs.unwrap_or(0) as f64)
        .collect();
    svg::columns(
        "runs",
        "Records fetched per run, and duration (s)",
        "records",
        &data,
        Some(("duration (s)", &durations)),
    )
}

pub fn runs_table(runs: &[RunRow], link: Option<&dyn Fn(i64) -> String>) -> Markup {
    html! {
        table.data id="runs" {
            thead { tr { th { "Run" } th { "Started" } th.num { "Duration (s)" } th { "Status" } th.num { "Fetched" } th.num { "Failed" } th.num { "Filtered" } th.num { "Sent" } th.num { "Created" } th.num { "Updated" } th { "Error" } } }
            tbody {
                @for r in runs {
                    tr data-run=(r.id) {
                        td { @if let Some(l) = link { a href=(l(r.id)) { "#" (r.id) } } @else { "#" (r.id) } }
                        td { (r.started_at) }
                        td.num { @match r.duration_secs { Some(s) => (s), None => "–" } }
                        td { span.badge data-status=(r.status) { (r.status) } }
                        td.num { (r.fetched) } td.num { (r.failed) } td.num { (r.filtered) }
                        td.num { (r.sent) } td.num { (r.created) } td.num { (r.updated) }
                        td { (or_dash(&r.error)) }
                    }
                }
            }
        }
    }
}

pub fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        @if entries.is_empty() { p.muted { "No actions recorded." } }
        @else {
            table.data id="audit" {
                thead { tr { th { "When" } th { "Workflow" } th { "User" } th { "Action" } th { "Outcome" } th { "Detail" } th { "Parameters" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (e.at) }
                            td { (t(e.workflow.as_deref().unwrap_or("(by hand)"))) }
                            td { (t(&e.user)) }
                            td { (t(&e.action)) }
                            td { span.badge data-status=(e.outcome) { (e.outcome) } }
                            td { (t(&e.detail)) }
                            td { code { (t(&e.params)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The report, as one HTML document.
pub fn render(d: &ReportData) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Even opened from disk, the file may load nothing.
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { "Team report: " (d.integration) }
                style { (PreEscaped(CSS)) }
            }
            body.report {
                header {
                    h1 { "Team report" }
                    p.muted { "Integration " strong { (d.integration) } " · generated " (d.generated_at) " by oomnitza-connect" }
                }
                h2 { "Team" }
                (dashboard(d))
                h2 { "Members suspended for more than " (d.opts.suspended_days) " days" }
                (member_table(&d.lists.suspended, "suspended"))
                h2 { "Invitations never accepted" }
                (member_table(&d.lists.invited, "invited"))
                h2 { "Admins" }
                (member_table(&d.lists.admins, "admins"))
                h2 { "The last " (d.runs.len()) " runs" }
                (runs_chart(&d.runs))
                (runs_table(&d.runs, None))
                h2 { "Actions taken" }
                (audit_table(&d.audit))
                footer.muted { "Values are shown as the vendor returned them. This file makes no network requests and runs no script." }
            }
        }
    };
    page.into_string()
}
