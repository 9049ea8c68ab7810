//! The team snapshot, the report and the web console, end to end: a real
//! sync into the real state database, the report's numbers against the
//! fake team, and the console's refusals over real HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connector_fakes::{DropboxFault, MemberStatus, Role, Team};

use crate::support::World;

pub(crate) const XSS: &str = "<img src=x onerror=alert(1)>";
const ANSI: &str = "\u{1b}[31mRED\u{1b}]0;pwned\u{7}";

/// A team whose first member is an admin with a hostile name.
pub(crate) fn hostile_team(n: usize) -> Team {
    let mut team = Team::generate(n, 42);
    let mut m = team.member(0);
    m.name.given_name = XSS.into();
    m.name.surname = ANSI.into();
    m.status = MemberStatus::Active;
    m.roles = vec![Role::team_admin()];
    team.set_member(0, m);
    team
}

/// The number in `<td class="num" data-count="VALUE">N</td>` of `chart`.
pub(crate) fn count(html: &str, chart: &str, value: &str) -> u64 {
    let start = html
        .find(&format!("data-chart=\"{chart}\""))
        .unwrap_or_else(|| panic!("no chart {chart}"));
    let fig = &html[start..start + html[start..].find("</figure>").expect("figure ends")];
    let needle = format!("data-count=\"{value}\">");
    let Some(at) = fig.find(&needle) else {
        return 0;
    };
    let rest = &fig[at + needle.len()..];
    rest[..rest.find('<').expect("cell ends")]
        .parse()
        .expect("a number")
}

#[test]
fn the_report_counts_the_fake_team_and_escapes_hostile_names() {
    let team = hostile_team(240);
    let world = World::with_team(team.clone());
    world.run(&["sync"]).assert_ok();
    let out = world.dir.path().join("report.html");
    world
        .run(&["report", "--out", out.to_str().expect("utf-8 path")])
        .assert_ok();
    let html = std::fs::read_to_string(&out).expect("report written");

    // The demo config lists removed members too (`include_removed`).
    let listed: Vec<_> = team.members().collect();
    for chart in [
        "status",
        "membership_type",
        "roles",
        "seats",
        "joins",
        "runs",
    ] {
        assert!(
            html.contains(&format!("data-chart=\"{chart}\"")),
            "chart {chart} missing"
        );
    }
    for status in ["active", "invited", "suspended"] {
        let want = listed.iter().filter(|m| m.status.tag() == status).count() as u64;
        assert_eq!(count(&html, "status", status), want, "status {status}");
    }
    for ty in ["full", "limited"] {
        let want = listed
            .iter()
            .filter(|m| m.membership_type.tag() == ty)
            .count() as u64;
        assert_eq!(
            count(&html, "membership_type", ty),
            want,
            "type {ty}: listed {}, report {} full {} limited",
            listed.len(),
            count(&html, "membership_type", "full"),
            count(&html, "membership_type", "limited")
        );
    }
    let plain = listed.iter().filter(|m| m.roles.is_empty()).count() as u64;
    assert_eq!(count(&html, "roles", "member"), plain);
    assert!(plain < listed.len() as u64, "the team has admins");
    let provisioned = listed
        .iter()
        .filter(|m| !matches!(m.status, MemberStatus::Removed { .. }))
        .count() as u64;
    assert_eq!(count(&html, "seats", "provisioned"), provisioned);

    // Self-contained: no script, no external reference.
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("http://") && !html.contains("https://") || {
            // Only the SVG namespace may appear.
            html.replace("http://www.w3.org/2000/svg", "")
                .find("://")
                .is_none()
        }
    );
    // The hostile name is text, not markup, and no escape reaches the file.
    assert!(!html.contains(XSS), "raw markup from Dropbox");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "escaped name shown"
    );
    assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'));
    assert!(html.contains("\\x1b[31mRED"), "escape shown visibly");

    // The list views as JSON and CSV.
    let runs = world.run(&["runs", "--json"]);
    runs.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).expect("runs JSON");
    assert_eq!(v[0]["fetched"], listed.len() as u64);
    let csv = world.run(&["runs", "--csv", "--status", "succeeded"]);
    csv.assert_ok();
    assert!(csv.stdout.starts_with("id,started_at,"), "{}", csv.stdout);
    assert_eq!(csv.stdout.lines().count(), 2);
    let dir = world.dir.path().join("csv");
    world
        .run(&[
            "report",
            "--csv",
            dir.to_str().expect("utf-8"),
            "--status",
            "suspended",
        ])
        .assert_ok();
    let members = std::fs::read_to_string(dir.join("members.csv")).expect("members.csv");
    let suspended = listed
        .iter()
        .filter(|m| m.status.tag() == "suspended")
        .count();
    assert_eq!(members.lines().count(), suspended + 1);
    let audit = world.run(&["audit", "--json"]);
    audit.assert_ok();
    assert_eq!(audit.stdout.trim(), "[]");
}

