//! The console and the report in a real headless browser: Chromium driven
//! over WebDriver (chromedriver, through `fantoccini`), against the real
//! binary, the real component and the fakes.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages (or
//! `CHROME_BIN` and `CHROMEDRIVER` naming other builds). Without them the
//! tests fail and say how to install them, unless `OOMNITZA_SKIP_BROWSER=1`
//! is set: then they print that they were skipped and pass.
//!
//! Screenshots go to `target/e2e-screenshots/`. The ignored test
//! `readme_screenshots` (run by `scripts/screenshots`) regenerates the
//! README's images in `docs/images/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use connector_fakes::Team;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::console::{XSS, hostile_team, start_console};
use crate::support::World;

const SKIP_VAR: &str = "OOMNITZA_SKIP_BROWSER";
const WIDTH: u32 = 1280;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Where the tests' screenshots go.
pub fn screenshot_dir() -> PathBuf {
    workspace().join("target/e2e-screenshots")
}

/// An executable: `$var` if set, else the first of `names` found in
/// `/usr/bin` or on `PATH`.
fn find_exe(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::iter::once(PathBuf::from("/usr/bin"))
        .chain(std::env::split_paths(&path))
        .collect();
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (after saying so) when the
/// browser tests are skipped. Panics with how to install them otherwise.
fn browser_paths(test: &str) -> Option<(PathBuf, PathBuf)> {
    if std::env::var(SKIP_VAR).is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("{test}: skipped ({SKIP_VAR} is set): no browser test ran");
        return None;
    }
    let chromium = find_exe(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find_exe("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => panic!(
            "{test} needs Chromium and chromedriver ({}{}missing).\n\
             Install them with:  sudo apt-get install -y chromium chromium-driver  (Debian/Ubuntu),\n\
             or point CHROME_BIN and CHROMEDRIVER at other builds.\n\
             To skip the browser tests instead, set {SKIP_VAR}=1.",
            if c.is_none() { "chromium " } else { "" },
            if d.is_none() { "chromedriver " } else { "" },
        ),
    }
}

