//! Whole syncs through the binary: sizes, preferences, modes, dry and test runs.

use connector_fakes::Team;
use serde_json::json;

use crate::support::{World, component, run_bin};

/// Runs a sync of `n` members and checks Oomnitza holds exactly them.
fn sync_team_of(n: usize) {
    let world = World::new(n);
    let run = world.run(&["sync"]);
    run.assert_ok().assert_no_secrets();
    assert_eq!(
        world.oomnitza.user_count(),
        n,
        "held users for a team of {n}"
    );
    assert!(
        run.stderr.contains(&format!("fetched        {n}\n")),
        "{}",
        run.stderr
    );
    let pages = n.div_ceil(1000).max(1) as u64;
    assert_eq!(world.dropbox.stats().pages_served, pages, "pages for {n}");
    if n == 0 {
        let ready = world.oomnitza.ready_portions();
        assert_eq!(ready.len(), 1, "an empty run is reported");
        assert_eq!(ready[0]["body"]["is_empty_run"], true);
        assert!(world.oomnitza.portions().is_empty());
    } else {
        let portions = world.oomnitza.portions();
        assert_eq!(portions.len(), 1, "one portion per run");
        let p = &portions[0];
        assert!(p.finalized, "the portion is finalized");
        assert_eq!(p.records, n);
        assert_eq!(p.created, n);
        assert_eq!(p.batches, n.div_ceil(100));
        assert_eq!(p.sync_field, vec!["EMAIL".to_string()]);
    }
    // Every member is there, by email, with its id.
    world.dropbox.with_team(|team| {
        for m in team.members() {
            let held = world
                .oomnitza
                .user_by("EMAIL", &m.email)
                .unwrap_or_else(|| panic!("{} not held", m.email));
            assert_eq!(held["USER"], m.email.as_str());
            assert_eq!(held["dropbox_user_id"], m.team_member_id.as_str());
        }
    });
}

#[test]
fn syncs_an_empty_team() {
    sync_team_of(0);
}

#[test]
fn syncs_a_team_of_one() {
    sync_team_of(1);
}

#[test]
fn syncs_teams_around_the_page_size() {
    for n in [999, 1000, 1001] {
        sync_team_of(n);
    }
}

#[test]
fn syncs_a_team_of_25000() {
    sync_team_of(25_000);
}

#[test]
fn removed_members_are_skipped_unless_included() {
    let mut world = World::new(400);
    world.edit("include_removed = true", "include_removed = false");
    world.run(&["sync"]).assert_ok();
    let active = world
        .dropbox
        .with_team(|t| t.members().filter(|m| !m.status.is_removed()).count());
    assert!(active < 400, "the team has removed members");
    assert_eq!(world.oomnitza.user_count(), active);
}

#[test]
fn a_second_sync_sends_only_changes_and_full_sends_all() {
    let world = World::new(250);
    world.run(&["sync"]).assert_ok();
    // Nothing changed: nothing is sent, and the run is reported empty.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("not sent       250 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(world.oomnitza.portions().len(), 1);
    assert_eq!(world.oomnitza.ready_portions().len(), 1);
    // One member changes at Dropbox: only that record goes.
    world.dropbox.update_team(|t| {
        let mut m = t.member(3);
        m.name.given_name = "Renamed".into();
        t.set_member(3, m);
    });
    let run = world.run(&["sync"]);
    run.assert_ok();
    let p = world.oomnitza.portions().pop().unwrap();
    assert_eq!((p.records, p.updated), (1, 1), "{}", run.stderr);
    // --full sends everything again, each run its own portion.
    world.run(&["sync", "--full"]).assert_ok();
    let portions = world.oomnitza.portions();
    assert_eq!(portions.len(), 3);
    let last = portions.last().unwrap();
    assert_eq!(last.records, 250);
    assert_eq!(last.created, 0);
    assert_eq!(world.oomnitza.user_count(), 250);
}

