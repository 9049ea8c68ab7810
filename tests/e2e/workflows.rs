//! Actions and workflows end to end: the offboarding story, dry runs,
//! confirmation, idempotency, the audit log, and SaaS reconciliation.

use std::time::Duration;

use connector_fakes::{DropboxFault, MemberStatus, Team};
use serde_json::json;

use crate::support::World;

/// Two workflows: suspend on the offboarding date, remove (files to the
/// manager) once flagged for deletion.
fn offboarding_config(admin_email: &str) -> String {
    format!(
        r#"
[[workflow]]
name = "offboard-suspend"
description = "Suspend leavers on their offboarding date, without wiping devices"
trigger = [{{ field = "offboarding_date", op = "le", value = "today" }}]
[[workflow.steps]]
action = "deactivate-user"
params = {{ wipe-data = false }}

[[workflow]]
name = "offboard-remove"
trigger = [{{ field = "to_be_deleted_in_saas", op = "eq", value = "Yes" }}]
[[workflow.steps]]
action = "delete-user"
params = {{ transfer-destination-email = "{{manager_email}}", transfer-admin-email = "{admin_email}" }}
"#
    )
}

/// A synced world of 40 members, with a leaver and their manager picked
/// among the active, non-admin members.
struct Office {
    world: World,
    leaver: String,
    manager: String,
    admin: String,
}

fn office() -> Office {
    let team = Team::generate(40, 42);
    let active: Vec<String> = team
        .members()
        .filter(|m| matches!(m.status, MemberStatus::Active) && m.roles.is_empty())
        .map(|m| m.email)
        .collect();
    let (leaver, manager) = (active[0].clone(), active[1].clone());
    let admin = team.member(0).email;
    let mut world = World::with_team(team);
    world.append(&offboarding_config(&admin));
    world.run(&["sync"]).assert_ok();
    assert!(
        world
            .oomnitza
            .set_user_field(&manager, "email", json!(manager))
    );
    Office {
        world,
        leaver,
        manager,
        admin,
    }
}

/// Runs `action NAME --user USER [--param P]... FLAGS...`.
fn act(
    w: &World,
    action: &str,
    user: &str,
    params: &[&str],
    flags: &[&str],
) -> crate::support::Run {
    let mut args = vec!["action", action, "--user", user];
    for p in params {
        args.extend(["--param", p]);
    }
    args.extend(flags);
    w.run(&args)
}

fn status_of(world: &World, email: &str) -> MemberStatus {
    world.dropbox.member_by_email(email).expect("member").status
}

#[test]
fn a_leaver_is_suspended_then_removed_with_files_to_their_manager() {
    let o = office();
    let w = &o.world;
    let today = oomnitza_connect::workflow::today();
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "offboarding_date", json!(today))
    );
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "manager_email", json!(o.manager))
    );

    let run = w.run(&["workflow", "run", "offboard-suspend", "--yes"]);
    run.assert_ok().assert_no_secrets();
    assert!(run.stdout.contains(&o.leaver), "{}", run.stdout);
    assert!(matches!(status_of(w, &o.leaver), MemberStatus::Suspended));
    let log = w.dropbox.action_log();
    let suspend = log
        .iter()
        .find(|a| a.route.ends_with("members/suspend"))
        .expect("suspend call");
    assert_eq!(
        suspend.args["wipe_data"], false,
        "wipe_data is sent explicitly as false"
    );

    // Later, the leaver is flagged for deletion.
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "to_be_deleted_in_saas", json!("Yes"))
    );
    w.run(&["workflow", "run", "offboard-remove", "--yes"])
        .assert_ok();
    assert!(status_of(w, &o.leaver).is_removed());
    let log = w.dropbox.action_log();
    let remove = log
        .iter()
        .find(|a| a.route.ends_with("members/remove"))
        .expect("remove call");
    assert_eq!(remove.args["transfer_dest_id"]["email"], o.manager.as_str());
    assert_eq!(remove.args["transfer_admin_id"]["email"], o.admin.as_str());
    assert_eq!(remove.args["wipe_data"], false);
    assert_eq!(remove.args["keep_account"], false);

    // The audit log shows both steps.
    let audit = w.run(&["audit"]);
    audit.assert_ok();
    assert!(
        audit.stdout.contains("offboard-suspend") && audit.stdout.contains("deactivate-user"),
        "{}",
        audit.stdout
    );
    assert!(
        audit.stdout.contains("offboard-remove") && audit.stdout.contains("delete-user"),
        "{}",
        audit.stdout
    );
    assert_eq!(
        audit
            .stdout
            .lines()
            .filter(|l| l.contains(&o.leaver))
            .count(),
        2
    );

    // A re-run repeats nothing.
    let calls = w.dropbox.action_log().len();
    let again = w.run(&["workflow", "run", "offboard-suspend", "--yes"]);
    again.assert_ok();
    assert!(again.stdout.contains("already done"), "{}", again.stdout);
    assert_eq!(w.dropbox.action_log().len(), calls, "no new Dropbox call");
}

