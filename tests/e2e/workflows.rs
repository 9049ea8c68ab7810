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