#[test]
fn a_mapping_change_sends_everything_again() {
    let mut world = World::new(60);
    world.run(&["sync"]).assert_ok();
    world.append("\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"PERMISSIONS_ID\"\nconstant = 30\n[[mapping.rules]]\ntarget = \"dropbox_status\"\nfield = \"status\"\n");
    // A dry run shows what the real run will send: all 60, and forgets
    // nothing itself.
    let dry = world.run(&["sync", "--dry-run"]);
    dry.assert_ok();
    let shown: usize = dry
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["records"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(shown, 60);
    world.run(&["sync"]).assert_ok();
    let p = world.oomnitza.portions().pop().unwrap();
    assert_eq!(p.records, 60);
}

#[test]
fn create_only_and_update_only_follow_the_preference() {
    // Same seed: a team of 150 holds the first 100 of the team of 100.
    let mut world = World::new(100);
    world.run(&["sync"]).assert_ok();
    world.dropbox.update_team(|t| *t = Team::generate(150, 42));
    world.edit(
        "preference = \"create-and-update\"",
        "preference = \"create-only\"",
    );
    world.run(&["sync", "--full"]).assert_ok();
    let p = world.oomnitza.portions().pop().unwrap();
    assert!(p.insert_only && !p.update_only);
    assert_eq!(
        (p.created, p.skipped + p.unchanged),
        (50, 100),
        "existing records are not touched: {p:?}"
    );

    world.dropbox.update_team(|t| *t = Team::generate(200, 42));
    world.edits.clear();
    world.edit(
        "preference = \"create-and-update\"",
        "preference = \"update-only\"",
    );
    world.run(&["sync", "--full"]).assert_ok();
    let p = world.oomnitza.portions().pop().unwrap();
    assert!(!p.insert_only && p.update_only);
    assert_eq!(p.skipped, 50, "update-only never creates");
    assert_eq!(world.oomnitza.user_count(), 150);
}

#[test]
fn dry_run_prints_payloads_and_sends_nothing() {
    let world = World::new(230);
    let run = world.run(&["sync", "--dry-run"]);
    run.assert_ok().assert_no_secrets();
    assert_eq!(
        world.oomnitza.request_count(),
        0,
        "nothing reached Oomnitza"
    );
    let bodies: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a bulk payload"))
        .collect();
    assert_eq!(bodies.len(), 3, "230 records in batches of 100");
    let records: usize = bodies
        .iter()
        .map(|b| b["records"].as_array().unwrap().len())
        .sum();
    assert_eq!(records, 230);
    assert_eq!(bodies[0]["connector_name"], "Dropbox Users");
    assert_eq!(bodies[0]["data_type"], "users");
    assert_eq!(bodies[0]["sync_field"], serde_json::json!(["EMAIL"]));
    assert!(bodies[0]["portion"].as_str().unwrap().len() == 36);
    assert!(run.stderr.contains("dry run"));
}

#[test]
fn test_run_sends_at_most_ten_records() {
    let world = World::new(500);
    world.run(&["sync", "--test-run"]).assert_ok();
    let p = world.oomnitza.portions().pop().unwrap();
    assert!(p.test_run);
    assert_eq!(p.records, 10);
    assert!(p.finalized);
    assert_eq!(world.oomnitza.user_count(), 10);
}

#[test]
fn user_plus_saas_mode_sends_saas_accounts() {
    let mut world = World::new(30);
    world
        .edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append("\n[saas]\nsaas_id = \"saas-7\"\n");
    world.run(&["sync"]).assert_ok();
    let removed: Vec<String> = world.dropbox.with_team(|t| {
        t.members()
            .filter(|m| m.status.is_removed())
            .map(|m| m.email.to_lowercase())
            .collect()
    });
    assert!(!removed.is_empty(), "the team has removed members");
    for u in world.oomnitza.users() {
        // A removed member is no active SaaS user: no `saas` object.
        if removed.iter().any(|e| u["EMAIL"] == e.as_str()) {
            assert!(u.get("saas").is_none(), "{u}");
            continue;
        }
        let saas = &u["saas"];
        assert_eq!(saas["selected_saas_id"], "saas-7");
        // No saas.name: the integration's name.
        assert_eq!(saas["name"], "Dropbox Users");
        assert_eq!(saas["sync_key"], u["EMAIL"]);
        assert!(saas["role"].is_string());
    }
    // User-only mode sends no saas object.
    let plain = World::new(5);
    plain.run(&["sync"]).assert_ok();
    assert!(
        plain
            .oomnitza
            .users()
            .iter()
            .all(|u| u.get("saas").is_none())
    );
}

#[cfg(feature = "demo")]
#[test]
fn demo_syncs_the_whole_simulated_team() {
    let dir = tempfile::tempdir().unwrap();
    let comp = component();
    let run = run_bin(
        &[
            "demo",
            "--members",
            "300",
            "--component",
            comp.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
        ],
        None,
        &[(
            "XDG_CACHE_HOME",
            crate::support::cache_dir().to_str().unwrap(),
        )],
    );
    run.assert_ok();
    assert!(
        run.stdout.contains("sent           300 in 3 batches"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fake Oomnitza now holds 300 users"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("finalized"));
    // The written config is a valid, complete example.
    let cfg = dir.path().join("oomnitza-connect.toml");
    assert!(cfg.is_file());
}

#[test]
fn describe_lists_the_seed_fields_and_hosts() {
    let comp = component();
    let run = run_bin(
        &["describe", "--component", comp.to_str().unwrap()],
        None,
        &[],
    );
    run.assert_ok();
    for label in [
        "Connector Sync Time",
        "Created at Timestamp",
        "Dropbox Account ID",
        "Dropbox Membership Type",
        "First Name",
        "Last Name",
        "Name",
        "ID",
        "Status",
        "https://api.dropboxapi.com",
        "USER",
        "PERMISSIONS_ID",
    ] {
        assert!(
            run.stdout.contains(label),
            "describe lacks {label}:\n{}",
            run.stdout
        );
    }
    let json = run_bin(
        &["describe", "--json", "--component", comp.to_str().unwrap()],
        None,
        &[],
    );
    json.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["name"], "dropbox");
    assert!(v["fields"].as_array().unwrap().len() >= 20);
}

#[test]
fn validate_accepts_a_complete_config() {
    let world = World::new(1);
    let run = world.run(&["validate"]);
    run.assert_ok().assert_no_secrets();
    assert!(run.stdout.contains("is complete"));
    assert_eq!(
        world.dropbox.stats().requests,
        0,
        "validate makes no vendor calls"
    );
}

/// The lines `runs` prints, newest first.
fn runs_lines(world: &World) -> Vec<String> {
    let runs = world.run(&["runs"]);
    runs.assert_ok();
    runs.stdout.lines().map(str::to_string).collect()
}

#[test]
fn a_test_run_does_not_mark_its_records_as_sent() {
    let mut world = World::new(50);
    // No periodic full run here: it would send everything anyway.
    world.append("\n[sync]\nfull_every = \"off\"\n");
    let run = world.run(&["sync", "--test-run"]);
    run.assert_ok();
    assert!(run.stderr.contains("(test run)"), "{}", run.stderr);
    assert_eq!(world.oomnitza.portions()[0].records, 10);
    // The real sync sends every record, the ten included.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("sent           50 in 1 batches"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("not sent       0 unchanged"),
        "{}",
        run.stderr
    );
    let p = world.oomnitza.portions().pop().unwrap();
    assert_eq!((p.records, p.test_run), (50, false));
    let run = world.run(&["sync"]);
    assert!(
        run.stderr.contains("not sent       50 unchanged"),
        "{}",
        run.stderr
    );
    // 15 members change; a test run sends the first ten of them...
    world.dropbox.update_team(|t| {
        for i in 0..15 {
            let mut m = t.member(i);
            m.name.surname = format!("Changed{i}");
            t.set_member(i, m);
        }
    });
    world.run(&["sync", "--test-run"]).assert_ok();
    assert_eq!(world.oomnitza.portions().pop().unwrap().records, 10);
    // ...and the real sync still sends all 15.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("sent           15 in 1 batches"),
        "{}",
        run.stderr
    );
    let lines = runs_lines(&world);
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["changes", "test", "changes", "changes", "test"],
        "{lines:#?}"
    );
}