#[test]
fn dry_runs_change_nothing_anywhere() {
    let o = office();
    let w = &o.world;
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "offboarding_date", json!("2020-01-01"))
    );
    let before = w.dropbox.snapshot();
    let run = w.run(&["workflow", "run", "offboard-suspend", "--dry-run"]);
    run.assert_ok();
    assert!(
        run.stdout.contains(&o.leaver) && run.stdout.contains("wipe-data=false"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("dry run"));
    let by_hand = act(
        w,
        "delete-user",
        &o.leaver,
        &[
            &format!("transfer-destination-email={}", o.manager),
            &format!("transfer-admin-email={}", o.admin),
        ],
        &["--dry-run"],
    );
    by_hand.assert_ok();
    assert_eq!(w.dropbox.snapshot(), before, "Dropbox unchanged");
    assert!(w.dropbox.action_log().is_empty());
    let audit = w.run(&["audit"]);
    assert!(audit.stdout.contains("empty"), "{}", audit.stdout);
}

#[test]
fn destructive_steps_need_yes_off_a_terminal() {
    let o = office();
    let w = &o.world;
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "offboarding_date", json!("2020-01-01"))
    );
    w.run(&["workflow", "run", "offboard-suspend"])
        .assert_fails_with("--yes");
    assert!(w.dropbox.action_log().is_empty());
}

#[test]
fn users_outside_the_trigger_are_left_alone() {
    let o = office();
    let w = &o.world;
    let tomorrow_ish = "2999-01-01";
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "offboarding_date", json!(tomorrow_ish))
    );
    let run = w.run(&["workflow", "run", "offboard-suspend", "--yes"]);
    run.assert_ok();
    assert!(run.stdout.contains("0 step(s)"), "{}", run.stdout);
    assert!(w.dropbox.action_log().is_empty());
}

#[test]
fn actions_by_hand_are_idempotent_and_audited() {
    let o = office();
    let w = &o.world;
    let first = w.run(&["action", "deactivate-user", "--user", &o.leaver, "--yes"]);
    first.assert_ok();
    assert!(first.stdout.contains("done"), "{}", first.stdout);
    let second = w.run(&["action", "deactivate-user", "--user", &o.leaver, "--yes"]);
    second.assert_ok();
    assert!(second.stdout.contains("unchanged"), "{}", second.stdout);
    let back = w.run(&["action", "reactivate-user", "--user", &o.leaver, "--yes"]);
    back.assert_ok();
    assert!(matches!(status_of(w, &o.leaver), MemberStatus::Active));
    let audit = w.run(&["audit"]);
    assert!(audit.stdout.contains("(by hand)"), "{}", audit.stdout);
    assert_eq!(
        audit
            .stdout
            .lines()
            .filter(|l| l.contains(&o.leaver))
            .count(),
        3
    );
}

