//! Contract 0.4.0 end to end: a real sync asks the connector for the
//! team's seats (`seats`, Dropbox `team/get_info`) once, stores them with
//! the run, and the report and the console's dashboard show licensed vs
//! provisioned with where each number comes from; a failing call leaves
//! the sync successful and the seats unknown. And a component of contract
//! 0.3.0 (`tests/components/v0_3`, built without the SDK) still syncs,
//! has no seats, and its own way of saying a cursor expired still
//! restarts the listing.

use std::path::Path;
use std::time::Duration;

use connector_fakes::{DropboxFault, Team};
use oomnitza_connect::state::StateDb;
use oomnitza_connect::state::seats::Answer;

use crate::console::{count, get, session, start_console};
use crate::durability::assert_exactly_once;
use crate::support::World;

/// The members holding a seat in the fake team: those not removed.
fn provisioned(world: &World) -> u64 {
    world
        .dropbox
        .with_team(|t| (0..t.len()).filter(|&i| !t.status(i).is_removed()).count()) as u64
}

fn last_seats(world: &World) -> Option<(i64, Answer)> {
    let db = StateDb::open(&world.dir.path().join("oomnitza-connect.db")).expect("state db");
    db.last_seats()
        .expect("seats read")
        .map(|s| (s.run_id, s.answer))
}

fn report(world: &World) -> String {
    let out = world.dir.path().join("report.html");
    world
        .run(&["report", "--out", out.to_str().expect("utf-8 path")])
        .assert_ok();
    std::fs::read_to_string(&out).expect("report written")
}

/// The `data-source` of the seats chart's cell for `value`.
fn source(html: &str, value: &str) -> String {
    let fig = &html[html.find("data-chart=\"seats\"").expect("seats chart")..];
    let cell = &fig[..fig
        .find(&format!("data-count=\"{value}\""))
        .unwrap_or_else(|| panic!("no {value} cell"))];
    let at = cell.rfind("data-source=\"").expect("a source") + 13;
    cell[at..at + cell[at..].find('"').expect("ends")].to_owned()
}

/// The text in the seats chart's cell for `value`.
fn shown(html: &str, value: &str) -> String {
    let fig = &html[html.find("data-chart=\"seats\"").expect("seats chart")..];
    let needle = format!("data-count=\"{value}\">");
    let rest = &fig[fig.find(&needle).expect("cell") + needle.len()..];
    rest[..rest.find('<').expect("ends")].to_owned()
}

fn get_info_calls(world: &World) -> usize {
    world
        .dropbox
        .requests()
        .iter()
        .filter(|r| r.path == "/2/team/get_info")
        .count()
}

/// How many first pages (`list_v2`) were asked for.
fn list_calls(world: &World) -> usize {
    world
        .dropbox
        .requests()
        .iter()
        .filter(|r| r.path == "/2/team/members/list_v2")
        .count()
}

#[test]
fn a_sync_stores_the_vendors_seats_and_the_report_and_dashboard_show_them() {
    let world = World::with_team(Team::generate(240, 42));
    world.dropbox.set_licensed_users(Some(300));
    let provisioned = provisioned(&world);
    assert!(provisioned < 240, "the team has removed members");
    world.run(&["sync"]).assert_ok();
    assert_eq!(get_info_calls(&world), 1, "asked once");
    assert_eq!(
        last_seats(&world),
        Some((
            1,
            Answer::Counts {
                licensed: Some(300),
                provisioned: Some(provisioned)
            }
        ))
    );

    let html = report(&world);
    assert_eq!(count(&html, "seats", "licensed"), 300);
    assert_eq!(count(&html, "seats", "provisioned"), provisioned);
    assert_eq!(count(&html, "seats", "free"), 300 - provisioned);
    assert_eq!(source(&html, "licensed"), "vendor");
    assert_eq!(source(&html, "provisioned"), "vendor");
    assert!(
        html.contains("the vendor&#39;s count, read by sync run #1")
            || html.contains("the vendor's count, read by sync run #1"),
        "the page says where the numbers come from"
    );

    // The console's dashboard draws the same chart.
    let c = start_console(&world);
    let cookie = session(&c);
    let (code, _, page) = get(&c.addr, "/dashboard", &cookie);
    assert_eq!(code, 200);
    assert_eq!(count(&page, "seats", "licensed"), 300);
    assert_eq!(count(&page, "seats", "provisioned"), provisioned);
    drop(c);

    // Dry and test runs do not ask, and keep the last answer.
    world.dropbox.clear_requests();
    world.dropbox.set_licensed_users(Some(1));
    world.run(&["sync", "--dry-run"]).assert_ok();
    world.run(&["sync", "--test-run"]).assert_ok();
    assert_eq!(get_info_calls(&world), 0);
    assert_eq!(count(&report(&world), "seats", "licensed"), 300);
    // The next real sync asks again.
    world.run(&["sync"]).assert_ok();
    assert_eq!(get_info_calls(&world), 1);
    assert_eq!(count(&report(&world), "seats", "licensed"), 1);
}