#[test]
fn a_full_run_every_full_every_repairs_drift_in_oomnitza_and_serve_honours_it() {
    let world = World::new(60);
    // The first run is full: nothing was ever sent.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("(full run)"), "{}", run.stderr);
    // Someone edits one user and deletes another in Oomnitza.
    let (edited, deleted) = world.dropbox.with_team(|t| {
        (
            t.member(3).email.to_lowercase(),
            t.member(7).email.to_lowercase(),
        )
    });
    assert!(
        world
            .oomnitza
            .set_user_field(&edited, "FIRST_NAME", json!("Edited in Oomnitza"))
    );
    assert!(world.oomnitza.remove_user(&deleted));
    // Change detection alone never repairs that.
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(!run.stderr.contains("(full run)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not sent       60 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(world.oomnitza.user_count(), 59);
    // Eight days later (the default full_every is 7 days), the scheduler's
    // run is a full one.
    let db = world.dir.path().join("oomnitza-connect.db");
    let conn = rusqlite::Connection::open(&db).expect("state database");
    let eight_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 8 * 86_400;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'last_full:Dropbox Users'",
        [eight_days_ago.to_string()],
    )
    .expect("age the last full run");
    conn.execute("UPDATE runs SET started_at = '2000-01-01T00:00:00Z'", [])
        .expect("age the history");
    drop(conn);
    let run = world.run(&["serve", "--max-runs", "1"]);
    run.assert_ok();
    assert!(run.stderr.contains("(full run)"), "{}", run.stderr);
    assert_eq!(world.oomnitza.user_count(), 60, "the deleted user is back");
    let held = world.oomnitza.user_by("EMAIL", &edited).unwrap();
    assert_ne!(
        held["FIRST_NAME"], "Edited in Oomnitza",
        "the edit is repaired"
    );
    let p = world.oomnitza.portions().pop().unwrap();
    assert_eq!((p.records, p.created, p.updated), (60, 1, 1));
    // And the next run is incremental again; `runs` shows which were full.
    let run = world.run(&["sync"]);
    assert!(!run.stderr.contains("(full run)"), "{}", run.stderr);
    let lines = runs_lines(&world);
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["changes", "full", "changes", "full"], "{lines:#?}");
    // Turned off, no run is full unless asked.
    let mut world = world;
    world.append("\n[sync]\nfull_every = \"off\"\n");
    let run = world.run(&["sync"]);
    assert!(!run.stderr.contains("(full run)"), "{}", run.stderr);
    let run = world.run(&["sync", "--full"]);
    assert!(run.stderr.contains("(full run)"), "{}", run.stderr);
}