#[test]
fn invalid_parameter_combinations_are_refused_before_any_call() {
    let o = office();
    let w = &o.world;
    let run = act(
        w,
        "delete-user",
        &o.leaver,
        &["keep-account=true", "wipe-data=true"],
        &["--yes"],
    );
    assert!(!run.ok());
    assert!(
        run.stdout.contains("keep-account") || run.stderr.contains("keep-account"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let run = act(w, "delete-user", &o.leaver, &["bogus=1"], &["--yes"]);
    run.assert_fails_with("bogus");
    let run = act(
        w,
        "delete-user",
        &o.leaver,
        &["wipe-data=maybe"],
        &["--yes"],
    );
    run.assert_fails_with("true or false");
    assert!(w.dropbox.action_log().is_empty());
}

#[test]
fn vendor_error_tags_reach_the_audit_log() {
    let o = office();
    let w = &o.world;
    // Removing a member with their own address as transfer destination.
    let run = act(
        w,
        "delete-user",
        &o.leaver,
        &[
            &format!("transfer-destination-email={}", o.leaver),
            &format!("transfer-admin-email={}", o.admin),
        ],
        &["--yes"],
    );
    assert!(!run.ok());
    assert!(
        run.stdout
            .contains("removed_and_transfer_dest_should_differ"),
        "{}",
        run.stdout
    );
    let audit = w.run(&["audit"]);
    assert!(
        audit
            .stdout
            .contains("removed_and_transfer_dest_should_differ"),
        "{}",
        audit.stdout
    );
    assert!(audit.stdout.contains("failed"));
}

#[test]
fn get_user_role_reads_the_role() {
    let o = office();
    let run = o
        .world
        .run(&["action", "get-user-role", "--user", &o.admin]);
    run.assert_ok();
    assert!(run.stdout.contains("done"), "{}", run.stdout);
}

fn saas_world(members: usize) -> World {
    let mut world = World::new(members);
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append("\n[saas]\nsaas_id = \"dbx\"\ndeactivate_missing = true\n");
    world.oomnitza.insert_saas_user(json!({
        "saas_user_id": "ghost-1", "sync_key": "ghost@gone.example", "selected_saas_id": "dbx",
        "name": "Dropbox", "email": "ghost@gone.example", "status": "active"
    }));
    world
}

fn ghost_status(world: &World) -> String {
    world
        .oomnitza
        .saas_users()
        .into_iter()
        .find(|u| u["saas_user_id"] == "ghost-1")
        .map(|u| u["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn saas_users_missing_from_dropbox_are_deactivated_after_a_full_sync() {
    let world = saas_world(120);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert_eq!(ghost_status(&world), "inactive", "{}", run.stderr);
    assert!(run.stderr.contains("1 deactivated"), "{}", run.stderr);
    let active = world
        .oomnitza
        .saas_users()
        .iter()
        .filter(|u| u["status"] == "active")
        .count();
    // Removed members (listed with include_removed) are no SaaS users.
    let listed = world
        .dropbox
        .with_team(|t| t.members().filter(|m| !m.status.is_removed()).count());
    assert_eq!(active, listed, "everyone Dropbox lists stays active");
}

#[test]
fn a_fault_mid_listing_never_deactivates_anyone() {
    let mut world = saas_world(2500);
    world.append("\n[limits]\nmax_retries = 1\n");
    // The first page is served, then Dropbox fails for good.
    world.dropbox.inject(DropboxFault::Slow(Duration::ZERO), 1);
    world.dropbox.inject(DropboxFault::ServerError(500), 20);
    let run = world.run(&["sync"]);
    run.assert_fails_with("vendor unavailable");
    assert_eq!(
        ghost_status(&world),
        "active",
        "a partial listing proves nothing"
    );
}

#[test]
fn roles_are_set_and_read_back() {
    let o = office();
    let w = &o.world;
    let run = act(
        w,
        "set-user-role",
        &o.leaver,
        &["role=User management admin"],
        &["--yes"],
    );
    run.assert_ok();
    let member = w.dropbox.member_by_email(&o.leaver).expect("member");
    assert_eq!(
        member
            .roles
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["User management admin"]
    );
    act(w, "set-user-role", &o.leaver, &["role=member"], &["--yes"]).assert_ok();
    assert!(
        w.dropbox
            .member_by_email(&o.leaver)
            .expect("member")
            .roles
            .is_empty()
    );
    let run = act(
        w,
        "set-user-role",
        &o.leaver,
        &["role=Chief Wizard"],
        &["--yes"],
    );
    assert!(!run.ok());
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("Team admin"),
        "lists the roles: {}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn an_async_removal_is_polled_to_completion_and_a_repeat_is_unchanged() {
    let o = office();
    let w = &o.world;
    w.dropbox.set_remove_async_polls(2);
    let run = w.run(&["action", "delete-user", "--user", &o.leaver, "--yes"]);
    run.assert_ok();
    assert!(run.stdout.contains("done"), "{}", run.stdout);
    assert!(status_of(w, &o.leaver).is_removed());
    let again = w.run(&["action", "delete-user", "--user", &o.leaver, "--yes"]);
    again.assert_ok();
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
}

#[test]
fn keep_account_with_retained_shares_is_sent_as_asked() {
    let o = office();
    let w = &o.world;
    let run = act(
        w,
        "delete-user",
        &o.leaver,
        &["keep-account=true", "retain-team-shares=true"],
        &["--yes"],
    );
    run.assert_ok();
    let log = w.dropbox.action_log();
    let remove = log
        .iter()
        .find(|a| a.route.ends_with("members/remove"))
        .expect("remove call");
    assert_eq!(remove.args["keep_account"], true);
    assert_eq!(remove.args["retain_team_shares"], true);
    assert_eq!(remove.args["wipe_data"], false);
}

#[test]
fn the_last_admin_cannot_be_suspended() {
    let o = office();
    let admins: Vec<String> = Team::generate(40, 42)
        .members()
        .filter(|m| {
            matches!(m.status, MemberStatus::Active)
                && m.roles.iter().any(|r| r.name == "Team admin")
        })
        .map(|m| m.email)
        .collect();
    let (last, others) = admins.split_last().expect("the team has an admin");
    for a in others {
        o.world
            .run(&["action", "deactivate-user", "--user", a, "--yes"])
            .assert_ok();
    }
    let run = o
        .world
        .run(&["action", "deactivate-user", "--user", last, "--yes"]);
    assert!(!run.ok());
    assert!(run.stdout.contains("suspend_last_admin"), "{}", run.stdout);
    assert!(matches!(status_of(&o.world, last), MemberStatus::Active));
}

// ---------------------------------------------------------------------------
// Workflows that run themselves, safely (issue 11, section 4).

/// Active members without an admin role, by email.
fn plain_members(team: &Team) -> Vec<String> {
    team.members()
        .filter(|m| matches!(m.status, MemberStatus::Active) && m.roles.is_empty())
        .map(|m| m.email)
        .collect()
}

/// A person in the fake Oomnitza before any sync, as an HR system would
/// have put them there.
fn person(world: &World, email: &str, extra: serde_json::Value) {
    let mut record = json!({"USER": email, "EMAIL": email, "PERMISSIONS_ID": 25});
    for (k, v) in extra.as_object().expect("object") {
        record[k] = v.clone();
    }
    world.oomnitza.insert_user(record);
}

#[test]
fn serve_runs_workflows_after_each_sync_and_on_their_own_schedule() {
    let team = Team::generate(40, 42);
    let plain = plain_members(&team);
    let (leaver, flagged, manager) = (plain[0].clone(), plain[1].clone(), plain[2].clone());
    let admin = team.member(0).email;
    let mut world = World::with_team(team);
    world.append(&format!(
        r#"
[[workflow]]
name = "suspend-after-sync"
after_sync = true
trigger = [{{ field = "offboarding_date", op = "le", value = "today" }}]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "remove-hourly"
every = "hourly"
at = "00:15"
trigger = [{{ field = "to_be_deleted_in_saas", op = "eq", value = "Yes" }}]
[[workflow.steps]]
action = "delete-user"
params = {{ transfer-destination-email = "{{manager_email}}", transfer-admin-email = "{admin}" }}

[[workflow]]
name = "by-hand"
trigger = [{{ field = "offboarding_date", op = "le", value = "today" }}]
[[workflow.steps]]
action = "get-user-role"
"#
    ));
    person(
        &world,
        &leaver,
        json!({"offboarding_date": oomnitza_connect::workflow::today()}),
    );
    person(
        &world,
        &flagged,
        json!({"to_be_deleted_in_saas": "Yes", "manager_email": manager}),
    );

    // The sync was missed (none ever ran): it runs at start, then the
    // workflow that follows syncs; the hourly one runs at start too.
    let run = world.run(&["serve", "--max-runs", "1"]);
    run.assert_ok().assert_no_secrets();
    assert!(
        matches!(status_of(&world, &leaver), MemberStatus::Suspended),
        "{}",
        run.stderr
    );
    assert!(status_of(&world, &flagged).is_removed(), "{}", run.stderr);
    let routes: Vec<String> = world
        .dropbox
        .action_log()
        .into_iter()
        .map(|a| a.route)
        .collect();
    assert_eq!(
        routes,
        ["team/members/suspend", "team/members/remove"],
        "the sync, then after-sync workflows, then the timed ones; nothing by hand"
    );
    assert!(
        run.stderr.contains("workflow `suspend-after-sync`: 1 done"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("workflow `remove-hourly`: 1 done"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("by-hand"), "{}", run.stderr);
    let audit = world.run(&["audit"]);
    assert!(audit.stdout.contains("suspend-after-sync") && audit.stdout.contains("remove-hourly"));

    // `schedule` shows each workflow's schedule and next runs.
    let sched = world.run(&["schedule", "--count", "2"]);
    sched.assert_ok();
    assert!(
        sched
            .stdout
            .contains("workflow `suspend-after-sync` runs after each sync"),
        "{}",
        sched.stdout
    );
    assert!(
        sched
            .stdout
            .contains("workflow `remove-hourly` runs hourly at :15; next runs (UTC):"),
        "{}",
        sched.stdout
    );
    assert_eq!(
        sched.stdout.matches(":15:00Z").count(),
        2,
        "{}",
        sched.stdout
    );
    assert!(
        sched
            .stdout
            .contains("workflow `by-hand` runs by hand only"),
        "{}",
        sched.stdout
    );
}

#[test]
fn a_saas_user_workflow_acts_on_the_apps_flagged_users_only() {
    let team = Team::generate(40, 42);
    let plain = plain_members(&team);
    let (leaver, other) = (plain[0].clone(), plain[1].clone());
    let mut world = World::with_team(team);
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append(
            r#"
[saas]
saas_id = "dbx"

[[workflow]]
name = "delete-flagged-saas-users"
on = "saas-users"
trigger = [{ field = "to_be_deleted_in_saas", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "delete-user"
"#,
        );
    world.run(&["sync"]).assert_ok();
    let saas_id_of = |email: &str| {
        world
            .oomnitza
            .saas_users()
            .into_iter()
            .find(|u| u["email"] == email && u["selected_saas_id"] == "dbx")
            .and_then(|u| u["saas_user_id"].as_str().map(str::to_string))
            .expect("the sync made a SaaS user")
    };
    // The seed's "To be Deleted in SaaS = Yes", on the leaver's Dropbox
    // account, and on another member's account in a different app.
    assert!(world.oomnitza.set_saas_user_field(
        &saas_id_of(&leaver),
        "to_be_deleted_in_saas",
        json!("Yes")
    ));
    world.oomnitza.insert_saas_user(json!({
        "sync_key": other, "selected_saas_id": "slack", "name": "Slack",
        "email": other, "to_be_deleted_in_saas": "Yes",
    }));

    let run = world.run(&["workflow", "run", "delete-flagged-saas-users", "--yes"]);
    run.assert_ok();
    assert!(status_of(&world, &leaver).is_removed());
    assert!(
        matches!(status_of(&world, &other), MemberStatus::Active),
        "a Slack account's flag never removes anyone from Dropbox"
    );
    assert_eq!(world.dropbox.action_log().len(), 1);
    // The SaaS users were read for the Dropbox app only.
    assert!(run.stdout.contains("1 user(s)"), "{}", run.stdout);

    // Without [saas], a SaaS-user workflow does not load.
    let mut bare = World::new(5);
    bare.append(
        "\n[[workflow]]\nname = \"w\"\non = \"saas-users\"\ntrigger = [{ field = \"x\", op = \"eq\", value = \"Yes\" }]\nsteps = [{ action = \"delete-user\" }]\n",
    );
    bare.run(&["validate"])
        .assert_fails_with("needs a [saas] table");
}

#[test]
fn a_trigger_field_no_record_carries_is_an_error_naming_the_closest() {
    let mut o = office();
    assert!(
        o.world
            .oomnitza
            .set_user_field(&o.leaver, "offboarding_date", json!("2020-01-01"))
    );
    // Typos that would select nobody (le) or everybody (ne).
    o.world.append(&format!(
        r#"
[[workflow]]
name = "typo-le"
trigger = [{{ field = "offboardng_date", op = "le", value = "today" }}]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "typo-ne"
trigger = [{{ field = "offboardng_date", op = "ne", value = "2020-01-01" }}]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "placeholder"
trigger = [{{ field = "offboarding_date", op = "le", value = "today" }}]
[[workflow.steps]]
action = "delete-user"
params = {{ transfer-destination-email = "{{managr_email}}", transfer-admin-email = "{}" }}
"#,
        o.admin
    ));
    let w = &o.world;
    for name in ["typo-le", "typo-ne"] {
        let run = w.run(&["workflow", "run", name, "--yes"]);
        run.assert_fails_with("the trigger field `offboardng_date` is carried by none of the 40");
        run.assert_fails_with("the closest field that exists is `offboarding_date`");
        run.assert_fails_with("Nothing was done");
    }
    // The same for a `{field}` a step takes from the record.
    w.run(&["workflow", "run", "placeholder", "--yes"])
        .assert_fails_with("the parameter field `managr_email` is carried by none");
    assert!(w.dropbox.action_log().is_empty(), "nothing reached Dropbox");
}

#[test]
fn conditions_compare_numbers_as_numbers_and_dates_as_dates() {
    let mut o = office();
    let today = oomnitza_connect::workflow::today();
    let plain = plain_members(&Team::generate(40, 42));
    o.world.append(
        r#"
[[workflow]]
name = "numbers"
trigger = [{ field = "employee_number", op = "gt", value = 10 }]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "dates"
trigger = [{ field = "offboarding_date", op = "le", value = "today" }]
[[workflow.steps]]
action = "deactivate-user"

[[workflow]]
name = "wrong"
trigger = [{ field = "employee_number", op = "le", value = "today" }]
[[workflow.steps]]
action = "deactivate-user"
"#,
    );
    let w = &o.world;
    // employee_number: 25 beats 10 as a number (as text "25" < "3").
    w.oomnitza
        .set_user_field(&plain[0], "employee_number", json!(25));
    w.oomnitza
        .set_user_field(&plain[1], "employee_number", json!("3"));
    // A timestamp later today is still "le today" (as text it is greater).
    w.oomnitza.set_user_field(
        &plain[2],
        "offboarding_date",
        json!(format!("{today}T23:00:00Z")),
    );
    w.oomnitza
        .set_user_field(&plain[3], "offboarding_date", json!("2999-01-01"));
    let run = w.run(&["workflow", "run", "numbers", "--dry-run"]);
    run.assert_ok();
    assert!(run.stdout.contains(&plain[0]), "{}", run.stdout);
    assert!(!run.stdout.contains(&plain[1]), "{}", run.stdout);
    assert!(run.stdout.contains("1 user(s)"), "{}", run.stdout);
    let run = w.run(&["workflow", "run", "dates", "--dry-run"]);
    run.assert_ok();
    assert!(run.stdout.contains(&plain[2]), "{}", run.stdout);
    assert!(!run.stdout.contains(&plain[3]), "{}", run.stdout);
    // A number compared as a date is a wrong condition, not bad data.
    w.run(&["workflow", "run", "wrong", "--dry-run"])
        .assert_fails_with("compares `employee_number` as a date, but none of the 2 values");
    assert!(w.dropbox.action_log().is_empty());
}

#[test]
fn validate_checks_workflows_statically_with_the_connectors_rules() {
    let mut world = World::new(5);
    world.append(
        r#"
[[workflow]]
name = "good"
trigger = [{ field = "to_be_deleted_in_saas", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "delete-user"
params = { transfer-destination-email = "{manager_email}", transfer-admin-email = "it@corp.com" }

[[workflow]]
name = "keep-and-wipe"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "delete-user"
params = { keep-account = true, wipe-data = true }

[[workflow]]
name = "shares-without-account"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "delete-user"
params = { retain-team-shares = true }

[[workflow]]
name = "transfer-without-admin"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "delete-user"
params = { transfer-destination-email = "{manager_email}" }

[[workflow]]
name = "typed"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "deactivate-user"
params = { wipe-data = 3 }

[[workflow]]
name = "unknown"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "deactivate-user"
params = { wipe_data = false }

[[workflow]]
name = "no-such-action"
trigger = [{ field = "x", op = "eq", value = "Yes" }]
[[workflow.steps]]
action = "wipe-everything"
"#,
    );
    let run = world.run(&["validate"]);
    assert!(!run.ok(), "{}", run.stdout);
    let line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!("workflow `{name}`")))
            .unwrap_or_else(|| panic!("no line for {name}: {}", run.stdout))
            .to_string()
    };
    assert!(line("good").contains("is valid"), "{}", run.stdout);
    // The effective parameters, defaults included, `{field}` as written.
    assert!(
        run.stdout.contains(
            "step 1 delete-user wipe-data=false transfer-destination-email={manager_email} transfer-admin-email=\"it@corp.com\" keep-account=false retain-team-shares=false"
        ),
        "{}",
        run.stdout
    );
    for (name, needle) in [
        (
            "keep-and-wipe",
            "keep-account requires wipe-data to be false",
        ),
        (
            "shares-without-account",
            "retain-team-shares requires wipe-data to be false and keep-account to be true",
        ),
        (
            "transfer-without-admin",
            "transfer-destination-email requires transfer-admin-email",
        ),
        (
            "typed",
            "parameter `wipe-data` must be true or false, not 3",
        ),
        ("unknown", "has no parameter `wipe_data`"),
        ("no-such-action", "has no action `wipe-everything`"),
    ] {
        let l = line(name);
        assert!(l.contains("INVALID") && l.contains(needle), "{name}: {l}");
    }
    assert_eq!(
        world.dropbox.stats().requests,
        0,
        "validate makes no vendor call"
    );
    assert_eq!(world.oomnitza.request_count(), 0, "nor reads Oomnitza");
}

#[test]
fn dry_runs_show_the_effective_parameters_defaults_included() {
    let o = office();
    let w = &o.world;
    let run = act(w, "deactivate-user", &o.leaver, &[], &["--dry-run"]);
    run.assert_ok();
    assert!(run.stdout.contains("wipe-data=false"), "{}", run.stdout);
    let run = act(
        w,
        "delete-user",
        &o.leaver,
        &[
            &format!("transfer-destination-email={}", o.manager),
            &format!("transfer-admin-email={}", o.admin),
        ],
        &["--dry-run"],
    );
    run.assert_ok();
    for p in [
        "wipe-data=false",
        "keep-account=false",
        "retain-team-shares=false",
    ] {
        assert!(run.stdout.contains(p), "{p}: {}", run.stdout);
    }
    // The connector's rules apply to a dry run too, naming the rule.
    act(
        w,
        "delete-user",
        &o.leaver,
        &["keep-account=true", "wipe-data=true"],
        &["--dry-run"],
    )
    .assert_fails_with("keep-account requires wipe-data to be false");
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "to_be_deleted_in_saas", json!("Yes"))
    );
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "manager_email", json!(o.manager))
    );
    let run = w.run(&["workflow", "run", "offboard-remove", "--dry-run"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains(&format!("transfer-destination-email=\"{}\"", o.manager))
            && run.stdout.contains("keep-account=false"),
        "{}",
        run.stdout
    );
    assert!(w.dropbox.action_log().is_empty());
}

#[test]
fn users_a_workflow_cannot_act_on_are_in_the_audit_log_with_the_reason() {
    let o = office();
    let w = &o.world;
    // Flagged for deletion, but nobody recorded their manager.
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "to_be_deleted_in_saas", json!("Yes"))
    );
    w.oomnitza
        .set_user_field(&o.manager, "manager_email", json!("boss@corp.com"));
    let run = w.run(&["workflow", "run", "offboard-remove", "--yes"]);
    assert!(!run.ok(), "a user that could not be acted on fails the run");
    assert!(run.stdout.contains("1 could not run"), "{}", run.stdout);
    let audit = w.run(&["audit"]);
    let line = audit
        .stdout
        .lines()
        .find(|l| l.contains(&o.leaver))
        .unwrap_or_else(|| panic!("{}", audit.stdout))
        .to_string();
    assert!(
        line.contains("not-run")
            && line.contains(
                "the record has no `manager_email` for parameter `transfer-destination-email`"
            ),
        "{line}"
    );
    // A later run with the same reason does not repeat the entry.
    w.run(&["workflow", "run", "offboard-remove", "--yes"]);
    let audit = w.run(&["audit"]);
    assert_eq!(
        audit
            .stdout
            .lines()
            .filter(|l| l.contains(&o.leaver))
            .count(),
        1
    );
    assert!(w.dropbox.action_log().is_empty());
    // Once the field is filled in, the user is acted on.
    assert!(
        w.oomnitza
            .set_user_field(&o.leaver, "manager_email", json!(o.manager))
    );
    w.run(&["workflow", "run", "offboard-remove", "--yes"])
        .assert_ok();
    assert!(status_of(w, &o.leaver).is_removed());
}

#[test]
fn repeated_users_are_batched_for_role_reads() {
    let o = office();
    let w = &o.world;
    let team = Team::generate(40, 42);
    let plain = plain_members(&team);
    let run = w.run(&[
        "action",
        "get-user-role",
        "--user",
        &plain[0],
        "--user",
        &plain[1],
        "--user",
        &o.admin,
    ]);
    run.assert_ok();
    assert_eq!(run.stdout.matches(" done ").count(), 3, "{}", run.stdout);
    let reads = w
        .dropbox
        .requests()
        .iter()
        .filter(|r| r.path == "/2/team/members/get_info_v2")
        .count();
    assert_eq!(reads, 1, "three users, one get_info_v2 request");
    assert!(run.stdout.contains("Team admin"), "{}", run.stdout);
}

#[test]
fn a_workflow_acts_on_concurrency_users_at_once_within_rate_limits() {
    let team = Team::generate(40, 42);
    let plain = plain_members(&team);
    let mut world = World::with_team(team);
    world.append(
        r#"
[[workflow]]
name = "suspend-many"
concurrency = 4
trigger = [{ field = "offboarding_date", op = "le", value = "today" }]
[[workflow.steps]]
action = "deactivate-user"
"#,
    );
    world.run(&["sync"]).assert_ok();
    let leavers = &plain[..12];
    for l in leavers {
        assert!(
            world
                .oomnitza
                .set_user_field(l, "offboarding_date", json!("2020-01-01"))
        );
    }
    world.dropbox.set_action_delay(Duration::from_millis(150));
    // Dropbox takes 5 writes a second here; the rest come back 429.
    world.dropbox.set_write_limit(Some(5));
    let run = world.run(&["workflow", "run", "suspend-many", "--yes"]);
    run.assert_ok();
    for l in leavers {
        assert!(
            matches!(status_of(&world, l), MemberStatus::Suspended),
            "{l}"
        );
    }
    assert_eq!(
        world.dropbox.max_concurrent_actions(),
        4,
        "four at once, never more"
    );
    assert!(
        world.dropbox.write_limited() > 0,
        "the write limit was reached"
    );
    assert!(run.stdout.contains("12 done"), "{}", run.stdout);
    assert!(
        run.stdout.contains("retried after rate limits"),
        "{}",
        run.stdout
    );
    assert_eq!(
        world
            .dropbox
            .action_log()
            .iter()
            .filter(|a| a.outcome == "success")
            .count(),
        12,
        "each suspended once"
    );
}
