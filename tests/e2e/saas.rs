//! SaaS reconciliation (`[saas] deactivate_missing`): removed members,
//! reactivation of what the tool deactivated, the mass-deactivation
//! safeguard, and the config check. The resume × reconciliation matrix is in
//! `durability.rs`.

use connector_fakes::{MemberStatus, Team};
use serde_json::json;

use crate::support::World;

/// "User plus SaaS user" with `deactivate_missing`, SaaS app `dbx`.
fn saas_world(members: usize) -> World {
    let mut world = World::new(members);
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append("\n[saas]\nsaas_id = \"dbx\"\ndeactivate_missing = true\n");
    world
}

/// The status of the SaaS user keyed `key`, if there is one.
fn status(world: &World, key: &str) -> Option<String> {
    world
        .oomnitza
        .saas_users()
        .into_iter()
        .find(|u| u["sync_key"] == key)
        .map(|u| u["status"].as_str().unwrap_or_default().to_string())
}

fn count(world: &World, status: &str) -> usize {
    world
        .oomnitza
        .saas_users()
        .iter()
        .filter(|u| u["status"] == status)
        .count()
}

/// Sets member `i`'s status; returns its SaaS key (email, lower-cased).
fn set_status(world: &World, i: usize, status: MemberStatus) -> String {
    world.dropbox.update_team(|t| {
        let mut m = t.member(i);
        m.status = status;
        let key = m.email.to_lowercase();
        t.set_member(i, m);
        key
    })
}

const REMOVED: MemberStatus = MemberStatus::Removed {
    is_recoverable: true,
    is_disconnected: false,
};

/// An active member that is no Team admin.
fn plain_member(world: &World, from: usize) -> usize {
    world.dropbox.with_team(|t| {
        (from..t.len())
            .find(|&i| {
                let m = t.member(i);
                m.status == MemberStatus::Active && !m.is_team_admin()
            })
            .expect("an active member")
    })
}

#[test]
fn removed_members_are_no_active_saas_users() {
    let world = saas_world(120);
    let run = world.run(&["sync"]);
    run.assert_ok();
    // Listed with include_removed = true, but no SaaS user is made for them.
    let removed: Vec<String> = world.dropbox.with_team(|t| {
        t.members()
            .filter(|m| m.status.is_removed())
            .map(|m| m.email.to_lowercase())
            .collect()
    });
    assert!(!removed.is_empty());
    for key in &removed {
        assert_eq!(status(&world, key), None, "{key}");
        let user = world.oomnitza.user_by("EMAIL", key).expect("user record");
        assert!(user.get("saas").is_none(), "{user}");
    }
    assert_eq!(count(&world, "active"), 120 - removed.len());
    // A member removed since is deactivated by the next run.
    let i = plain_member(&world, 10);
    let key = set_status(&world, i, REMOVED);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert_eq!(status(&world, &key).as_deref(), Some("inactive"));
    assert!(
        run.stderr.contains("1 deactivated (no longer listed)"),
        "{}",
        run.stderr
    );
    assert_eq!(count(&world, "inactive"), 1);
}

#[test]
fn a_member_the_tool_deactivated_is_reactivated_when_listed_again() {
    let world = saas_world(120);
    // An admin deactivated this member's SaaS user by hand in Oomnitza:
    // not the tool's doing, so the tool leaves it alone.
    let by_hand = plain_member(&world, 40);
    let by_hand_key = world
        .dropbox
        .with_team(|t| t.member(by_hand).email.to_lowercase());
    world.oomnitza.insert_saas_user(json!({
        "sync_key": by_hand_key, "selected_saas_id": "dbx", "name": "Dropbox",
        "email": by_hand_key, "status": "inactive"
    }));
    world.run(&["sync"]).assert_ok();
    let i = plain_member(&world, 5);
    let key = set_status(&world, i, REMOVED);
    world.run(&["sync"]).assert_ok();
    assert_eq!(status(&world, &key).as_deref(), Some("inactive"));
    // Recovered in Dropbox: the next run heals the deactivation.
    set_status(&world, i, MemberStatus::Active);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("0 deactivated (no longer listed), 1 reactivated"),
        "{}",
        run.stderr
    );
    assert_eq!(status(&world, &key).as_deref(), Some("active"));
    assert_eq!(status(&world, &by_hand_key).as_deref(), Some("inactive"));
    // Healed once: the next run has nothing to do.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        !run.stderr.contains("reactivated (listed"),
        "{}",
        run.stderr
    );
    assert_eq!(count(&world, "inactive"), 1, "only the admin's own");
    let runs = world.run(&["runs"]);
    assert!(
        runs.stdout.contains("saas 0 deactivated 1 reactivated"),
        "{}",
        runs.stdout
    );
}