#[test]
fn a_failing_team_get_info_leaves_the_sync_successful_and_the_seats_unknown() {
    let world = World::with_team(Team::generate(150, 7));
    let provisioned = provisioned(&world);
    world.run(&["sync"]).assert_ok();
    assert!(matches!(
        last_seats(&world),
        Some((1, Answer::Counts { .. }))
    ));

    world
        .dropbox
        .fail_team_info(Some(DropboxFault::ServerError(503)));
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("the team's seats are unknown for this run")
            && run.stderr.contains("503"),
        "{}",
        run.stderr
    );
    assert!(matches!(
        last_seats(&world),
        Some((2, Answer::Failed(why))) if why.contains("503")
    ));
    let runs = world.run(&["runs", "--json"]);
    assert!(runs.stdout.contains("\"succeeded\""), "{}", runs.stdout);

    // Unknown, not the older answer; provisioned counted from the snapshot.
    let html = report(&world);
    assert_eq!(shown(&html, "licensed"), "unknown");
    assert_eq!(source(&html, "licensed"), "unknown");
    assert_eq!(count(&html, "seats", "provisioned"), provisioned);
    assert_eq!(source(&html, "provisioned"), "snapshot");
    assert!(
        html.contains("sync run #2 could not read the vendor"),
        "the page says why"
    );
    assert!(!html.contains("data-count=\"free\""));

    // A timeout or a malformed answer is no worse.
    world
        .dropbox
        .fail_team_info(Some(DropboxFault::BadRequest("no".into())));
    world.run(&["sync"]).assert_ok();
    assert!(matches!(last_seats(&world), Some((3, Answer::Failed(_)))));
    world.dropbox.fail_team_info(None);
    world.run(&["sync"]).assert_ok();
    assert!(matches!(
        last_seats(&world),
        Some((4, Answer::Counts { .. }))
    ));
}

#[test]
fn an_expired_cursor_mid_listing_restarts_from_the_first_page_with_nobody_lost_or_twice() {
    // Page 2's continuation answers 409 `invalid_cursor`; the connector
    // says `cursor-expired` and the host lists from page 1 again.
    let mut world = World::new(1000);
    world.edit("page_size = 1000", "page_size = 100");
    world.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 2);
    world.dropbox.inject(DropboxFault::InvalidCursor, 1);
    let run = world.run(&["-v", "sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("restarted 1 time(s)"), "{}", run.stderr);
    assert_eq!(list_calls(&world), 2, "the first page was asked for again");
    assert_exactly_once(&world, 1000);
}

/// The contract 0.3.0 component built by `scripts/dev component`.
fn v0_3_component() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/component_v0_3.wasm");
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/dev component`",
        p.display()
    );
    p
}

/// A world whose config runs the 0.3.0 component on the fake Dropbox,
/// listing members without removed ones.
fn v0_3_world(members: usize) -> World {
    let mut world = World::new(members);
    let dropbox = crate::support::component();
    let dropbox = dropbox.display().to_string();
    let v0_3 = v0_3_component().display().to_string();
    world
        .edit(&format!("{dropbox:?}"), &format!("{v0_3:?}"))
        .edit("include_removed = true", "include_removed = false")
        .edit("page_size = 1000", "page_size = 100")
        .edit("safe = [\"get-user-role\"]", "safe = []");
    world
}

#[test]
fn a_contract_0_3_0_component_syncs_end_to_end_and_has_no_seats() {
    let world = v0_3_world(450);
    let provisioned = provisioned(&world);
    let describe = world.run(&["describe"]);
    describe.assert_ok();
    assert!(
        describe.stdout.contains("Dropbox Users (contract 0.3.0)"),
        "{}",
        describe.stdout
    );
    world.run(&["validate"]).assert_ok();
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert_exactly_once(&world, provisioned as usize);
    // Its records carry what it mapped (the default mapping).
    let user = world
        .oomnitza
        .users()
        .into_iter()
        .find(|u| u["EMAIL"].as_str().is_some_and(|e| e.contains('@')))
        .expect("a user with an email");
    assert!(user["FIRST_NAME"].is_string(), "{user}");
    // 0.3.0 has no `seats`: nothing asked, stored as "no seats".
    assert_eq!(get_info_calls(&world), 0);
    assert_eq!(last_seats(&world), Some((1, Answer::NoSeats)));
    let html = report(&world);
    assert_eq!(shown(&html, "licensed"), "unknown");
    assert_eq!(count(&html, "seats", "provisioned"), provisioned);
    assert_eq!(source(&html, "provisioned"), "snapshot");
    assert!(html.contains("the connector gives no seat counts"));
    // A second sync sends nothing new.
    world.run(&["sync"]).assert_ok();
    assert_eq!(world.oomnitza.user_count(), provisioned as usize);
}

#[test]
fn a_contract_0_3_0_components_old_expired_cursor_tag_still_restarts_the_listing() {
    // The 0.3.0 component passes Dropbox's 409 `invalid_cursor` on as a
    // conflict with that tag; the host's 0.3.0 bindings read it as
    // `cursor-expired`.
    let world = v0_3_world(1000);
    world.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 3);
    world.dropbox.inject(DropboxFault::InvalidCursor, 1);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("restarted 1 time(s)"), "{}", run.stderr);
    assert_eq!(list_calls(&world), 2, "the first page was asked for again");
    assert_exactly_once(&world, provisioned(&world) as usize);
}
