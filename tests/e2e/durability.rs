//! Nothing lost: kills, outages, expired cursors, signals and locks. Each
//! case ends with the fake Oomnitza holding exactly the team, with no record
//! applied twice within a portion, and prints the totals it checked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use connector_fakes::{DropboxConfig, DropboxFault, OomnitzaFault, Team};

use crate::support::{DROPBOX_TOKEN, World, cache_dir};

/// A world whose Dropbox takes `delay` per page, so a sync can be caught
/// in the middle.
fn slow_world(members: usize, delay: Duration) -> World {
    let mut cfg = DropboxConfig::new(Team::generate(members, 42), DROPBOX_TOKEN);
    cfg.page_delay = delay;
    World::with_dropbox(cfg)
}

fn spawn_sync(world: &World) -> Child {
    let config = world.write_config();
    Command::new(env!("CARGO_BIN_EXE_oomnitza-connect"))
        .arg("--config")
        .arg(&config)
        .args(["-q", "sync"])
        .env("XDG_CACHE_HOME", cache_dir().join("xdg"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sync")
}

/// Exactly `n` members held, in one finalized portion, each applied once:
/// `created == n` and nothing updated. A batch in flight when the process
/// died was never acknowledged, so it is sent again (at-least-once for
/// unacknowledged batches); Oomnitza sees it as `unchanged`. At most
/// `redelivered` records may arrive that way.
#[track_caller]
fn assert_applied_once(world: &World, n: usize, redelivered: usize) {
    let portions = world.oomnitza.portions();
    let total: usize = portions.iter().map(|p| p.records).sum();
    println!(
        "checked: {} users held, {} portion(s), {} records received, {} created, {} updated, {} unchanged (redelivered), finalized: {:?}",
        world.oomnitza.user_count(),
        portions.len(),
        total,
        portions.iter().map(|p| p.created).sum::<usize>(),
        portions.iter().map(|p| p.updated).sum::<usize>(),
        portions.iter().map(|p| p.unchanged).sum::<usize>(),
        portions.iter().map(|p| p.finalized).collect::<Vec<_>>()
    );
    assert_eq!(world.oomnitza.user_count(), n, "none missing");
    assert_eq!(
        portions.len(),
        1,
        "one portion across restarts: {portions:?}"
    );
    let p = &portions[0];
    assert_eq!(
        (p.created, p.updated),
        (n, 0),
        "each record applied exactly once: {p:?}"
    );
    assert!(
        p.records >= n && p.records - n <= redelivered,
        "redelivery bounded: {p:?}"
    );
    assert!(p.finalized);
}

#[track_caller]
pub(crate) fn assert_exactly_once(world: &World, n: usize) {
    assert_applied_once(world, n, 0);
}

/// A cheap pseudo-random delay, different on every call.
fn jitter(max_ms: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(50 + nanos % max_ms)
}

#[test]
fn a_sync_killed_again_and_again_resumes_and_applies_each_record_once() {
    // 60 pages of at least 100 ms; every attempt is killed within 2 s, so
    // each covers at most 20 pages and at least two kills land mid-run.
    let world = slow_world(60_000, Duration::from_millis(100));
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..5 {
        let mut child = spawn_sync(&world);
        // Past start-up (loading the component), somewhere in the listing.
        std::thread::sleep(Duration::from_millis(800) + jitter(1150));
        if let Some(status) = child.try_wait().expect("poll") {
            assert!(status.success(), "a resumed run failed");
            finished = true;
            break;
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        kills += 1;
    }
    if !finished {
        world.run(&["sync"]).assert_ok();
    }
    println!("killed {kills} times, then completed");
    assert!(kills >= 2, "the sync was caught mid-run");
    // Each restart went on from its checkpoint, never the listing from the
    // start: per kill, at most the pages fetched but not yet committed are
    // fetched again (the one being committed, the one waiting for the
    // committer, and the one the connector read ahead).
    let pages = world.dropbox.stats().pages_served;
    assert!(
        pages <= 60 + 3 * kills as u64,
        "{pages} pages served for 60 pages and {kills} kills"
    );
    // Per kill, at most the batches in flight (concurrency 4) and those
    // acknowledged but not yet written (the forwarder writes acks in
    // groups of up to 8, each waiting at most 20 ms, longer on a loaded
    // machine): 12 batches of 100.
    assert_applied_once(&world, 60_000, kills * 1200);
    // The history shows the killed runs and the one that completed, all
    // in one portion.
    let runs = world.run(&["runs"]);
    runs.assert_ok();
    let portion = &world.oomnitza.portions()[0].id;
    assert_eq!(
        runs.stdout
            .lines()
            .filter(|l| l.contains(portion.as_str()))
            .count(),
        kills + 1,
        "{}",
        runs.stdout
    );
    assert_eq!(
        runs.stdout.matches("succeeded").count(),
        1,
        "{}",
        runs.stdout
    );
}

#[test]
fn an_oomnitza_outage_keeps_batches_in_the_outbox_for_the_next_run() {
    let mut world = World::new(450);
    world
        .edit("batch_size = 100", "batch_size = 100\nconcurrency = 1")
        .append("\n[limits]\nmax_retries = 1\n");
    world.oomnitza.inject(OomnitzaFault::ServerError(503), 2);
    let first = world.run(&["sync"]);
    first.assert_fails_with("batches in the outbox");
    assert!(
        first.stderr.contains("resumes on the next run"),
        "{}",
        first.stderr
    );
    assert!(world.oomnitza.user_count() < 450);
    let second = world.run(&["sync"]);
    second.assert_ok();
    assert!(second.stderr.contains("(resumed)"), "{}", second.stderr);
    assert_exactly_once(&world, 450);
}

#[test]
fn a_failed_finalize_is_retried_by_the_next_run() {
    let mut world = World::new(50);
    world
        .edit("batch_size = 100", "batch_size = 100\nconcurrency = 1")
        .append("\n[limits]\nmax_retries = 1\n");
    // The one batch goes through; then finalize fails twice.
    world
        .oomnitza
        .inject(OomnitzaFault::Slow(Duration::ZERO), 1);
    world.oomnitza.inject(OomnitzaFault::ServerError(500), 2);
    world.run(&["sync"]).assert_fails_with("closing portion");
    assert!(!world.oomnitza.portions()[0].finalized);
    world.run(&["sync"]).assert_ok();
    assert_exactly_once(&world, 50);
}

#[test]
fn an_expired_cursor_restarts_the_listing_without_duplicates() {
    let world = World::new(2500);
    world.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
    world.dropbox.inject(DropboxFault::InvalidCursor, 1);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("restarted 1 time(s)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("sent           2500 in 25 batches"),
        "{}",
        run.stderr
    );
    assert_exactly_once(&world, 2500);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_after_the_page_in_hand_and_the_next_run_resumes() {
    let world = slow_world(6000, Duration::from_millis(200));
    let child = spawn_sync(&world);
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("to resume it"), "{stderr}");
    world.run(&["sync"]).assert_ok();
    assert_exactly_once(&world, 6000);
}

/// The team snapshot's rows commit with each page: after a SIGKILL
/// mid-listing, the resumed run keeps every member exactly once, and the
/// half-written snapshot is never shown as the team.
#[cfg(unix)]
#[test]
fn a_sigkilled_sync_resumes_into_a_snapshot_with_every_member_once() {
    let mut world = slow_world(3000, Duration::from_millis(150));
    world.edit("page_size = 1000", "page_size = 100");
    let members = |world: &World, name: &str| -> Vec<String> {
        let dir = world.dir.path().join(name);
        world
            .run(&["report", "--csv", dir.to_str().expect("utf-8")])
            .assert_ok();
        let text = std::fs::read_to_string(dir.join("members.csv")).expect("members.csv");
        text.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap_or_default().to_owned())
            .collect()
    };
    let mut child = spawn_sync(&world);
    std::thread::sleep(Duration::from_millis(1200));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        members(&world, "killed").is_empty(),
        "no complete listing yet: the views show no team"
    );
    world.run(&["sync"]).assert_ok();
    let ids = members(&world, "resumed");
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 3000, "every member listed");
    assert_eq!(unique.len(), 3000, "none twice");
}