#[test]
fn answers_without_counts_are_reported_as_accepted_and_a_dry_run_says_what_it_would_send() {
    let world = World::new(250);
    let dry = world.run(&["sync", "--dry-run"]);
    dry.assert_ok();
    assert!(
        dry.stderr.contains("would send     250 in 3 batches"),
        "{}",
        dry.stderr
    );
    assert_eq!(world.oomnitza.request_count(), 0);
    world.oomnitza.answer_bulk_without_counts(true);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("oomnitza       250 accepted (Oomnitza's answers carried no counts)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("0 created"), "{}", run.stderr);
    let lines = runs_lines(&world);
    assert!(lines[0].contains("accepted 250"), "{lines:#?}");
    assert!(!lines[0].contains("created"), "{lines:#?}");
    assert!(lines[1].contains(" dry,full "), "{lines:#?}");
    assert!(lines[1].contains("would send 250"), "{lines:#?}");
    // A dry run of an unchanged team would send nothing.
    let dry = world.run(&["sync", "--dry-run"]);
    assert!(
        dry.stderr.contains("would send     0 in 0 batches"),
        "{}",
        dry.stderr
    );
    assert_eq!(dry.stdout, "");
}

#[test]
fn log_lines_carry_no_colour_codes_off_a_terminal() {
    let world = World::new(30);
    // A retried page makes a warning line.
    world
        .dropbox
        .inject(connector_fakes::DropboxFault::ServerError(503), 1);
    let run = world.run(&["-v", "sync"]);
    run.assert_ok();
    assert!(run.stderr.contains(" WARN "), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "escape codes in: {:?}",
        run.stderr
    );
}

#[test]
fn a_test_run_and_a_real_sync_never_resume_each_others_portion() {
    let mut world = World::new(250);
    world
        .edit("batch_size = 100", "batch_size = 100\nconcurrency = 1")
        .append("\n[limits]\nmax_retries = 1\n");
    // A real sync cut short by an Oomnitza outage leaves its portion open.
    world
        .oomnitza
        .inject(connector_fakes::OomnitzaFault::ServerError(503), 2);
    world
        .run(&["sync"])
        .assert_fails_with("resumes on the next run");
    // A test run does not take it over (its records would be capped).
    world
        .run(&["sync", "--test-run"])
        .assert_fails_with("a sync is unfinished");
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(run.stderr.contains("(resumed)"), "{}", run.stderr);
    assert_eq!(world.oomnitza.user_count(), 250);
    // A test run cut short is abandoned by the next real sync, which
    // starts a portion of its own.
    world
        .oomnitza
        .inject(connector_fakes::OomnitzaFault::ServerError(503), 2);
    world.run(&["sync", "--test-run", "--full"]);
    let run = world.run(&["sync"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("an unfinished test run"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("(resumed)"), "{}", run.stderr);
    assert!(
        world
            .oomnitza
            .portions()
            .iter()
            .filter(|p| !p.test_run)
            .all(|p| p.finalized)
    );
}
