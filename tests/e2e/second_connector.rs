//! A second connector through the same host: the Slack SCIM component
//! (`connectors/scim`), built on the connector SDK, against the fake Slack
//! SCIM API and the fake Oomnitza, with the same config format as Dropbox.
//! Nothing in the host is told about Slack: it learns the fields, the
//! smart mapping, the origin and the actions from the manifest.

use std::path::{Path, PathBuf};

use connector_fakes::{
    FakeOomnitza, FakeSlackScim, OomnitzaConfig, SlackScimConfig, SlackScimFault, Team,
};

use crate::support::{OOMNITZA_TOKEN, Run, cache_dir, run_bin};

const SLACK_TOKEN: &str = "xoxp-e2e-slack-secret-5d21";

/// The component built by `cargo build --release --target wasm32-wasip2 -p slack-scim-connector`.
fn component() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/slack_scim_connector.wasm");
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/dev component`",
        p.display()
    );
    p
}

struct Slack {
    slack: FakeSlackScim,
    oomnitza: FakeOomnitza,
    dir: tempfile::TempDir,
}

impl Slack {
    fn new(people: usize) -> Slack {
        let slack = FakeSlackScim::start(SlackScimConfig::from_team(
            &Team::generate(people, 42),
            SLACK_TOKEN,
        ))
        .expect("fake Slack starts");
        let oomnitza =
            FakeOomnitza::start(OomnitzaConfig::new(OOMNITZA_TOKEN)).expect("fake Oomnitza starts");
        let dir = tempfile::tempdir().expect("temp dir");
        oomnitza_connect::credentials::write_secrets_file(
            &dir.path().join("secrets.toml"),
            &[
                ("slack_token", SLACK_TOKEN),
                ("oomnitza_token", OOMNITZA_TOKEN),
            ],
        )
        .expect("secrets file");
        let config = format!(
            r#"[integration]
name = "Slack Users"
mode = "user-only"
preference = "create-and-update"

[component]
path = {component:?}
cache_dir = {cache:?}

[source]
url = "{slack}"                     # where https://api.slack.com is served
token = {{ file = "secrets.toml", key = "slack_token" }}
page_size = 10

[oomnitza]
url = "{oomnitza}"
token = {{ file = "secrets.toml", key = "oomnitza_token" }}
batch_size = 100
role = 25

[sandbox]
allow = ["https://api.slack.com"]
allow_loopback = true
"#,
            component = component().display().to_string(),
            cache = cache_dir().display().to_string(),
            slack = slack.url(),
            oomnitza = oomnitza.url(),
        );
        std::fs::write(dir.path().join("oomnitza-connect.toml"), config).expect("write config");
        Slack {
            slack,
            oomnitza,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let run = run_bin(
            args,
            Some(&self.dir.path().join("oomnitza-connect.toml")),
            &[],
        );
        for secret in [SLACK_TOKEN, OOMNITZA_TOKEN] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
        }
        run
    }

    /// The `startIndex=…&count=…` of every listing request, in order.
    fn pages_asked(&self) -> Vec<String> {
        self.slack
            .requests()
            .into_iter()
            .filter_map(|r| {
                r.path
                    .strip_prefix("/scim/v2/Users?startIndex=")
                    .map(str::to_owned)
            })
            .collect()
    }
}

#[test]
fn slack_users_sync_into_oomnitza_and_a_second_sync_sends_nothing() {
    let w = Slack::new(27);
    w.run(&["validate"]).assert_ok();
    let run = w.run(&["sync"]);
    run.assert_ok();

    // Every Slack user, deactivated ones too, with the smart mapping.
    let users = w.slack.users();
    assert!(
        users.iter().any(|u| !u.active),
        "the org has deactivated users"
    );
    assert_eq!(w.oomnitza.user_count(), 27, "{}", run.stderr);
    let portions = w.oomnitza.portions();
    assert_eq!(portions.len(), 1);
    assert_eq!((portions[0].records, portions[0].created), (27, 27));
    assert_eq!(portions[0].sync_field, vec!["EMAIL".to_string()]);
    for u in &users {
        let email = u.email.to_lowercase();
        let held = w
            .oomnitza
            .user_by("EMAIL", &email)
            .unwrap_or_else(|| panic!("{email} not held"));
        assert_eq!(held["USER"], email.as_str());
        assert_eq!(held["FIRST_NAME"], u.given_name.as_str());
        assert_eq!(held["LAST_NAME"], u.family_name.as_str());
        assert_eq!(held["slack_user_id"], u.id.as_str());
        assert_eq!(
            held["slack_status"],
            if u.active { "active" } else { "deactivated" }
        );
        assert_eq!(held["PERMISSIONS_ID"], 25);
        if let Some(title) = &u.title {
            assert_eq!(held["POSITION"], title.as_str());
        }
    }
    // Paged by startIndex, 10 at a time (after the count hint's one user).
    let pages = w.pages_asked();
    for page in ["1&count=10", "11&count=10", "21&count=10"] {
        assert!(pages.iter().any(|p| p == page), "{pages:?}");
    }
    assert!(!pages.iter().any(|p| p.starts_with("31&")), "{pages:?}");

    // Nothing changed at Slack: nothing is sent.
    let again = w.run(&["sync"]);
    again.assert_ok();
    assert!(
        again.stderr.contains("not sent       27 unchanged"),
        "{}",
        again.stderr
    );
    assert_eq!(w.oomnitza.portions().len(), 1, "no new portion");
}

#[test]
fn deactivate_user_changes_slack_and_the_next_sync_carries_it() {
    let w = Slack::new(12);
    w.run(&["sync"]).assert_ok();
    let target = w
        .slack
        .users()
        .into_iter()
        .find(|u| u.active)
        .expect("an active user");

    let first = w.run(&[
        "action",
        "deactivate-user",
        "--user",
        &target.email,
        "--yes",
    ]);
    first.assert_ok();
    assert!(first.stdout.contains("done"), "{}", first.stdout);
    let now = w.slack.user_by_email(&target.email).expect("still there");
    assert!(!now.active, "deactivated at Slack");
    let patches: Vec<_> = w
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].path, format!("/scim/v2/Users/{}", target.id));
    assert!(
        patches[0].body.contains(r#""path":"active","value":false"#),
        "{}",
        patches[0].body
    );

    // Again: Slack already says so, nothing is sent.
    let second = w.run(&[
        "action",
        "deactivate-user",
        "--user",
        &target.email,
        "--yes",
    ]);
    second.assert_ok();
    assert!(second.stdout.contains("unchanged"), "{}", second.stdout);

    // The next sync sends that one user, now deactivated.
    w.run(&["sync"]).assert_ok();
    let p = w.oomnitza.portions().pop().expect("a second portion");
    assert_eq!((p.records, p.updated), (1, 1));
    let held = w
        .oomnitza
        .user_by("EMAIL", &target.email.to_lowercase())
        .expect("held");
    assert_eq!(held["slack_status"], "deactivated");
}

#[test]
fn a_rate_limit_is_waited_out() {
    let w = Slack::new(5);
    // Two 429s: whether or not the count hint takes one, the first page
    // meets one and must be asked for again after Retry-After.
    w.slack
        .inject(SlackScimFault::RateLimited { retry_after: 1 }, 2);
    let run = w.run(&["sync"]);
    run.assert_ok();
    assert_eq!(w.oomnitza.user_count(), 5, "{}", run.stderr);
    let first_page = w
        .pages_asked()
        .iter()
        .filter(|p| *p == "1&count=10")
        .count();
    assert!(first_page >= 2, "{:?}", w.pages_asked());
}