#[cfg(unix)]
#[test]
fn a_run_whose_process_died_shows_as_interrupted_not_running() {
    // 40 pages of 100 at 250 ms: each process is caught mid-listing.
    let mut world = slow_world(4000, Duration::from_millis(250));
    world.edit("page_size = 1000", "page_size = 100");
    // A SIGKILL, then a double Ctrl-C: neither process can record its end.
    let mut child = spawn_sync(&world);
    std::thread::sleep(Duration::from_millis(900));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let runs = world.run(&["runs"]);
    runs.assert_ok();
    let first = runs.stdout.lines().next().unwrap_or_default().to_string();
    assert!(first.contains("interrupted"), "{}", runs.stdout);
    assert!(!runs.stdout.contains("running"), "{}", runs.stdout);
    let mut child = spawn_sync(&world);
    std::thread::sleep(Duration::from_millis(900));
    interrupt(&mut child, Interrupt::DoubleSigint);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    // The next start (here a sync) marks it; the sync then resumes.
    world.run(&["sync"]).assert_ok();
    let runs = world.run(&["runs"]);
    let lines: Vec<&str> = runs.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", runs.stdout);
    assert!(lines[0].contains("succeeded"), "{}", runs.stdout);
    for l in &lines[1..] {
        assert!(l.contains("interrupted"), "{}", runs.stdout);
        assert!(l.contains("its process ended"), "{}", runs.stdout);
    }
    assert_exactly_once_or_redelivered(&world, 4000);
}

