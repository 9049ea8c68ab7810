//! The console's pages. Each reads what it shows from the state database
//! or the config at request time; every value goes through maud's escaping.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::{Console, Shared, html, refused};
use crate::bindings::{Manifest, MapOutcome, MappingRule, MappingSpec, RuleSource, Value};
use crate::config::Config;
use crate::report::{self, ReportData, ReportOptions};
use crate::state::StateDb;
use crate::views::{self, MemberFilter};

const PAGE: u64 = 100;

fn layout(c: &Console, on: &str, title: &str, body: Markup) -> Response {
    let link = |href: &str, label: &str| {
        html! { a href=(href) class=[(href == on).then_some("on")] { (label) } }
    };
    let _ = c;
    html(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · oomnitza-connect" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.console {
                nav.side {
                    div.brand { "oomnitza-connect" }
                    (link("/", "Overview"))
                    (link("/dashboard", "Dashboard"))
                    (link("/members", "Members"))
                    (link("/runs", "Runs"))
                    (link("/mapping", "Mapping"))
                    (link("/actions", "Actions & workflows"))
                    (link("/audit", "Audit log"))
                    (link("/saas", "SaaS users"))
                    (link("/report", "Report"))
                }
                main { h1 { (title) } (body) }
            }
        }
    })
}

fn error_page(c: &Console, on: &str, e: &anyhow::Error) -> Response {
    layout(c, on, "Error", html! { p.error { (format!("{e:#}")) } })
}

fn load(c: &Console) -> Result<(Config, StateDb)> {
    let config = Config::load(&c.config_path)?;
    let db = StateDb::open(&config.resolve(&config.state.path))?;
    Ok((config, db))
}

fn csrf_field(c: &Console) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf()); }
}

/// What the launch check says, without failing: the manifest, the
/// effective spec and each missing item.
struct Check {
    manifest: Option<Manifest>,
    gaps: Vec<String>,
}

async fn check(config: &Config) -> Check {
    let manifest = match crate::integration::load_manifest(config).await {
        Ok((_, _, m)) => m,
        Err(e) => {
            return Check {
                manifest: None,
                gaps: vec![format!("component: {e:#}")],
            };
        }
    };
    let spec = crate::integration::effective_spec(config, &manifest).ok();
    let mut gaps = match &spec {
        Some(s) => crate::integration::launch_gaps(config, &manifest, s),
        None => vec!["mapping: the mapping cannot be read".into()],
    };
    if gaps.is_empty() {
        // The full check: credentials, sandbox, the connector's own view.
        if let Err(e) = crate::integration::Integration::prepare(config.clone()).await {
            gaps.push(format!("{e:#}"));
        }
    }
    Check {
        manifest: Some(manifest),
        gaps,
    }
}

fn fix_link(gap: &str) -> Option<(&'static str, &'static str)> {
    if gap.starts_with("mapping") || gap.contains("role") || gap.contains("sync key") {
        Some(("/mapping", "fix on the Mapping page"))
    } else if gap.contains("token") || gap.contains("credential") || gap.contains("secret") {
        Some((
            "#credentials",
            "store it with `oomnitza-connect credentials set`",
        ))
    } else {
        None
    }
}

pub async fn overview(State(c): Shared) -> Response {
    let (config, db) = match load(&c) {
        Ok(x) => x,
        Err(e) => return error_page(&c, "/", &e),
    };
    let chk = check(&config).await;
    let last = views::runs(&db, &Default::default(), 1)
        .ok()
        .and_then(|r| r.into_iter().next());
    let next = crate::schedule::next_runs(&config.schedule, std::time::SystemTime::now(), 1)
        .ok()
        .and_then(|v| v.first().copied())
        .map(crate::clock::rfc3339);
    let sync = c.sync.lock().map(|s| s.clone()).unwrap_or_default();
    layout(
        &c,
        "/",
        &format!("Overview: {}", config.integration.name),
        html! {
            @if chk.gaps.is_empty() {
                p.ok data-state="launched" { strong { "Launched." } " The configuration is complete; syncs run on schedule." }
            } @else {
                div.notice data-state="draft" {
                    strong { "Draft." } " The integration cannot run until these are fixed:"
                    ul.gaps {
                        @for g in &chk.gaps {
                            li { (g) @if let Some((href, label)) = fix_link(g) { " — " a href=(href) { (label) } } }
                        }
                    }
                }
            }
            h2 { "Schedule" }
            p { "Every " (format!("{:?}", config.schedule.every).to_lowercase()) " at " (config.schedule.at) " (" (config.schedule.timezone) "); next run " strong { (next.unwrap_or_else(|| "–".into())) } "." }
            h2 { "Last run" }
            @match &last {
                Some(r) => { (report::runs_table(std::slice::from_ref(r), Some(&|id| format!("/runs/{id}")))) }
                None => { p.muted { "No run yet." } }
            }
            @if sync.running { p.notice data-sync="running" { "A sync started from this console is running." } }
            @if let Some(m) = &sync.last { p.muted data-sync="last" { (m) } }
            form method="post" action="/sync" {
                (csrf_field(&c))
                button type="submit" { "Start a sync now" }
            }
            h2 id="credentials" { "Credentials" }
            p.muted { "Secrets are never shown here: store them with `oomnitza-connect credentials set KEY`, check them with `oomnitza-connect credentials check`." }
        },
    )
}

