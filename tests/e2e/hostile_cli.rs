//! The hostile component through the real binary: whatever it says never
//! reaches the operator's terminal raw, what it declares never lowers the
//! host's guard, and a flood of host-side resources cannot kill the host
//! under a memory limit.

use std::path::{Path, PathBuf};

use crate::support::{Run, World};

fn attacker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/hostile_attacker.wasm")
}

/// A world whose component is the attacker, with `attack` as its fetch
/// option.
fn world_with(attack: &str) -> World {
    let mut w = World::new(3);
    w.edit(
        &crate::support::component().display().to_string(),
        &attacker().display().to_string(),
    )
    .edit(
        "include_removed = true",
        &format!("options = {{ attack = \"{attack}\" }}"),
    );
    w
}

/// Bytes that start a terminal control sequence: ESC, BEL, and U+009B
/// (CSI) in UTF-8.
fn assert_no_escapes(what: &str, run: &Run) {
    for (stream, bytes) in [
        ("stdout", &run.output.stdout),
        ("stderr", &run.output.stderr),
    ] {
        let esc = bytes.iter().position(|b| *b == 0x1b || *b == 0x07);
        let csi = bytes.windows(2).position(|w| w == [0xc2, 0x9b]);
        assert!(
            esc.is_none() && csi.is_none(),
            "`{what}` wrote a control sequence to {stream}:\n{}",
            String::from_utf8_lossy(bytes).escape_debug()
        );
    }
}

#[test]
fn no_component_text_reaches_the_terminal_raw() {
    let w = world_with("escape-injection");
    let cases: [&[&str]; 8] = [
        &["describe"],
        &["validate"],
        &["credentials", "check"],
        &["action", "delete-user", "--user", "a@example.com", "--yes"],
        &["sync"],
        &["runs"],
        &["audit"],
        &["workflow", "list"],
    ];
    let mut shown = String::new();
    for args in cases {
        let run = w.run(args);
        assert_no_escapes(&args.join(" "), &run);
        run.assert_no_secrets();
        shown.push_str(&run.stdout);
        shown.push_str(&run.stderr);
    }
    // The hostile texts were shown, visibly escaped, not dropped.
    assert!(shown.contains("Attacker\\x1b]0;pwned\\x07"), "{shown}");
    assert!(
        shown.contains("all fine"),
        "the error text is reported: {shown}"
    );
    assert!(shown.contains("ran delete-user"), "{shown}");
    assert!(
        shown.contains("\\u{9b}31m"),
        "the one-byte CSI is shown: {shown}"
    );
}

/// After a listing that ended well the sync asks the seats; the attacker
/// answers with terminal escapes in its error, which the host logs. The
/// sync still succeeds and nothing reaches the terminal raw.
#[test]
fn the_seats_error_reaches_the_log_escaped() {
    let w = world_with("none");
    let run = w.run(&["sync"]);
    run.assert_ok();
    assert_no_escapes("sync", &run);
    assert!(
        run.stderr.contains("seats-escape") && run.stderr.contains("\\u{9b}31m"),
        "the seats error is logged, escaped: {}",
        run.stderr
    );
}