/// Exactly `n` held and applied once, allowing the batches a kill caught in
/// flight to arrive twice.
#[track_caller]
fn assert_exactly_once_or_redelivered(world: &World, n: usize) {
    assert_applied_once(world, n, 2 * 400);
}

#[test]
fn two_syncs_of_one_integration_never_overlap() {
    let world = slow_world(3000, Duration::from_millis(300));
    let mut first = spawn_sync(&world);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    let second = world.run(&["sync"]);
    second.assert_fails_with("another sync of `Dropbox Users` is running");
    assert!(first.wait().expect("first").success());
    assert!(started.elapsed() > Duration::from_millis(600));
    assert_exactly_once(&world, 3000);
}

#[test]
fn serve_runs_a_missed_run_at_start_and_schedule_shows_the_next() {
    let world = World::new(300);
    let run = world.run(&["serve", "--max-runs", "1"]);
    run.assert_ok();
    assert!(run.stderr.contains("missed"), "{}", run.stderr);
    assert_exactly_once(&world, 300);
    let runs = world.run(&["runs"]);
    assert_eq!(
        runs.stdout
            .lines()
            .filter(|l| l.contains("succeeded"))
            .count(),
        1,
        "{}",
        runs.stdout
    );

    let sched = world.run(&["schedule", "--count", "3"]);
    sched.assert_ok();
    assert!(
        sched.stdout.contains("daily at 02:00 (UTC)"),
        "{}",
        sched.stdout
    );
    assert_eq!(
        sched.stdout.matches("T02:00:00Z").count(),
        3,
        "{}",
        sched.stdout
    );
}

/// The fault matrix: each fault is injected into a 2,500-member sync (3
/// pages, 25 batches); the sync is re-run until it succeeds (a failed run
/// resumes its portion), and the fake Oomnitza must then hold exactly the
/// team, each record applied once.
#[test]
fn the_fault_matrix_ends_with_every_record_applied_once() {
    type Inject = fn(&World);
    let cases: Vec<(&str, Inject)> = vec![
        ("429 storm", |w| {
            w.dropbox.inject(
                DropboxFault::RateLimited {
                    retry_after: 1,
                    header: true,
                    body: true,
                },
                3,
            )
        }),
        ("5xx burst", |w| {
            w.dropbox.inject(DropboxFault::ServerError(503), 4)
        }),
        ("connection reset mid-page", |w| {
            w.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
            w.dropbox.inject(DropboxFault::ResetMidBody, 2);
        }),
        ("malformed page", |w| {
            w.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
            w.dropbox.inject(DropboxFault::MalformedJson, 1);
        }),
        ("slower than the timeout", |w| {
            w.dropbox
                .inject(DropboxFault::Slow(Duration::from_secs(3)), 2)
        }),
        ("expired cursor", |w| {
            w.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
            w.dropbox.inject(DropboxFault::InvalidCursor, 1);
        }),
        ("Oomnitza down for a while", |w| {
            w.oomnitza.inject(OomnitzaFault::ServerError(503), 6)
        }),
        ("Oomnitza 429", |w| {
            w.oomnitza
                .inject(OomnitzaFault::RateLimited { retry_after: 1 }, 2)
        }),
        ("Oomnitza 500 on finalize", |w| {
            w.oomnitza.inject(OomnitzaFault::Slow(Duration::ZERO), 25);
            w.oomnitza.inject(OomnitzaFault::ServerError(500), 3);
        }),
    ];
    for (name, inject) in cases {
        let mut world = World::new(2500);
        world
            .edit("batch_size = 100", "batch_size = 100\nconcurrency = 1")
            .append("\n[limits]\nmax_retries = 1\nfirst_byte_timeout_secs = 1\n");
        inject(&world);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let run = world.run(&["sync"]);
            run.assert_no_secrets();
            if run.ok() {
                break;
            }
            assert!(
                attempts < 5,
                "{name}: still failing after {attempts} runs:\n{}",
                run.stderr
            );
        }
        println!("{name}: succeeded after {attempts} run(s)");
        assert_applied_once(&world, 2500, 0);
    }
}

