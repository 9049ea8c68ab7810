//! Vendor and Oomnitza faults, injected into the fakes.

use std::time::Duration;

use connector_fakes::{DropboxFault, OomnitzaFault};

use crate::support::World;

#[test]
fn rate_limits_are_waited_out() {
    let world = World::new(1200);
    world.dropbox.inject(
        DropboxFault::RateLimited {
            retry_after: 1,
            header: true,
            body: false,
        },
        1,
    );
    world.dropbox.inject(
        DropboxFault::RateLimited {
            retry_after: 1,
            header: false,
            body: true,
        },
        1,
    );
    let started = std::time::Instant::now();
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited Retry-After twice"
    );
    assert!(run.stderr.contains("2 retried"), "{}", run.stderr);
    assert_eq!(world.oomnitza.user_count(), 1200);
}

#[test]
fn server_errors_are_retried() {
    let world = World::new(50);
    world.dropbox.inject(DropboxFault::ServerError(503), 2);
    world.run(&["sync"]).assert_ok();
    assert_eq!(world.oomnitza.user_count(), 50);
}

#[test]
fn persistent_server_errors_fail_the_run_without_finalizing() {
    let mut world = World::new(50);
    world.append("\n[limits]\nmax_retries = 2\n");
    world.dropbox.inject(DropboxFault::ServerError(500), 10);
    world.run(&["sync"]).assert_fails_with("vendor unavailable");
    assert!(world.oomnitza.portions().iter().all(|p| !p.finalized));
    assert_eq!(world.oomnitza.ready_portions().len(), 1);
}

#[test]
fn an_expired_token_fails_and_is_reported() {
    let world = World::new(50);
    world.dropbox.inject(DropboxFault::ExpiredToken, 1);
    let run = world.run(&["sync"]);
    run.assert_fails_with("expired").assert_no_secrets();
    let ready = world.oomnitza.ready_portions();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["body"]["error_type"], "Fatal Error");
    assert!(
        ready[0]["body"]["error_message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn route_errors_carry_the_vendor_tag() {
    let world = World::new(50);
    world
        .dropbox
        .inject(DropboxFault::Conflict("team_license_limit".into()), 1);
    world.run(&["sync"]).assert_fails_with("team_license_limit");
}

#[test]
fn a_malformed_page_fails_with_the_route() {
    let world = World::new(50);
    world.dropbox.inject(DropboxFault::MalformedJson, 1);
    world
        .run(&["sync"])
        .assert_fails_with("team/members/list_v2");
}

#[test]
fn a_bad_request_carries_dropbox_text() {
    let world = World::new(50);
    world.dropbox.inject(
        DropboxFault::BadRequest("Error in call to API function: missing scope".into()),
        1,
    );
    world.run(&["sync"]).assert_fails_with("missing scope");
}

#[test]
fn slow_pages_still_complete() {
    let world = World::new(1500);
    world
        .dropbox
        .inject(DropboxFault::Slow(Duration::from_millis(300)), 2);
    world.run(&["sync"]).assert_ok();
    assert_eq!(world.oomnitza.user_count(), 1500);
}

#[test]
fn oomnitza_hiccups_are_retried() {
    let world = World::new(300);
    world.oomnitza.inject(OomnitzaFault::ServerError(502), 2);
    world
        .oomnitza
        .inject(OomnitzaFault::RateLimited { retry_after: 1 }, 1);
    world.run(&["sync"]).assert_ok();
    assert_eq!(world.oomnitza.user_count(), 300);
    assert!(world.oomnitza.portions()[0].finalized);
}

#[test]
fn oomnitza_down_fails_the_run_naming_it() {
    let mut world = World::new(300);
    world.append("\n[limits]\nmax_retries = 1\n");
    world.oomnitza.inject(OomnitzaFault::ServerError(500), 100);
    let run = world.run(&["sync"]);
    run.assert_fails_with("posting to Oomnitza failed");
    assert!(world.oomnitza.portions().iter().all(|p| !p.finalized));
}

#[test]
fn a_response_slower_than_the_first_byte_timeout_fails_the_run() {
    let mut world = World::new(10);
    world.append("\n[limits]\nfirst_byte_timeout_secs = 1\nmax_retries = 1\n");
    world
        .dropbox
        .inject(DropboxFault::Slow(Duration::from_secs(3)), 5);
    let started = std::time::Instant::now();
    world
        .run(&["sync"])
        .assert_fails_with("ConnectionReadTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "timed out rather than waited"
    );
}