#[test]
fn validate_says_which_origin_holds_the_credential() {
    let mut w = world_with("none");
    w.edit(
        "allow = [\"https://api.dropboxapi.com\"]",
        "# allow not set",
    );
    let run = w.run(&["validate"]);
    run.assert_ok();
    assert!(
        run.stdout.contains(
            "credential source.token → https://api.dropboxapi.com (served at http://127.0.0.1:"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("warning: the component asks for a credential at https://collector.example.com too; it gets none"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("warning: sandbox.allow is not set"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_component_calling_delete_user_harmless_still_needs_confirmation() {
    let w = world_with("none");
    let run = w.run(&["action", "delete-user", "--user", "a@example.com"]);
    run.assert_fails_with("need confirmation")
        .assert_fails_with("--yes");
    assert!(
        !run.stdout.contains("ran delete-user"),
        "it ran: {}",
        run.stdout
    );
}

#[test]
fn a_failed_record_cannot_set_the_operators_targets() {
    let w = world_with("spoof-failure");
    let run = w.run(&["sync", "--dry-run"]);
    run.assert_ok();
    let records: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|b| b["records"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(records.len(), 1, "{}", run.stdout);
    let r = &records[0];
    for key in ["USER", "EMAIL", "PERMISSIONS_ID"] {
        assert!(r.get(key).is_none(), "the component set {key}: {r}");
    }
    assert_eq!(r["email"], "attacker@example.com", "{r}");
    assert_eq!(r["error"], "required field missing", "{r}");
}

#[test]
fn a_header_flood_under_a_memory_limit_does_not_kill_the_host() {
    // 8,000 header sets of 15 KiB would pin ~120 MiB of host memory; the
    // resource cap stops the call first. Under a 1 GiB data limit the host
    // must end with an error, not be killed.
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let w = world_with("header-flood");
    let config = w.write_config();
    let output = std::process::Command::new("prlimit")
        .arg(format!("--data={}", 1u64 << 30))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_oomnitza-connect"))
        .arg("--config")
        .arg(&config)
        .arg("sync")
        .env_remove("RUST_LOG")
        .env("XDG_CACHE_HOME", crate::support::cache_dir().join("xdg"))
        .output()
        .expect("run under prlimit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "killed or wrong exit: {stderr}"
    );
    assert!(stderr.contains("limits.max_host_resources"), "{stderr}");
}

#[test]
fn the_component_cannot_name_the_saas_app_in_oomnitza() {
    // With no saas.name the SaaS records carry a name; it must be the
    // operator's integration.name, never the attacker's display name
    // (which is full of terminal escapes).
    let mut w = world_with("none");
    w.edit("mode = \"user-only\"", "mode = \"user-plus-saas\"")
        .append("\n[saas]\nsaas_id = \"saas-7\"\n");
    let run = w.run(&["sync", "--dry-run"]);
    run.assert_ok();
    let records: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|b| b["records"].as_array().cloned().unwrap_or_default())
        .collect();
    let named: Vec<&serde_json::Value> = records.iter().filter_map(|r| r.get("saas")).collect();
    assert!(!named.is_empty(), "a SaaS record was sent: {}", run.stdout);
    for saas in named {
        assert_eq!(saas["name"], "Dropbox Users", "{saas}");
    }
    assert!(!run.stdout.contains("Attacker"), "{}", run.stdout);
}

/// The team snapshot keeps whatever the component maps, and counts it: an
/// attacker naming a new status, join month and 20 role names for each of
/// 3,000 members (60,000 distinct roles, each with escapes; half of its
/// packed texts with one separator too many) must not grow the counts, the
/// report or its charts with the team, nor shift a value into another
/// column, nor put a raw escape in the report.
#[test]
fn a_flood_of_distinct_values_is_counted_but_not_kept_one_by_one() {
    let w = world_with("snapshot-flood");
    w.run(&["sync"]).assert_ok();
    let db = w.dir.path().join("oomnitza-connect.db");
    let conn = rusqlite::Connection::open(&db).expect("state database");
    let per_dimension: Vec<(String, i64, i64)> = conn
        .prepare(
            "SELECT dimension, count(*), sum(n) FROM snapshot_counts
             WHERE portion = (SELECT current_portion FROM snapshot_slots) GROUP BY dimension",
        )
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("counts");
    let of = |d: &str| {
        per_dimension
            .iter()
            .find(|(dim, _, _)| dim == d)
            .map(|(_, values, sum)| (*values, *sum))
            .unwrap_or_else(|| panic!("no {d} counts: {per_dimension:?}"))
    };
    assert_eq!(of("total"), (1, 3000));
    // Every role of every member counted, in at most 1,000 values and
    // `(other)`.
    let (roles, counted) = of("role");
    assert!(roles <= 1001, "{roles} roles");
    assert_eq!(counted, 60_000);
    let other: i64 = conn
        .query_row(
            "SELECT n FROM snapshot_counts WHERE portion = (SELECT current_portion FROM snapshot_slots)
             AND dimension = 'role' AND value = '(other)'",
            [],
            |r| r.get(0),
        )
        .expect("the roles past the cap");
    assert!(other >= 59_000, "{other} roles counted as other");
    let (statuses, members) = of("status");
    assert!(statuses <= 1001, "{statuses} statuses");
    assert_eq!(members, 3000);
    let (months, _) = of("joined_month");
    assert!(months <= 1001, "{months} months");
    // A packed text that does not split as asked leaves its fields
    // unknown: no even member's status is counted as anything but none.
    let none: i64 = conn
        .query_row(
            "SELECT n FROM snapshot_counts WHERE portion = (SELECT current_portion FROM snapshot_slots)
             AND dimension = 'status' AND value = ''",
            [],
            |r| r.get(0),
        )
        .expect("members without a status");
    assert_eq!(none, 1500);

    let out = w.dir.path().join("report.html");
    w.run(&["report", "--out", out.to_str().expect("utf-8 path")])
        .assert_ok();
    let html = std::fs::read(&out).expect("report written");
    assert!(
        html.len() < 2 << 20,
        "the report grew with the flood: {} bytes",
        html.len()
    );
    let raw = html
        .iter()
        .position(|b| *b == 0x1b || *b == 0x07)
        .or_else(|| html.windows(2).position(|w| w == [0xc2, 0x9b]));
    if let Some(at) = raw {
        let around = &html[at.saturating_sub(300)..(at + 100).min(html.len())];
        panic!(
            "a raw escape reached the report at byte {at}:\n{}",
            String::from_utf8_lossy(around).escape_debug()
        );
    }
}