/// One HTTP/1.1 exchange over a fresh connection.
fn http(addr: &str, req: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_owned(), body.to_owned())
}

pub(crate) fn get(addr: &str, path: &str, cookie: &str) -> (u16, String, String) {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn post(addr: &str, path: &str, cookie: &str, origin: Option<&str>, body: &str) -> (u16, String) {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let (code, _, text) = http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n{origin}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    (code, text)
}

pub(crate) struct Console {
    child: Child,
    pub addr: String,
    pub token: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_console(world: &World) -> Console {
    let config = world.write_config();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oomnitza-connect"))
        .args(["--config", config.to_str().expect("utf-8")])
        .args(["console", "--exit-after", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("console starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let url = line
        .trim()
        .strip_prefix("console: ")
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    let rest = url.strip_prefix("http://").expect("http URL");
    let (addr, token) = rest.split_once("/?token=").expect("token in URL");
    assert!(
        addr.starts_with("127.0.0.1:"),
        "loopback by default: {addr}"
    );
    Console {
        child,
        addr: addr.to_owned(),
        token: token.to_owned(),
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + page[at..].find('"').expect("ends")].to_owned()
}

#[test]
fn the_console_needs_its_token_csrf_and_origin_and_saves_the_mapping() {
    let team = hostile_team(120);
    let world = World::with_team(team.clone());
    world.run(&["sync"]).assert_ok();
    let original = std::fs::read_to_string(world.config_path()).expect("config");
    let c = start_console(&world);
    let addr = c.addr.as_str();
    let origin = format!("http://{addr}");

    // No token, a wrong one, a foreign Host: refused.
    assert_eq!(get(addr, "/", "").0, 401);
    assert_eq!(get(addr, "/?token=wrong", "").0, 403);
    let (code, _, _) = http(
        addr,
        &format!(
            "GET /?token={} HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
            c.token
        ),
    );
    assert_eq!(code, 403, "DNS rebinding: unknown Host");
    // The token becomes an HttpOnly cookie.
    let (code, head, _) = get(addr, &format!("/?token={}", c.token), "");
    assert_eq!(code, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"));
    let cookie = cookie_line["set-cookie:".len()..]
        .trim()
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();

    // Pages: a strict CSP, escaped values.
    let (code, head, page) = get(addr, "/dashboard", &cookie);
    assert_eq!(code, 200);
    let csp = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-security-policy:")
        })
        .expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("http"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "no script allowed at all");
    // `no-referrer` would make browsers send `Origin: null` with the forms.
    assert!(
        head.to_ascii_lowercase()
            .contains("referrer-policy: same-origin"),
        "{head}"
    );
    assert!(!page.contains(XSS) && !page.contains('\u{1b}'));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let (code, _, members) = get(addr, "/members?status=active&page=0", &cookie);
    assert_eq!(code, 200);
    assert!(members.contains("data-total="));

    // State changes need the CSRF token and this Origin.
    let (_, _, overview) = get(addr, "/", &cookie);
    let csrf = csrf_of(&overview);
    assert_eq!(
        post(addr, "/sync", &cookie, Some(&origin), "csrf=wrong").0,
        403
    );
    assert_eq!(
        post(
            addr,
            "/sync",
            &cookie,
            Some("http://evil.example"),
            &format!("csrf={csrf}")
        )
        .0,
        403
    );
    assert_eq!(
        post(addr, "/sync", &cookie, None, &format!("csrf={csrf}")).0,
        403
    );
    assert_eq!(
        post(addr, "/sync", "", Some(&origin), &format!("csrf={csrf}")).0,
        401
    );

    // Mapping: Smart Mapping, rename a custom field, save, launch check.
    let (code, smart) = post(
        addr,
        "/mapping",
        &cookie,
        Some(&origin),
        &format!("csrf={csrf}&op=smart&role=25"),
    );
    assert_eq!(code, 200);
    assert!(smart.contains("Smart Mapping applied"));
    assert!(smart.contains("id=\"preview\""), "a preview of the records");
    let at = smart
        .find("value=\"dropbox_status\"")
        .expect("the smart mapping has dropbox_status");
    let name_at = smart[..at].rfind("name=\"target_").expect("its input") + 6;
    let field = &smart[name_at..name_at + smart[name_at..].find('"').expect("ends")];
    let base_at = smart.find("name=\"base\" value=\"").expect("base") + 19;
    let base = &smart[base_at..base_at + smart[base_at..].find('"').expect("ends")];
    let base = base
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("op", "save")
        .append_pair("role", "25")
        .append_pair("base", &base)
        .append_pair(field, "dropbox_member_status")
        .finish();
    let (code, saved) = post(addr, "/mapping", &cookie, Some(&origin), &body);
    assert_eq!(code, 200);
    assert!(
        saved.contains("data-launch=\"pass\""),
        "launch check passes: {}",
        &saved[saved.find("<main>").unwrap_or(0)..][..3000.min(saved.len())]
    );
    let after = std::fs::read_to_string(world.config_path()).expect("config");
    assert!(
        after.contains("target = \"dropbox_member_status\""),
        "{after}"
    );
    let head_before: Vec<&str> = original.lines().take(5).collect();
    let head_after: Vec<&str> = after.lines().take(5).collect();
    assert_eq!(head_before, head_after, "comments and layout kept");
    world.run(&["validate"]).assert_ok();

    // A sync from the console appears in the runs.
    let (code, _) = post(
        addr,
        "/sync",
        &cookie,
        Some(&origin),
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 303);
    let mut runs = String::new();
    for _ in 0..100 {
        runs = get(addr, "/runs", &cookie).2;
        if runs.matches("data-run=").count() >= 2 && !runs.contains("data-status=\"running\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(runs.matches("data-run=").count() >= 2, "{runs}");
    assert!(runs.contains("data-chart=\"runs\""));

    // Actions: a dry run changes nothing; a destructive one needs the tick.
    let email = team
        .members()
        .find(|m| m.status.tag() == "active" && m.roles.is_empty())
        .expect("an active member")
        .email;
    let action = |op: &str, confirm: bool| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("csrf", &csrf)
            .append_pair("action", "deactivate-user")
            .append_pair("user", &email)
            .append_pair("params", "wipe-data=false")
            .append_pair("op", op);
        if confirm {
            s.append_pair("confirm", "yes");
        }
        post(addr, "/actions", &cookie, Some(&origin), &s.finish())
    };
    let (_, dry) = action("plan", false);
    assert!(dry.contains("data-result=\"dry-run\""), "{dry}");
    let (_, unconfirmed) = action("run", false);
    assert!(unconfirmed.contains("data-result=\"needs-confirmation\""));
    let (_, done) = action("run", true);
    assert!(done.contains("data-result=\"executed\""), "{done}");
    let (_, _, audit) = get(addr, "/audit", &cookie);
    assert!(audit.contains("deactivate-user"));
    let (code, _, report) = get(addr, "/report", &cookie);
    assert_eq!(code, 200);
    assert!(report.contains("data-chart=\"status\""));
}

/// The session cookie of a console, from its token.
pub(crate) fn session(c: &Console) -> String {
    let (code, head, _) = get(&c.addr, &format!("/?token={}", c.token), "");
    assert_eq!(code, 303, "{head}");
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l["set-cookie:".len()..].trim().split(';').next())
        .expect("a cookie")
        .to_owned()
}

#[test]
fn the_console_lists_the_saas_users_oomnitza_holds_read_only_and_escaped() {
    let mut world = World::with_team(hostile_team(130));
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append("\n[saas]\nsaas_id = \"dbx\"\n");
    world.run(&["sync"]).assert_ok();
    let held = world.oomnitza.saas_users();
    assert!(held.len() > 100, "more than a page: {}", held.len());
    let c = start_console(&world);
    let cookie = session(&c);

    let (code, _, page) = get(&c.addr, "/saas", &cookie);
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("data-total=\"{}\"", held.len())),
        "{page}"
    );
    assert_eq!(page.matches("data-saas-user=").count(), 100, "a page");
    let (_, _, second) = get(&c.addr, "/saas?page=1", &cookie);
    assert_eq!(second.matches("data-saas-user=").count(), held.len() - 100);
    // Every value is escaped; control characters are visible escapes.
    for p in [&page, &second] {
        assert!(!p.contains(XSS) && !p.contains('\u{1b}'));
    }
    // The hostile member (the first) is listed by its key, its values as
    // Oomnitza holds them, escaped.
    let key = hostile_team(130).member(0).email.to_lowercase();
    let hostile = held
        .iter()
        .find(|u| u["sync_key"] == key.as_str())
        .expect("the hostile member's SaaS user");
    let id = hostile["saas_user_id"].as_str().expect("an id");
    let both = format!("{page}{second}");
    let row = &both[both
        .find(&format!("data-saas-user=\"{id}\""))
        .expect("its row")..];
    let row = &row[..row.find("</tr>").expect("row ends")];
    let name = hostile["name"].as_str().unwrap_or_default();
    let escaped = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(row.contains(&key), "{row}");
    assert!(row.contains(&escaped), "{name:?} in {row}");
    // Read-only: no form posts from this page, and POST is not a route.
    assert!(!page.contains("method=\"post\""));
    let (code, _) = post(
        &c.addr,
        "/saas",
        &cookie,
        Some(&format!("http://{}", c.addr)),
        "csrf=x",
    );
    assert_eq!(code, 405);
    // A filter reaches Oomnitza's query.
    let (_, _, inactive) = get(&c.addr, "/saas?status=inactive", &cookie);
    assert!(inactive.contains("data-total=\"0\""), "{inactive}");
}

#[test]
fn the_saas_page_says_when_the_integration_syncs_users_only() {
    let world = World::new(5);
    world.run(&["sync"]).assert_ok();
    let c = start_console(&world);
    let cookie = session(&c);
    let (code, _, page) = get(&c.addr, "/saas", &cookie);
    assert_eq!(code, 200);
    assert!(page.contains("data-saas=\"none\""), "{page}");
}

/// `[state] team_snapshot = false`: a real sync keeps no member rows and
/// drops those kept before (the views show no team, not an old one); the
/// run history stays.
#[test]
fn a_sync_without_the_team_snapshot_keeps_no_members() {
    let team = Team::generate(30, 7);
    let mut world = World::with_team(team.clone());
    world.run(&["sync"]).assert_ok();
    let csv_members = |world: &World, name: &str| -> usize {
        let dir = world.dir.path().join(name);
        world
            .run(&["report", "--csv", dir.to_str().expect("utf-8")])
            .assert_ok();
        let text = std::fs::read_to_string(dir.join("members.csv")).expect("members.csv");
        text.lines().count() - 1
    };
    assert_eq!(csv_members(&world, "on"), team.members().count());

    world.append("\n[state]\nteam_snapshot = false\n");
    world.run(&["sync", "--full"]).assert_ok();
    assert_eq!(csv_members(&world, "off"), 0, "the old rows are gone");
    let runs = world.run(&["runs", "--json"]);
    runs.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).expect("runs JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "both runs kept");
    assert!(world.oomnitza.user_count() > 0, "the syncs themselves ran");
}

/// The member ids of the current snapshot, from `report --csv`.
fn csv_member_ids(world: &World, name: &str) -> Vec<String> {
    let dir = world.dir.path().join(name);
    world
        .run(&["report", "--csv", dir.to_str().expect("utf-8")])
        .assert_ok();
    let mut reader = csv::Reader::from_path(dir.join("members.csv")).expect("members.csv");
    let id = reader
        .headers()
        .expect("a header")
        .iter()
        .position(|h| h == "id")
        .expect("an id column");
    reader
        .records()
        .map(|r| r.expect("a CSV row")[id].to_owned())
        .collect()
}

/// The views show the last complete listing, whatever happens to the next:
/// a listing that fails after its first page leaves the team as the last
/// complete sync saw it (not half of a new one); the run that resumes it
/// keeps every member exactly once; and a team emptied at the vendor shows
/// as empty, with the earlier runs still in the history.
#[test]
fn the_views_follow_complete_listings_only_through_failure_resume_and_an_empty_team() {
    let team = Team::generate(2500, 11);
    let world = World::with_team(team.clone());
    world.run(&["sync"]).assert_ok();
    let all: Vec<String> = team.members().map(|m| m.team_member_id.clone()).collect();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(csv_member_ids(&world, "first")), sorted(all.clone()));

    // The first page answers, every later one fails: the listing stops
    // after its first page was committed to the new snapshot.
    world.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
    world.dropbox.inject(DropboxFault::ServerError(500), 50);
    world
        .run(&["sync", "--full"])
        .assert_fails_with("vendor unavailable");
    let runs = world.run(&["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).expect("runs JSON");
    let failed = v
        .as_array()
        .and_then(|r| r.iter().find(|r| r["status"] == "failed"))
        .unwrap_or_else(|| panic!("a failed run: {v}"));
    assert!(
        failed["fetched"].as_u64() >= Some(1000),
        "the failed run committed its first page: {failed}"
    );
    assert_eq!(
        sorted(csv_member_ids(&world, "partial")),
        sorted(all.clone()),
        "a partial listing replaced the last complete team"
    );

    // The next run resumes the portion from its checkpoint.
    world.dropbox.clear_faults();
    world.run(&["sync"]).assert_ok();
    let resumed = csv_member_ids(&world, "resumed");
    assert_eq!(resumed.len(), all.len(), "each member once");
    assert_eq!(sorted(resumed), sorted(all));

    world.dropbox.update_team(|t| *t = Team::generate(0, 11));
    world.run(&["sync"]).assert_ok();
    assert!(csv_member_ids(&world, "empty").is_empty());
    let runs = world.run(&["runs", "--json"]);
    runs.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).expect("runs JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(4), "every run kept");
}
