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
    let run = world.run(&["sync"]);
    run.assert_fails_with("timed out waiting for the response");
    assert!(
        !run.stderr.contains("ConnectionReadTimeout"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "timed out rather than waited"
    );
}

// ---------------------------------------------------------------------------
// A rule that touches too many people (issue 11, section 4): the cap.

#[test]
fn a_workflow_that_would_act_on_more_than_max_users_does_nothing() {
    let mut world = World::new(40);
    // Every synced user has role 25: a rule an operator meant for a few.
    world.append(
        r#"
[[workflow]]
name = "too-broad"
trigger = [{ field = "role", op = "eq", value = 25 }]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "read-all"
trigger = [{ field = "role", op = "eq", value = 25 }]
[[workflow.steps]]
action = "get-user-role"
"#,
    );
    world.run(&["sync"]).assert_ok();

    let run = world.run(&["workflow", "run", "too-broad", "--yes"]);
    run.assert_fails_with("workflow `too-broad` would act on 40 users, more than its cap of 25 (max_users): nothing was done");
    run.assert_fails_with("--allow-more 40");
    assert!(
        world.dropbox.action_log().is_empty(),
        "nothing reached Dropbox"
    );
    // Allowing fewer than it needs still does nothing.
    world
        .run(&[
            "workflow",
            "run",
            "too-broad",
            "--yes",
            "--allow-more",
            "39",
        ])
        .assert_fails_with("more than --allow-more 39 allows");
    assert!(world.dropbox.action_log().is_empty());
    let audit = world.run(&["audit"]);
    assert_eq!(
        audit
            .stdout
            .lines()
            .filter(|l| l.contains("blocked"))
            .count(),
        2,
        "{}",
        audit.stdout
    );
    assert!(audit.stdout.contains("(40 users)"), "{}", audit.stdout);

    // A dry run shows the plan and that a real run would stop.
    let dry = world.run(&["workflow", "run", "too-broad", "--dry-run"]);
    dry.assert_ok();
    assert!(
        dry.stdout.contains("a real run would stop here"),
        "{}",
        dry.stdout
    );

    // Lifted on purpose, once: the run goes ahead...
    let reads = world.run(&["workflow", "run", "read-all", "--allow-more", "40"]);
    reads.assert_ok();
    assert!(reads.stdout.contains("40 done"), "{}", reads.stdout);
    // ...and the next one without it is capped again (nothing left to do
    // here, so nothing to stop).
    let again = world.run(&["workflow", "run", "read-all"]);
    again.assert_ok();
    assert!(again.stdout.contains("0 to act on"), "{}", again.stdout);

    // The same cap for an action by hand naming many users.
    let mut args = vec!["action", "deactivate-user", "--yes"];
    let emails: Vec<String> = (0..26)
        .map(|i| world.dropbox.with_team(|t| t.member(i).email))
        .collect();
    for e in &emails {
        args.extend(["--user", e.as_str()]);
    }
    world
        .run(&args)
        .assert_fails_with("action `deactivate-user` names 26 users, more than its cap of 25");
    assert_eq!(
        world
            .dropbox
            .action_log()
            .iter()
            .filter(|a| a.route != "team/members/get_info_v2")
            .count(),
        0
    );
}