fn gather(db: &StateDb, config: &Config) -> Result<ReportData> {
    ReportData::gather(db, &config.integration.name, &ReportOptions::default())
}

pub async fn dashboard(State(c): Shared) -> Response {
    let data = load(&c).and_then(|(config, db)| gather(&db, &config));
    match data {
        Ok(d) => {
            let trend: Vec<(String, u64)> = d
                .trend
                .iter()
                .map(|t| (t.completed_at.get(..10).unwrap_or("").to_owned(), t.members))
                .collect();
            layout(
                &c,
                "/dashboard",
                "Dashboard",
                html! {
                    (report::dashboard(&d))
                    (report::svg::columns("trend", "Members at each complete sync", "members", &trend, None))
                    h2 { "Suspended for more than " (d.opts.suspended_days) " days" }
                    (report::member_table(&d.lists.suspended, "suspended"))
                    h2 { "Invitations never accepted" }
                    (report::member_table(&d.lists.invited, "invited"))
                    h2 { "Admins" }
                    (report::member_table(&d.lists.admins, "admins"))
                },
            )
        }
        Err(e) => error_page(&c, "/dashboard", &e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct MembersQuery {
    #[serde(flatten)]
    filter: MemberFilter,
    page: Option<u64>,
}

fn query_string(f: &MemberFilter, page: u64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("status", &f.status),
        ("membership_type", &f.membership_type),
        ("role", &f.role),
        ("joined_from", &f.joined_from),
        ("joined_to", &f.joined_to),
        ("q", &f.q),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    s.append_pair("page", &page.to_string());
    s.finish()
}

pub async fn members(State(c): Shared, Query(q): Query<MembersQuery>) -> Response {
    let (_config, db) = match load(&c) {
        Ok(x) => x,
        Err(e) => return error_page(&c, "/members", &e),
    };
    let page = q.page.unwrap_or(0);
    let result = views::members(&db, &q.filter, page * PAGE, PAGE);
    let comp = views::composition(&db).ok().flatten().unwrap_or_default();
    let f = &q.filter;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    match result {
        Err(e) => error_page(&c, "/members", &e),
        Ok(p) => layout(
            &c,
            "/members",
            "Members",
            html! {
                form.filters method="get" action="/members" {
                    label { "Status" select name="status" { option value="" { "any" } @for (s, _) in &comp.by_status { option value=(s) selected[f.status.as_deref() == Some(s)] { (s) } } } }
                    label { "Membership" select name="membership_type" { option value="" { "any" } @for (s, _) in &comp.by_membership_type { option value=(s) selected[f.membership_type.as_deref() == Some(s)] { (s) } } } }
                    label { "Role" select name="role" { option value="" { "any" } @for (s, _) in &comp.by_role { option value=(s) selected[f.role.as_deref() == Some(s)] { (s) } } } }
                    label { "Joined from" input type="date" name="joined_from" value=(v(&f.joined_from)); }
                    label { "Joined to" input type="date" name="joined_to" value=(v(&f.joined_to)); }
                    label { "Email or name" input type="search" name="q" value=(v(&f.q)); }
                    button type="submit" { "Filter" }
                    a href=(format!("/members.csv?{}", query_string(f, 0))) { "Export CSV" }
                }
                p.muted data-total=(p.total) { (p.total) " members match; page " (page + 1) " of " (p.total.div_ceil(PAGE).max(1)) }
                table.data id="members" {
                    thead { tr { th { "Email" } th { "Name" } th { "Status" } th { "Type" } th { "Roles" } th { "Joined" } th { "Invited" } th { "Suspended" } } }
                    tbody { @for m in &p.members { (report::member_row(m)) } }
                }
                div.pager {
                    @if page > 0 { a href=(format!("/members?{}", query_string(f, page - 1))) { "← previous" } }
                    @if (page + 1) * PAGE < p.total { a href=(format!("/members?{}", query_string(f, page + 1))) { "next →" } }
                }
            },
        ),
    }
}

pub async fn members_csv(State(c): Shared, Query(q): Query<MembersQuery>) -> Response {
    let out = load(&c).and_then(|(_, db)| {
        let mut buf = Vec::new();
        views::csv::write_members(&mut buf, &db, &q.filter)?;
        Ok(buf)
    });
    match out {
        Ok(buf) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"members.csv\"",
                ),
            ],
            buf,
        )
            .into_response(),
        Err(e) => error_page(&c, "/members", &e),
    }
}