/// A headless Chromium session, with its chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failed test the session was never closed: end the
        // browsers this chromedriver started (by their ids), then it.
        for pid in children(self.driver.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The ids of the processes whose parent is `parent` (from `/proc`).
fn children(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid ...: comm may hold spaces.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .filter(|&pid| pid > 1)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; `None` when skipped.
    pub async fn start(test: &str) -> Option<Browser> {
        let (chromium, chromedriver) = browser_paths(test)?;
        std::fs::create_dir_all(screenshot_dir()).expect("screenshot folder");
        let port = free_port();
        let log = std::fs::File::create(screenshot_dir().join(format!("{test}.chromedriver.log")))
            .expect("driver log");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("profile folder");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    // Without these Chromium calls home, and this closed
                    // network refuses it.
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={WIDTH},900"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let mut b =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match b.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!(
                    "no WebDriver session from {} within 30 s: {e} (see {})",
                    chromedriver.display(),
                    screenshot_dir()
                        .join(format!("{test}.chromedriver.log"))
                        .display()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The page's visible text (retried while a page is being replaced).
    pub async fn text(&self) -> String {
        let mut last = None;
        for _ in 0..50 {
            match self.client.find(Locator::Css("body")).await {
                Ok(body) => match body.text().await {
                    Ok(t) => return t,
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no page text: {last:?}")
    }

    /// Waits (up to 30 s) for the page's text to contain `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text().await;
            if t.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in the page:\n{t}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    /// Waits (up to 30 s) for an element, and returns it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let text = self.text().await;
                panic!("no {css} on the page: {e}\n{text}")
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces an input's text.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// A PNG of the whole page (the window grown to the page's height).
    pub async fn screenshot(&self, path: &Path) {
        let height = self
            .client
            .execute(
                "return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(400, 8000) as u32;
        self.client
            .set_window_size(WIDTH, height)
            .await
            .expect("resize");
        let png = self.client.screenshot().await.expect("screenshot");
        self.client
            .set_window_size(WIDTH, 900)
            .await
            .expect("resize");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// A PNG of the top of the page (`height` pixels).
    pub async fn screenshot_top(&self, path: &Path, height: u32) {
        self.client
            .set_window_size(WIDTH, height)
            .await
            .expect("resize");
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// A screenshot into `target/e2e-screenshots/NAME.png`.
    pub async fn shot(&self, name: &str) {
        self.screenshot(&screenshot_dir().join(format!("{name}.png")))
            .await;
    }

    /// Ends the session (Chromium quits); dropping ends chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The hostile name is text: no dialog opened, no `img` in the page, the
/// name readable as typed.
async fn assert_hostile_name_is_text(b: &Browser, page: &str) {
    assert!(
        b.client.get_alert_text().await.is_err(),
        "{page}: a dialog opened"
    );
    assert_eq!(b.count("img").await, 0, "{page}: an img element");
    assert_eq!(b.count("script").await, 0, "{page}: a script element");
    assert!(
        b.text().await.contains(XSS),
        "{page}: the name is not shown as text"
    );
}

#[test]
fn the_console_in_a_browser_maps_syncs_runs_actions_and_reports() {
    runtime().block_on(console_in_a_browser());
}

async fn console_in_a_browser() {
    let Some(b) = Browser::start("browser_console").await else {
        return;
    };
    let team = hostile_team(150);
    let world = World::with_team(team.clone());
    world.run(&["sync"]).assert_ok();
    let original = std::fs::read_to_string(world.config_path()).expect("config");
    let c = start_console(&world);
    let base = format!("http://{}", c.addr);

    // Without the token: refused, and nothing of the team shown.
    b.goto(&format!("{base}/dashboard")).await;
    let text = b.text().await;
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("Members"), "{text}");
    b.goto(&format!("{base}/?token=wrong")).await;
    assert!(b.text().await.contains("refused: wrong token"));
    b.shot("01-no-token-refused").await;

    // The token is traded for a cookie and dropped from the address bar.
    b.goto(&format!("{base}/?token={}", c.token)).await;
    let url = b.client.current_url().await.expect("url");
    assert!(!url.as_str().contains("token"), "{url}");
    b.wait_for("form[action=\"/sync\"]").await;
    b.shot("02-overview").await;

    // A form whose CSRF token was tampered with is refused.
    b.client
        .execute(
            "document.querySelector('input[name=csrf]').value = 'wrong';",
            vec![],
        )
        .await
        .expect("run a WebDriver script (not subject to the page's CSP)");
    b.click("form[action=\"/sync\"] button").await;
    b.wait_text("refused: wrong or missing CSRF token").await;

    // Dashboard and members: the hostile name is text.
    b.goto(&format!("{base}/dashboard")).await;
    b.wait_for("[data-chart=\"status\"]").await;
    assert_hostile_name_is_text(&b, "dashboard").await;
    b.shot("03-dashboard").await;
    b.goto(&format!("{base}/members")).await;
    b.fill("input[name=\"q\"]", "onerror").await;
    b.click("form.filters button").await;
    b.wait_for("[data-total=\"1\"]").await;
    assert_hostile_name_is_text(&b, "members").await;
    b.shot("04-members").await;

    // Mapping: Smart Mapping, rename a custom field, save, launch check.
    b.goto(&format!("{base}/mapping")).await;
    b.click("button[value=\"smart\"]").await;
    b.wait_text("Smart Mapping applied").await;
    b.fill("input[value=\"dropbox_status\"]", "dropbox_member_status")
        .await;
    b.shot("05-mapping").await;
    b.click("button[value=\"save\"]").await;
    b.wait_for("[data-launch=\"pass\"]").await;
    b.shot("06-mapping-saved").await;
    let after = std::fs::read_to_string(world.config_path()).expect("config");
    assert_ne!(after, original, "the config file changed");
    assert!(
        after.contains("target = \"dropbox_member_status\""),
        "{after}"
    );
    assert!(!after.contains("target = \"dropbox_status\""), "{after}");
    let head = |s: &str| s.lines().take(5).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(head(&original), head(&after), "comments and layout kept");

    // A sync from the console: the run and its chart appear.
    b.goto(&format!("{base}/")).await;
    b.click("form[action=\"/sync\"] button").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        b.goto(&format!("{base}/runs")).await;
        if b.count("[data-run]").await >= 2 && b.count("[data-status=\"running\"]").await == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no second run: {}",
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    b.wait_for("[data-chart=\"runs\"] svg").await;
    assert_eq!(b.count("[data-status=\"failed\"]").await, 0);
    b.shot("07-runs").await;

    // Actions: a dry run changes nothing; a confirmed one runs.
    let email = team
        .members()
        .find(|m| m.status.tag() == "active" && m.roles.is_empty())
        .expect("an active member")
        .email;
    b.goto(&format!("{base}/actions")).await;
    b.client
        .find(Locator::Css("select[name=\"action\"]"))
        .await
        .expect("the action list")
        .select_by_value("deactivate-user")
        .await
        .expect("deactivate-user offered");
    b.fill("input[name=\"user\"]", &email).await;
    b.fill("textarea[name=\"params\"]", "wipe-data=false").await;
    b.click("button[value=\"plan\"]").await;
    b.wait_for("[data-result=\"dry-run\"]").await;
    b.shot("08-action-dry-run").await;
    let before = b.text().await;
    assert!(before.contains(&email), "the plan names the member");
    b.click("input[name=\"confirm\"]").await;
    b.click("button[value=\"run\"]").await;
    b.wait_for("[data-result=\"executed\"]").await;
    b.shot("09-action-executed").await;
    b.goto(&format!("{base}/audit")).await;
    let audit = b.text().await;
    assert!(
        audit.contains("deactivate-user") && audit.contains(&email),
        "{audit}"
    );

    // The report, in the console and as the self-contained file.
    b.goto(&format!("{base}/report")).await;
    b.wait_for("[data-chart=\"status\"]").await;
    assert_hostile_name_is_text(&b, "report in the console").await;
    b.shot("10-console-report").await;
    let out = world.dir.path().join("report.html");
    world
        .run(&["report", "--out", out.to_str().expect("utf-8")])
        .assert_ok();
    b.goto(&format!("file://{}", out.display())).await;
    b.wait_for("[data-chart=\"seats\"]").await;
    assert_hostile_name_is_text(&b, "report file").await;
    b.screenshot(&screenshot_dir().join("report.png")).await;
    let png = std::fs::read(screenshot_dir().join("report.png")).expect("report.png");
    assert!(png.len() > 10_000, "a real rendering: {} bytes", png.len());

    b.close().await;
}

/// Regenerates the README's screenshots (`scripts/screenshots` runs it).
#[test]
#[ignore = "writes docs/images/; run by scripts/screenshots"]
fn readme_screenshots() {
    runtime().block_on(async {
        let Some(b) = Browser::start("readme_screenshots").await else {
            return;
        };
        let world = World::with_team(Team::generate(2500, 42));
        world.run(&["sync"]).assert_ok();
        world.run(&["sync"]).assert_ok();
        let c = start_console(&world);
        let base = format!("http://{}", c.addr);
        let images = workspace().join("docs/images");
        b.goto(&format!("{base}/?token={}", c.token)).await;
        b.goto(&format!("{base}/dashboard")).await;
        b.wait_for("[data-chart=\"status\"]").await;
        b.screenshot_top(&images.join("dashboard.png"), 1000).await;
        b.goto(&format!("{base}/mapping")).await;
        b.click("button[value=\"smart\"]").await;
        b.wait_for("#preview").await;
        b.screenshot_top(&images.join("mapping.png"), 1000).await;
        b.close().await;
        eprintln!("wrote {}/{{dashboard,mapping}}.png", images.display());
    });
}