#[test]
fn a_mass_deactivation_is_refused_until_an_operator_confirms_it_once() {
    let world = saas_world(200);
    world.run(&["sync"]).assert_ok();
    let active = count(&world, "active");
    // A listing that comes back empty (a token of another team, a lost
    // scope) would deactivate everyone: refused.
    world.dropbox.update_team(|t| *t = Team::generate(0, 42));
    world
        .run(&["sync"])
        .assert_fails_with(&format!("would deactivate {active} of the {active} active"));
    assert_eq!(count(&world, "inactive"), 0, "nobody was deactivated");
    world.dropbox.update_team(|t| *t = Team::generate(200, 42));
    // 50 members vanish from the listing (an API scope, a wrong team...).
    world.dropbox.update_team(|t| *t = Team::generate(150, 42));
    let gone = Team::generate(200, 42)
        .members()
        .skip(150)
        .filter(|m| !m.status.is_removed())
        .count();
    let run = world.run(&["sync"]);
    run.assert_fails_with("SaaS reconciliation refused");
    for needle in [
        format!("would deactivate {gone} of the {active} active SaaS users of Dropbox"),
        format!("allows ({}; setting: the default, 10%)", active / 10),
        "Nobody was deactivated".to_string(),
        "--allow-mass-deactivation".to_string(),
        "saas.max_deactivations".to_string(),
    ] {
        assert!(run.stderr.contains(&needle), "{needle}:\n{}", run.stderr);
    }
    assert_eq!(count(&world, "inactive"), 0, "nobody was deactivated");
    // The user records were still delivered and the portion closed.
    assert!(world.oomnitza.portions().iter().all(|p| p.finalized));
    let runs = world.run(&["runs"]);
    assert!(runs.stdout.contains("failed"), "{}", runs.stdout);
    // Refused again without the confirmation.
    world
        .run(&["sync"])
        .assert_fails_with("SaaS reconciliation refused");
    assert_eq!(count(&world, "inactive"), 0);
    // The operator confirms once.
    let run = world.run(&["sync", "--allow-mass-deactivation"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains(&format!("{gone} deactivated (no longer listed)")),
        "{}",
        run.stderr
    );
    assert_eq!(count(&world, "inactive"), gone);

    // The confirmation was for that run only: 30 more vanish, refused
    // again, until the setting allows them.
    world.dropbox.update_team(|t| *t = Team::generate(120, 42));
    let more = Team::generate(150, 42)
        .members()
        .skip(120)
        .filter(|m| !m.status.is_removed())
        .count();
    world
        .run(&["sync"])
        .assert_fails_with("SaaS reconciliation refused");
    assert_eq!(count(&world, "inactive"), gone);
    let mut world = world;
    world.append(&format!("max_deactivations = {more}\n"));
    world.run(&["sync"]).assert_ok();
    assert_eq!(count(&world, "inactive"), gone + more);
}

#[test]
fn deactivate_missing_in_user_only_mode_is_a_config_error() {
    let mut world = World::new(5);
    world.append("\n[saas]\nsaas_id = \"dbx\"\ndeactivate_missing = true\n");
    for verb in [&["validate"][..], &["sync"]] {
        let run = world.run(verb);
        run.assert_fails_with(
            "saas.deactivate_missing = true needs integration.mode = \"user-plus-saas\"",
        );
    }
    assert_eq!(world.oomnitza.request_count(), 0);
    assert_eq!(world.dropbox.stats().requests, 0);
    // A bad threshold is named too.
    world.edits.push((
        "mode = \"user-only\"".into(),
        "mode = \"user-plus-saas\"".into(),
    ));
    world.append("max_deactivations = \"lots\"\n");
    world
        .run(&["validate"])
        .assert_fails_with("saas.max_deactivations = \"lots\"");
}