#[test]
fn serve_never_lifts_the_cap() {
    let mut world = World::new(40);
    world.append(
        r#"
[[workflow]]
name = "too-broad"
after_sync = true
trigger = [{ field = "role", op = "eq", value = 25 }]
[[workflow.steps]]
action = "deactivate-user"
"#,
    );
    let run = world.run(&["serve", "--max-runs", "1"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("would act on 40 users, more than its cap of 25"),
        "{}",
        run.stderr
    );
    assert!(world.dropbox.action_log().is_empty());
}

// ---------------------------------------------------------------------------
// Errors that say the real cause (issue 11, section 5).

#[test]
fn a_wrong_oomnitza_token_in_a_multi_page_sync_ends_with_the_401() {
    let world = World::new(2500);
    world.oomnitza.set_api_token("another-token");
    let run = world.run(&["sync"]);
    run.assert_fails_with("Oomnitza rejected the API token (401 on POST /api/v3/bulk)")
        .assert_fails_with("check the oomnitza.token credential")
        .assert_no_secrets();
    assert!(
        !run.stderr.contains("posting to Oomnitza failed"),
        "the listing's stop hides nothing: {}",
        run.stderr
    );
    let failed = run
        .stderr
        .lines()
        .find(|l| l.contains("FAILED"))
        .expect("summary");
    assert!(failed.contains("401"), "{failed}");
}

#[test]
fn vendor_network_errors_name_dropbox_url_in_plain_words() {
    let mut world = World::new(10);
    let real = world.dropbox.url();
    world
        .edit(&real, "http://127.0.0.1:1")
        .append("\n[limits]\nmax_retries = 0\nconnect_timeout_secs = 2\n");
    let run = world.run(&["sync"]);
    run.assert_fails_with("vendor unavailable at http://127.0.0.1:1 (source.url)")
        .assert_fails_with("the connection was refused");
    for debug in ["ErrorCode", "Payload", "ConnectionRefused", "Some("] {
        assert!(!run.stderr.contains(debug), "{debug}: {}", run.stderr);
    }
    // An action by hand says the same.
    let email = world.dropbox.with_team(|t| t.member(3).email);
    let act = world.run(&["action", "deactivate-user", "--user", &email, "--yes"]);
    assert!(!act.ok());
    assert!(
        act.stdout
            .contains("vendor unavailable at http://127.0.0.1:1 (source.url)"),
        "{}",
        act.stdout
    );
    assert!(!act.stdout.contains("ErrorCode"), "{}", act.stdout);

    // A name that does not resolve.
    let mut world = World::new(10);
    let real = world.dropbox.url();
    world
        .edit(&real, "https://dropbox-proxy.invalid:8443")
        .append("\n[limits]\nmax_retries = 0\nconnect_timeout_secs = 2\n");
    let run = world.run(&["sync"]);
    run.assert_fails_with("vendor unavailable at https://dropbox-proxy.invalid:8443 (source.url)");
    assert!(
        run.stderr.contains("could not be resolved") || run.stderr.contains("lookup timed out"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("ErrorCode") && !run.stderr.contains("Dns"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_outage_is_one_warning_per_endpoint_and_state_change() {
    let world = World::new(2000);
    // 20 batches, 16 in flight: each failing attempt used to be a line.
    world.oomnitza.inject(OomnitzaFault::ServerError(502), 40);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert_eq!(world.oomnitza.user_count(), 2000);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("/api/v3/bulk") && !l.contains("portion"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one when it fails, one when it recovers:\n{}",
        run.stderr
    );
    assert!(lines[0].contains("POST /api/v3/bulk is failing") && lines[0].contains("502"));
    assert!(
        lines[1].contains("recovered after 40 failed attempt(s)"),
        "{}",
        lines[1]
    );
    assert!(
        run.stderr.contains("Oomnitza calls retried 40"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_address_outside_the_team_is_reported_as_such_not_unchanged() {
    let world = World::new(20);
    world.run(&["sync"]).assert_ok();
    // Dropbox knows this address, in another team: user_not_in_team.
    world.dropbox.add_outsider("leaver@other-company.example");
    let run = world.run(&[
        "action",
        "delete-user",
        "--user",
        "leaver@other-company.example",
        "--yes",
    ]);
    assert!(!run.ok());
    assert!(
        run.stdout
            .contains("is not a member of this Dropbox team (user_not_in_team"),
        "{}",
        run.stdout
    );
    let result = run
        .stdout
        .lines()
        .find(|l| l.contains("not a member of this Dropbox team"))
        .expect("the result line");
    assert!(result.contains(" failed "), "{result}");
    assert!(
        run.stdout.contains("0 unchanged, 1 failed"),
        "{}",
        run.stdout
    );
    let audit = world.run(&["audit"]);
    assert!(audit.stdout.contains("failed") && audit.stdout.contains("Check the email"));
    // A member removed before is still unchanged on a repeat.
    let member = world.dropbox.with_team(|t| {
        t.members()
            .find(|m| m.status.is_removed())
            .expect("a removed member")
            .email
    });
    let repeat = world.run(&["action", "delete-user", "--user", &member, "--yes"]);
    repeat.assert_ok();
    assert!(repeat.stdout.contains("unchanged"), "{}", repeat.stdout);
}