pub async fn runs(State(c): Shared, Query(f): Query<views::RunFilter>) -> Response {
    let rows = load(&c).and_then(|(_, db)| views::runs(&db, &f, 50));
    match rows {
        Err(e) => error_page(&c, "/runs", &e),
        Ok(rows) => layout(
            &c,
            "/runs",
            "Runs",
            html! {
                form.filters method="get" action="/runs" {
                    label { "Status" select name="status" { option value="" { "any" } @for s in ["succeeded", "failed", "stopped", "running"] { option value=(s) selected[f.status.as_deref() == Some(s)] { (s) } } } }
                    label { "Since" input type="date" name="since" value=(f.since.clone().unwrap_or_default()); }
                    label { "Until" input type="date" name="until" value=(f.until.clone().unwrap_or_default()); }
                    button type="submit" { "Filter" }
                }
                (report::runs_chart(&rows))
                (report::runs_table(&rows, Some(&|id| format!("/runs/{id}"))))
            },
        ),
    }
}

pub async fn run(State(c): Shared, Path(id): Path<i64>) -> Response {
    let data = load(&c).and_then(|(_, db)| {
        let all = views::runs(&db, &Default::default(), u32::MAX)?;
        let run = all.into_iter().find(|r| r.id == id);
        Ok((run, views::run_failures(&db, id, 1000)?))
    });
    match data {
        Err(e) => error_page(&c, "/runs", &e),
        Ok((None, _)) => layout(
            &c,
            "/runs",
            "Run",
            html! { p.error { "No run #" (id) "." } },
        ),
        Ok((Some(r), failures)) => layout(
            &c,
            "/runs",
            &format!("Run #{id}"),
            html! {
                (report::runs_table(std::slice::from_ref(&r), None))
                h2 { "Failed records (" (r.failed) ")" }
                @if failures.is_empty() { p.muted { "None." } }
                @else {
                    table.data id="failures" {
                        thead { tr { th { "Member" } th { "Email" } th { "Reason" } } }
                        tbody { @for f in &failures { tr { td { (report::t(&f.member_id)) } td { (report::t(f.email.as_deref().unwrap_or("–"))) } td { (report::t(&f.reason)) } } } }
                    }
                }
            },
        ),
    }
}