/// A SaaS world for reconciliation under interruption: 1,200 members on 12
/// pages of 100 at 120 ms a page, "User plus SaaS user" with
/// `deactivate_missing`.
fn saas_resume_world() -> World {
    let mut world = slow_world(1200, Duration::from_millis(120));
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .edit("page_size = 1000", "page_size = 100")
        .append("\n[saas]\nsaas_id = \"dbx\"\ndeactivate_missing = true\n");
    world
}

/// How a run is interrupted.
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    /// One SIGINT: the run stops after the page in hand.
    Sigint,
    /// Two SIGINTs: the run exits at once (a double Ctrl-C).
    DoubleSigint,
    Sigkill,
}

#[cfg(unix)]
fn interrupt(child: &mut Child, how: Interrupt) {
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
    };
    match how {
        Interrupt::Sigint => signal("-INT"),
        Interrupt::DoubleSigint => {
            signal("-INT");
            std::thread::sleep(Duration::from_millis(30));
            signal("-INT");
        }
        Interrupt::Sigkill => {
            let _ = child.kill();
        }
    }
}

/// A portion that began without recording its SaaS keys (before
/// `deactivate_missing` was turned on, or under an older version) and is
/// resumed with it on deactivates nobody: its first pages' keys are
/// unknown. The next complete run reconciles.
#[test]
fn a_resumed_portion_that_did_not_record_its_keys_deactivates_nobody() {
    use serde_json::json;

    let mut world = saas_resume_world();
    world.extra = world
        .extra
        .replace("deactivate_missing = true", "deactivate_missing = false");
    world.run(&["sync"]).assert_ok();
    world.oomnitza.insert_saas_user(json!({
        "sync_key": "ghost@gone.example", "selected_saas_id": "dbx", "name": "Dropbox",
        "email": "ghost@gone.example", "status": "active"
    }));
    let before = world.dropbox.stats().pages_served;
    let mut child = spawn_sync(&world);
    while world.dropbox.stats().pages_served < before + 6 {
        assert!(child.try_wait().expect("poll").is_none(), "finished early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    world.extra = world
        .extra
        .replace("deactivate_missing = false", "deactivate_missing = true");
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("(resumed)"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no deactivation: this portion began without recording"),
        "{}",
        run.stderr
    );
    let active = |w: &World| {
        w.oomnitza
            .saas_users()
            .iter()
            .filter(|u| u["status"] == "active")
            .count()
    };
    let listed = world
        .dropbox
        .with_team(|t| t.members().filter(|m| !m.status.is_removed()).count());
    assert_eq!(active(&world), listed + 1, "nobody deactivated");
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("1 deactivated"), "{}", run.stderr);
    assert_eq!(active(&world), listed);
}

/// The bug of issue 11: a `deactivate_missing` sync interrupted during the
/// listing and resumed deactivated every member of the pages listed before
/// the interruption. Each case: a first sync makes every member a SaaS
/// user; then 20 members leave Dropbox, 10 are removed (listed with status
/// `removed`) and 5 SaaS users Dropbox never had appear in Oomnitza; a sync
/// is interrupted after some pages (SIGINT, a double SIGINT, SIGKILL) and
/// resumed until it succeeds. Then exactly those 35 are inactive and every
/// member Dropbox lists (not removed), Team admins among them, is active.
#[cfg(unix)]
#[test]
fn the_reconciliation_fault_matrix_deactivates_only_the_missing_after_a_resume() {
    use connector_fakes::MemberStatus;
    use serde_json::json;

    let cases = [
        (Interrupt::Sigint, 1),
        (Interrupt::Sigint, 6),
        (Interrupt::Sigint, 12),
        (Interrupt::DoubleSigint, 6),
        (Interrupt::Sigkill, 1),
        (Interrupt::Sigkill, 6),
        (Interrupt::Sigkill, 12),
    ];
    for (how, after_pages) in cases {
        let name = format!("{how:?} after {after_pages} pages");
        let world = saas_resume_world();
        world.run(&["sync"]).assert_ok();
        let before = world.dropbox.stats().pages_served;
        // 20 members leave; 10 are removed; 5 ghosts appear in Oomnitza.
        let removed: Vec<String> = world.dropbox.update_team(|t| {
            *t = Team::generate(1180, 42);
            let mut removed = Vec::new();
            for i in (100..1180).step_by(37) {
                let mut m = t.member(i);
                if m.status != MemberStatus::Active || m.is_team_admin() || removed.len() == 10 {
                    continue;
                }
                m.status = MemberStatus::Removed {
                    is_recoverable: true,
                    is_disconnected: false,
                };
                removed.push(m.email.to_lowercase());
                t.set_member(i, m);
            }
            removed
        });
        assert_eq!(removed.len(), 10, "{name}");
        let left: Vec<String> = Team::generate(1200, 42)
            .members()
            .skip(1180)
            .filter(|m| !m.status.is_removed())
            .map(|m| m.email.to_lowercase())
            .collect();
        let ghosts: Vec<String> = (0..5).map(|i| format!("ghost{i}@gone.example")).collect();
        for g in &ghosts {
            world.oomnitza.insert_saas_user(json!({
                "sync_key": g, "selected_saas_id": "dbx", "name": "Dropbox",
                "email": g, "status": "active"
            }));
        }
        // Slow bulk answers hold the run after its listing (12 pages), so
        // a kill then finds the listing complete and reconciliation not
        // done: the resumed run must judge keys it never listed itself.
        if after_pages == 12 {
            world
                .oomnitza
                .inject(OomnitzaFault::Slow(Duration::from_secs(3)), 5);
        }
        let mut child = spawn_sync(&world);
        let deadline = Instant::now() + Duration::from_secs(60);
        while world.dropbox.stats().pages_served < before + after_pages {
            assert!(Instant::now() < deadline, "{name}: the listing stalled");
            if child.try_wait().expect("poll").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if after_pages == 12 {
            std::thread::sleep(Duration::from_millis(300));
        }
        interrupt(&mut child, how);
        let out = child.wait_with_output().expect("wait");
        let interrupted = !out.status.success();
        let mut resumed = false;
        let mut first = None;
        for attempt in 0.. {
            let run = world.run(&["sync"]);
            resumed |= run.stderr.contains("(resumed)");
            first.get_or_insert_with(|| run.stderr.clone());
            if run.ok() {
                break;
            }
            assert!(attempt < 3, "{name}: resuming failed:\n{}", run.stderr);
        }
        if matches!((how, after_pages), (Interrupt::Sigkill, 12)) {
            let first = first.unwrap_or_default();
            assert!(
                first.contains("pages          0\n"),
                "{name}: the resumed run should have listed nothing itself:\n{first}"
            );
        }
        println!("{name}: interrupted {interrupted}, resumed {resumed}");
        // One SIGINT after the last page lets the run finish: it stops
        // only between pages. Every other case was cut short and resumed.
        if !matches!((how, after_pages), (Interrupt::Sigint, 12)) {
            assert!(interrupted && resumed, "{name}: was not interrupted");
        }
        let saas = world.oomnitza.saas_users();
        let status_of = |key: &str| {
            saas.iter()
                .find(|u| u["sync_key"] == key)
                .map(|u| u["status"].as_str().unwrap_or_default().to_string())
        };
        let listed: Vec<(String, bool)> = world.dropbox.with_team(|t| {
            t.members()
                .filter(|m| !m.status.is_removed())
                .map(|m| (m.email.to_lowercase(), m.is_team_admin()))
                .collect()
        });
        let wrongly: Vec<&String> = listed
            .iter()
            .filter(|(e, _)| status_of(e).as_deref() != Some("active"))
            .map(|(e, _)| e)
            .collect();
        assert!(
            wrongly.is_empty(),
            "{name}: {} members Dropbox lists are not active SaaS users, e.g. {:?}",
            wrongly.len(),
            &wrongly[..wrongly.len().min(3)]
        );
        assert!(listed.iter().any(|(_, admin)| *admin), "{name}: has admins");
        for key in ghosts.iter().chain(&left).chain(&removed) {
            assert_eq!(
                status_of(key).as_deref(),
                Some("inactive"),
                "{name}: {key} is missing from Dropbox"
            );
        }
        let inactive = saas.iter().filter(|u| u["status"] == "inactive").count();
        assert_eq!(
            inactive,
            ghosts.len() + left.len() + removed.len(),
            "{name}"
        );
    }
}