pub async fn audit(State(c): Shared, Query(f): Query<views::AuditFilter>) -> Response {
    let rows = load(&c).and_then(|(_, db)| views::audit(&db, &f, 500));
    match rows {
        Err(e) => error_page(&c, "/audit", &e),
        Ok(rows) => layout(
            &c,
            "/audit",
            "Audit log",
            html! {
                form.filters method="get" action="/audit" {
                    label { "User" input type="search" name="user" value=(f.user.clone().unwrap_or_default()); }
                    label { "Action" input type="text" name="action" value=(f.action.clone().unwrap_or_default()); }
                    label { "Outcome" select name="outcome" { option value="" { "any" } @for s in ["done", "unchanged", "failed"] { option value=(s) selected[f.outcome.as_deref() == Some(s)] { (s) } } } }
                    label { "Since" input type="date" name="since" value=(f.since.clone().unwrap_or_default()); }
                    label { "Until" input type="date" name="until" value=(f.until.clone().unwrap_or_default()); }
                    button type="submit" { "Filter" }
                }
                (report::audit_table(&rows))
            },
        ),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SaasQuery {
    status: Option<String>,
    page: Option<u64>,
}

/// A SaaS user's field as one line of text ("–" when absent).
fn saas_text(u: &serde_json::Value, key: &str) -> String {
    match &u[key] {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(s) => crate::term::clean_line(s).into_owned(),
        v => crate::term::clean_line(&v.to_string()).into_owned(),
    }
}

/// The SaaS users Oomnitza holds for this integration's app
/// (`GET /api/v3/saas_users`, read-only, 100 a page).
pub async fn saas(State(c): Shared, Query(q): Query<SaasQuery>) -> Response {
    const COLUMNS: [(&str, &str); 7] = [
        ("sync_key", "Sync key"),
        ("name", "Name"),
        ("email", "Email"),
        ("role", "Role"),
        ("status", "Status"),
        ("saas_user_id", "SaaS user id"),
        ("user_id", "User id"),
    ];
    let config = match Config::load(&c.config_path) {
        Ok(x) => x,
        Err(e) => return error_page(&c, "/saas", &e),
    };
    let Some(saas) = config.saas.clone() else {
        return layout(
            &c,
            "/saas",
            "SaaS users",
            html! { p.notice data-saas="none" { "This integration has no [saas] table (integration.mode = \"user-only\"): it syncs users only, so Oomnitza holds no SaaS users for it." } },
        );
    };
    let status = q
        .status
        .clone()
        .filter(|s| s == "active" || s == "inactive");
    let page = q.page.unwrap_or(0);
    let listed = async {
        let mut missing = vec![];
        let token = crate::integration::load_secret(
            &config,
            "oomnitza.token",
            config.oomnitza.token.as_ref(),
            &mut missing,
        )
        .ok_or_else(|| anyhow::anyhow!("{}", missing.join("; ")))?;
        let client = crate::oomnitza::OomnitzaClient::new(
            &config.oomnitza.url,
            &token,
            config.limits.max_retries + 1,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut filter = format!("selected_saas_id eq '{}'", saas.saas_id.replace('\'', "''"));
        if let Some(s) = &status {
            filter.push_str(&format!(" and status eq '{s}'"));
        }
        client
            .list_saas_users(&filter, PAGE as u32, page * PAGE)
            .await
            .map_err(|e| anyhow::anyhow!("listing SaaS users: {e}"))
    }
    .await;
    let (users, total) = match listed {
        Ok(x) => x,
        Err(e) => return error_page(&c, "/saas", &e),
    };
    let link = |p: u64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(st) = &status {
            s.append_pair("status", st);
        }
        s.append_pair("page", &p.to_string());
        format!("/saas?{}", s.finish())
    };
    layout(
        &c,
        "/saas",
        "SaaS users",
        html! {
            p.muted { "What Oomnitza holds for the SaaS app " code { (saas.saas_id) } " (" (saas.app_name(&config.integration.name)) "), read live with GET /api/v3/saas_users; read-only." }
            form.filters method="get" action="/saas" {
                label { "Status" select name="status" {
                    option value="" { "any" }
                    @for s in ["active", "inactive"] { option value=(s) selected[status.as_deref() == Some(s)] { (s) } }
                } }
                button type="submit" { "Filter" }
            }
            p.muted data-total=(total) { (total) " SaaS users; page " (page + 1) " of " (total.div_ceil(PAGE).max(1)) }
            table.data id="saas-users" {
                thead { tr { @for (_, label) in COLUMNS { th { (label) } } } }
                tbody { @for u in &users { tr data-saas-user=(saas_text(u, "saas_user_id")) {
                    @for (key, _) in COLUMNS {
                        @if key == "status" { td { span.badge data-status=(saas_text(u, key)) { (saas_text(u, key)) } } }
                        @else { td { (saas_text(u, key)) } }
                    }
                } } }
            }
            div.pager {
                @if page > 0 { a href=(link(page - 1)) { "← previous" } }
                @if (page + 1) * PAGE < total { a href=(link(page + 1)) { "next →" } }
            }
        },
    )
}

pub async fn report(State(c): Shared) -> Response {
    match load(&c).and_then(|(config, db)| gather(&db, &config)) {
        Ok(d) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report::render(&d),
        )
            .into_response(),
        Err(e) => error_page(&c, "/report", &e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn start_sync(
    State(c): Shared,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(why) = c.check_post(&headers, &form.csrf) {
        return refused(why);
    }
    {
        let Ok(mut s) = c.sync.lock() else {
            return refused("the console's state is poisoned");
        };
        if s.running {
            return Redirect::to("/").into_response();
        }
        s.running = true;
    }
    let console = c.clone();
    tokio::spawn(async move {
        let outcome = async {
            let config = Config::load(&console.config_path)?;
            let integration = crate::integration::Integration::prepare(config).await?;
            let report = crate::sync::run(&integration, &Default::default()).await?;
            anyhow::Ok(format!(
                "last sync from the console: {} ({} fetched, {} sent{})",
                if report.succeeded() {
                    "succeeded"
                } else {
                    "failed"
                },
                report.fetched,
                report.sent,
                report.error.map(|e| format!("; {e}")).unwrap_or_default()
            ))
        }
        .await;
        if let Ok(mut s) = console.sync.lock() {
            s.running = false;
            s.last = Some(match outcome {
                Ok(m) => m,
                Err(e) => format!("last sync from the console could not start: {e:#}"),
            });
        }
    });
    Redirect::to("/runs").into_response()
}

// ---- Mapping ----

/// Sample members: the first page of the real team, fetched through the
/// sandboxed component (`fetch`), a few rows.
async fn samples(
    config: &Config,
) -> Result<(
    crate::integration::Integration,
    Vec<crate::bindings::SourceRecord>,
)> {
    // A draft mapping must not stop us from looking at real values: the
    // samples are fetched with the smart mapping and a placeholder role
    // (nothing is sent anywhere but Dropbox's listing).
    let mut probe = config.clone();
    probe.mapping = None;
    probe.oomnitza.role = Some(probe.oomnitza.role.unwrap_or(0));
    let integration = crate::integration::Integration::prepare(probe).await?;
    let mut inst = integration.instance().await?;
    let req = crate::bindings::FetchRequest {
        kind: crate::bindings::RecordKind::Users,
        cursor: None,
        page_size: 5,
        options: integration.fetch_options.clone(),
        sync_time: crate::clock::now(),
        read_ahead: false,
    };
    let page = inst
        .fetch(&req)
        .await?
        .map_err(|e| anyhow::anyhow!(crate::integration::describe_error(&e)))?;
    Ok((integration, page.records))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(s) | Value::Timestamp(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::TextList(l) => l.join(", "),
    }
}

fn source_text(s: &RuleSource) -> String {
    match s {
        RuleSource::Field(f) => f.clone(),
        RuleSource::Constant(v) => format!("constant {}", value_text(v)),
        RuleSource::FirstOf(l) => format!("first of {}", l.join(", ")),
        RuleSource::Template(t) => format!("template {t}"),
    }
}

/// The mapping form: the rules being edited travel as JSON in a hidden
/// field (the base), and the visible inputs rename, drop or add.
#[derive(Debug, Default, serde::Deserialize)]
pub struct MappingForm {
    #[serde(default)]
    csrf: String,
    /// `smart`, `preview` or `save`.
    #[serde(default)]
    op: String,
    #[serde(default)]
    base: String,
    #[serde(default)]
    sync_key: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    new_target: String,
    #[serde(default)]
    new_field: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

/// The operator's spec (without the role rule the host adds), or the
/// smart mapping without its role.
fn editable_spec(config: &Config, manifest: &Manifest) -> MappingSpec {
    match &config.mapping {
        Some(m) => m.to_spec().unwrap_or_else(|_| smart(manifest)),
        None => smart(manifest),
    }
}

fn smart(manifest: &Manifest) -> MappingSpec {
    let mut s = manifest.default_mapping.clone();
    s.rules.retain(|r| r.target != "PERMISSIONS_ID");
    s
}

fn apply_form(form: &MappingForm, base: MappingSpec) -> MappingSpec {
    let mut spec = base;
    let mut rules = Vec::new();
    for (i, mut r) in spec.rules.drain(..).enumerate() {
        if form.rest.contains_key(&format!("drop_{i}")) {
            continue;
        }
        if let Some(t) = form.rest.get(&format!("target_{i}")).map(|t| t.trim())
            && !t.is_empty()
        {
            r.target = t.to_owned();
        }
        if let Some(f) = form.rest.get(&format!("field_{i}")).map(|f| f.trim())
            && !f.is_empty()
            && matches!(r.source, RuleSource::Field(_))
        {
            r.source = RuleSource::Field(f.to_owned());
        }
        if r.target == "USER" || r.target == "EMAIL" {
            r.required = true;
        }
        rules.push(r);
    }
    if !form.new_target.trim().is_empty() && !form.new_field.trim().is_empty() {
        rules.push(MappingRule {
            target: form.new_target.trim().to_owned(),
            source: RuleSource::Field(form.new_field.trim().to_owned()),
            transforms: vec![],
            required: false,
        });
    }
    spec.rules = rules;
    let keys: Vec<String> = form
        .sync_key
        .split(',')
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    if !keys.is_empty() {
        spec.sync_key = keys;
    }
    spec
}

pub async fn mapping(State(c): Shared) -> Response {
    mapping_page(&c, None, None, "").await
}

pub async fn mapping_post(
    State(c): Shared,
    headers: HeaderMap,
    Form(form): Form<MappingForm>,
) -> Response {
    if let Err(why) = c.check_post(&headers, &form.csrf) {
        return refused(why);
    }
    let config = match Config::load(&c.config_path) {
        Ok(x) => x,
        Err(e) => return error_page(&c, "/mapping", &e),
    };
    let manifest = match crate::integration::load_manifest(&config).await {
        Ok((_, _, m)) => m,
        Err(e) => return error_page(&c, "/mapping", &e),
    };
    let base: MappingSpec = match serde_json::from_str::<SpecJson>(&form.base) {
        Ok(s) => s.into_spec(),
        Err(_) => editable_spec(&config, &manifest),
    };
    let role = form.role.trim().parse::<i64>().ok();
    match form.op.as_str() {
        "smart" => {
            mapping_page(
                &c,
                Some(smart(&manifest)),
                role,
                "Smart Mapping applied: review, rename, then save.",
            )
            .await
        }
        "save" => {
            let spec = apply_form(&form, base);
            if let Err(e) = super::save_mapping(&c.config_path, &spec, role) {
                return error_page(&c, "/mapping", &e);
            }
            mapping_page(&c, None, None, "saved").await
        }
        _ => {
            let spec = apply_form(&form, base);
            mapping_page(
                &c,
                Some(spec),
                role,
                "Preview of the edited mapping (not saved yet).",
            )
            .await
        }
    }
}

/// A spec as JSON for the form's hidden field (the WIT types carry no
/// serde; this mirrors them).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SpecJson {
    toml: String,
}

impl SpecJson {
    fn of(spec: &MappingSpec) -> SpecJson {
        let mut doc = toml_edit::DocumentMut::new();
        doc.insert(
            "mapping",
            toml_edit::Item::Table(super::mapping_table(spec)),
        );
        SpecJson {
            toml: doc.to_string(),
        }
    }

    fn into_spec(self) -> MappingSpec {
        #[derive(serde::Deserialize)]
        struct Wrap {
            mapping: crate::config::MappingConfig,
        }
        toml::from_str::<Wrap>(&self.toml)
            .ok()
            .and_then(|w| w.mapping.to_spec().ok())
            .unwrap_or(MappingSpec {
                rules: vec![],
                filters: vec![],
                sync_key: vec![],
            })
    }
}

async fn mapping_page(
    c: &Arc<Console>,
    editing: Option<MappingSpec>,
    role: Option<i64>,
    message: &str,
) -> Response {
    let config = match Config::load(&c.config_path) {
        Ok(x) => x,
        Err(e) => return error_page(c, "/mapping", &e),
    };
    let chk = check(&config).await;
    let Some(manifest) = chk.manifest.clone() else {
        return error_page(c, "/mapping", &anyhow::anyhow!(chk.gaps.join("; ")));
    };
    let spec = editing.unwrap_or_else(|| editable_spec(&config, &manifest));
    let role = role.or(config.oomnitza.role);
    let sampled = samples(&config).await;
    // The preview: the samples mapped with the spec being edited, as the
    // values Oomnitza would receive (a role rule added as the sync would).
    let preview = match &sampled {
        Ok((integration, records)) => {
            let mut run_spec = spec.clone();
            if let Some(r) = role {
                run_spec.rules.push(MappingRule {
                    target: "PERMISSIONS_ID".into(),
                    source: RuleSource::Constant(Value::Integer(r)),
                    transforms: vec![],
                    required: false,
                });
            }
            match integration.instance().await {
                Ok(mut inst) => match inst.map(&run_spec, records).await {
                    Ok(Ok(outcomes)) => Ok((run_spec, outcomes)),
                    Ok(Err(e)) => Err(crate::integration::describe_error(&e)),
                    Err(e) => Err(format!("{e:#}")),
                },
                Err(e) => Err(format!("{e:#}")),
            }
        }
        Err(e) => Err(format!("{e:#}")),
    };
    let records: &[crate::bindings::SourceRecord] = match &sampled {
        Ok((_, r)) => r,
        Err(_) => &[],
    };
    let saved = message == "saved";
    layout(
        c,
        "/mapping",
        "Mapping",
        html! {
            @if saved {
                @if chk.gaps.is_empty() {
                    p.ok data-launch="pass" { "Saved to " (c.config_path.display()) ". Launch check: passed — the integration is launched." }
                } @else {
                    div.notice data-launch="fail" { "Saved to " (c.config_path.display()) ". Launch check: still a draft:" ul.gaps { @for g in &chk.gaps { li { (g) } } } }
                }
            } @else if !message.is_empty() {
                p.notice { (message) }
            }
            @if let Err(e) = &sampled { p.error { "Live sample values are unavailable: " (e) } }
            h2 { "Field catalog and live sample values" }
            table.data id="catalog" {
                thead { tr { th { "Field" } th { "Label" } th { "Type" } @for r in records.iter().take(3) { th { "Sample " (r.id.chars().take(12).collect::<String>()) } } } }
                tbody {
                    @for (i, f) in manifest.fields.iter().enumerate() {
                        tr data-field=(f.name) {
                            td.nowrap { code { (f.name) } @if f.unique { " (unique)" } }
                            td { (f.label) }
                            td.nowrap { (format!("{:?}", f.type_).to_lowercase().trim_start_matches("valuetype::")) }
                            @for r in records.iter().take(3) { td { (report::t(&r.values.get(i).map(value_text).unwrap_or_default())) } }
                        }
                    }
                }
            }
            h2 { "Rules" }
            form.stack method="post" action="/mapping" {
                (csrf_field(c))
                input type="hidden" name="base" value=(serde_json::to_string(&SpecJson::of(&spec)).unwrap_or_default());
                table.data id="rules" {
                    thead { tr { th { "Oomnitza field (rename)" } th { "From" } th { "Required" } th { "Remove" } } }
                    tbody {
                        @for (i, r) in spec.rules.iter().enumerate() {
                            tr data-rule=(r.target) {
                                td { input type="text" name=(format!("target_{i}")) value=(r.target); }
                                td {
                                    @if let RuleSource::Field(f) = &r.source {
                                        select name=(format!("field_{i}")) {
                                            @for fi in &manifest.fields { option value=(fi.name) selected[fi.name == *f] { (fi.name) } }
                                        }
                                    } @else { code { (source_text(&r.source)) } }
                                    @if !r.transforms.is_empty() { span.muted { " + " (r.transforms.len()) " transform(s)" } }
                                }
                                td { @if r.required { "yes" } @else { "" } }
                                td { input type="checkbox" name=(format!("drop_{i}")) value="1"; }
                            }
                        }
                        tr {
                            td { input type="text" name="new_target" placeholder="new custom field, e.g. team_role"; }
                            td { select name="new_field" { option value="" { "—" } @for fi in &manifest.fields { option value=(fi.name) { (fi.name) } } } }
                            td {} td {}
                        }
                    }
                }
                p {
                    label { "Sync key (Oomnitza fields, comma-separated) " input type="text" name="sync_key" value=(spec.sync_key.join(", ")); }
                    " "
                    label { "Oomnitza role (PERMISSIONS_ID) for synced users " input type="number" name="role" value=(role.map(|r| r.to_string()).unwrap_or_default()); }
                }
                @if !spec.filters.is_empty() {
                    p.muted { "Filters: " @for f in &spec.filters { code { (f.field) } " (" (format!("{:?}", f.effect).to_lowercase()) ") " } }
                }
                p {
                    button.secondary type="submit" name="op" value="smart" { "Smart Mapping" } " "
                    button.secondary type="submit" name="op" value="preview" { "Preview" } " "
                    button type="submit" name="op" value="save" { "Save and run the launch check" }
                }
            }
            h2 { "Preview: the first records as Oomnitza will receive them" }
            @match &preview {
                Err(e) => { p.error { (e) } }
                Ok((run_spec, outcomes)) => {
                    table.data id="preview" {
                        thead { tr { @for r in &run_spec.rules { th { (r.target) } } } }
                        tbody {
                            @for o in outcomes {
                                @match o {
                                    MapOutcome::Mapped(m) => { tr { @for v in &m.values { td { (report::t(&value_text(v))) } } } }
                                    MapOutcome::Failed(f) => { tr { td colspan=(run_spec.rules.len()) { "fails to map: " (f.reason) } } }
                                    MapOutcome::Filtered(why) => { tr { td colspan=(run_spec.rules.len()) { span.muted { "filtered out: " (why) } } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

// ---- Actions ----

#[derive(Debug, Default, serde::Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    workflow: String,
    /// `name=value` lines.
    #[serde(default)]
    params: String,
    /// `run` to execute; anything else is a dry run.
    #[serde(default)]
    op: String,
    /// The explicit confirmation of destructive steps.
    #[serde(default)]
    confirm: String,
}

pub async fn actions(State(c): Shared) -> Response {
    actions_page(&c, &ActionForm::default(), html! {}).await
}

async fn actions_page(c: &Arc<Console>, form: &ActionForm, result: Markup) -> Response {
    let config = match Config::load(&c.config_path) {
        Ok(x) => x,
        Err(e) => return error_page(c, "/actions", &e),
    };
    let manifest = crate::integration::load_manifest(&config)
        .await
        .ok()
        .map(|(_, _, m)| m);
    layout(
        c,
        "/actions",
        "Actions & workflows",
        html! {
            (result)
            h2 { "Run an action" }
            form.stack method="post" action="/actions" {
                (csrf_field(c))
                p {
                    label { "Action " select name="action" {
                        @if let Some(m) = &manifest { @for a in &m.actions { option value=(a.name) selected[a.name == form.action] { (a.name) " — " (a.label) } } }
                    } }
                    " "
                    label { "Member email " input type="email" name="user" value=(form.user); }
                }
                p { label { "Parameters (name=value, one a line) " textarea name="params" rows="3" cols="50" { (form.params) } } }
                p { label { input type="checkbox" name="confirm" value="yes"; " I confirm the destructive steps of this plan" } }
                p {
                    button.secondary type="submit" name="op" value="plan" { "Dry run: show the plan" } " "
                    button.danger type="submit" name="op" value="run" { "Run" }
                }
            }
            h2 { "Workflows" }
            @if config.workflows.is_empty() { p.muted { "No workflows configured." } }
            @for w in &config.workflows {
                form.stack method="post" action="/actions" {
                    (csrf_field(c))
                    input type="hidden" name="workflow" value=(w.name);
                    p { strong { (w.name) } " — when " code { (w.trigger_text()) } " " (w.description) }
                    p {
                        label { input type="checkbox" name="confirm" value="yes"; " confirm destructive steps" } " "
                        button.secondary type="submit" name="op" value="plan" { "Dry run" } " "
                        button.danger type="submit" name="op" value="run" { "Run" }
                    }
                }
            }
        },
    )
}

pub async fn actions_post(
    State(c): Shared,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(why) = c.check_post(&headers, &form.csrf) {
        return refused(why);
    }
    // Planning and running hold the state database across awaits (not
    // `Sync`): on a blocking thread of its own, driven by this runtime.
    let (console, f) = (c.clone(), form);
    let handle = tokio::runtime::Handle::current();
    let joined = tokio::task::spawn_blocking(move || {
        let r = handle.block_on(run_action(&console, &f));
        (r, f)
    })
    .await;
    let (markup, form) = match joined {
        Ok((Ok(m), f)) => (m, f),
        Ok((Err(e), f)) => (
            html! { p.error data-result="error" { (format!("{e:#}")) } },
            f,
        ),
        Err(e) => (
            html! { p.error data-result="error" { (e.to_string()) } },
            ActionForm::default(),
        ),
    };
    actions_page(&c, &form, markup).await
}

async fn run_action(c: &Console, form: &ActionForm) -> Result<Markup> {
    let config = Config::load(&c.config_path)?;
    let workflow = (!form.workflow.is_empty())
        .then(|| {
            config
                .workflows
                .iter()
                .find(|w| w.name == form.workflow)
                .cloned()
        })
        .flatten();
    let integration = crate::integration::Integration::prepare(config).await?;
    let db = StateDb::open(&integration.config.resolve(&integration.config.state.path))?;
    let plan = match &workflow {
        Some(w) => {
            let token = integration
                .oomnitza_token
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no Oomnitza token configured"))?;
            let client = crate::oomnitza::OomnitzaClient::new(
                &integration.config.oomnitza.url,
                token,
                integration.config.limits.max_retries + 1,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            crate::workflow::plan_workflow(&integration, w, &client, &db).await?
        }
        None => {
            let params: Vec<(String, String)> = form
                .params
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let users: Vec<String> = form
                .user
                .split([',', '\n'])
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect();
            crate::workflow::plan_action(&integration, &form.action, &users, &params).await?
        }
    };
    let plan_text = crate::workflow::render_plan(&plan);
    // The host's judgement ([actions] safe), never the component's flag.
    let destructive = plan.steps_to_confirm() > 0;
    // The blast-radius cap holds here as on the command line: the console
    // offers no way around it.
    if let Some(why) = plan.over_cap(None) {
        return Ok(
            html! { h2 { "Plan" } pre data-plan="" { (plan_text) } p.error data-result="over-cap" { (why) } },
        );
    }
    let plan_html = html! { h2 { "Plan" } pre data-plan="" { (plan_text) } };
    if form.op != "run" {
        return Ok(
            html! { (plan_html) p.notice data-result="dry-run" { "Dry run: nothing was changed." @if destructive { " The plan has destructive steps: tick the confirmation to run it." } } },
        );
    }
    if destructive && form.confirm != "yes" {
        return Ok(
            html! { (plan_html) p.error data-result="needs-confirmation" { "Not run: the plan has destructive steps and the confirmation was not ticked." } },
        );
    }
    let done = crate::workflow::execute(
        &integration,
        &plan,
        &db,
        &crate::workflow::ExecuteOptions::default(),
        &mut |_| {},
    )
    .await?;
    Ok(html! {
        (plan_html)
        p.(if done.failed == 0 { "ok" } else { "error" }) data-result="executed" {
            (done.done) " done, " (done.unchanged) " unchanged, " (done.failed) " failed, " (done.not_run) " not run, " (done.skipped) " skipped (recorded in the "
            a href="/audit" { "audit log" } ")."
        }
    })
}
