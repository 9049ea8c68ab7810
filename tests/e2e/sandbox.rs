//! The sandbox seen from outside: allowlist refusals and credentials.

use connector_fakes::DropboxFault;

use crate::support::{DROPBOX_TOKEN, OOMNITZA_TOKEN, World};

#[test]
fn request_outside_the_allowlist_is_refused() {
    let mut world = World::new(10);
    world.edit(
        "allow = [\"https://api.dropboxapi.com\"]",
        "allow = [\"https://content.dropboxapi.com\"]",
    );
    let run = world.run(&["sync"]);
    run.assert_fails_with("refused by the sandbox")
        .assert_fails_with("https://api.dropboxapi.com/2/team/members/list_v2")
        .assert_no_secrets();
    assert!(
        run.stderr.contains("1 refused by the sandbox"),
        "{}",
        run.stderr
    );
    assert_eq!(world.dropbox.stats().requests, 0, "nothing reached Dropbox");
    assert!(world.oomnitza.portions().iter().all(|p| !p.finalized));
    let ready = world.oomnitza.ready_portions();
    assert_eq!(ready.len(), 1, "the failed run is reported to Oomnitza");
    assert_eq!(ready[0]["body"]["failed"], 1);
}

#[test]
fn token_is_added_by_the_host_for_dropbox_only() {
    let world = World::new(1500);
    let run = world.run(&["-vv", "sync"]);
    run.assert_ok().assert_no_secrets();
    // Two pages, then the seats (team/get_info).
    let requests = world.dropbox.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {DROPBOX_TOKEN}").as_str())
        );
        assert_eq!(
            r.headers
                .iter()
                .filter(|(k, _)| k == "authorization")
                .count(),
            1,
            "exactly one Authorization header"
        );
        assert!(!r.body.contains(OOMNITZA_TOKEN));
    }
    // What the component produced (the records Oomnitza holds) never
    // carries either token.
    for u in world.oomnitza.users() {
        let text = u.to_string();
        assert!(!text.contains(DROPBOX_TOKEN) && !text.contains(OOMNITZA_TOKEN));
    }
    // The config file names where secrets are, never the secrets.
    let cfg = std::fs::read_to_string(world.config_path()).unwrap();
    assert!(!cfg.contains(DROPBOX_TOKEN));
    // Nor does the state database (run history, outbox, audit log).
    let mut checked = 0;
    for entry in std::fs::read_dir(world.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("oomnitza-connect.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            for secret in [DROPBOX_TOKEN, OOMNITZA_TOKEN] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "the state database was checked");
}

#[test]
fn a_wrong_dropbox_token_fails_clearly() {
    let world = World::new(10);
    world.dropbox.set_access_token("sl.rotated");
    world
        .run(&["sync"])
        .assert_fails_with("rejected the credentials (invalid_access_token)")
        .assert_no_secrets();
}

#[test]
fn a_wrong_oomnitza_token_fails_clearly() {
    let world = World::new(10);
    world.oomnitza.set_api_token("other");
    world
        .run(&["sync"])
        .assert_fails_with("Oomnitza rejected the API token")
        .assert_no_secrets();
}

#[test]
fn loopback_is_refused_unless_the_config_allows_it() {
    let mut world = World::new(10);
    world.edit("allow_loopback = true", "allow_loopback = false");
    let run = world.run(&["sync"]);
    run.assert_fails_with("refused by the sandbox")
        .assert_fails_with("127.0.0.1, a loopback address (sandbox.allow_loopback is off)");
    assert_eq!(world.dropbox.stats().requests, 0);
}

#[test]
fn redirects_are_not_followed() {
    let world = World::new(10);
    world.dropbox.inject(
        DropboxFault::Redirect(format!("{}/steal", world.oomnitza.url())),
        1,
    );
    let run = world.run(&["sync"]);
    run.assert_fails_with("302");
    assert_eq!(world.dropbox.stats().requests, 1);
    assert_eq!(world.oomnitza.user_count(), 0);
}

#[test]
fn an_oversized_response_is_cut_at_the_cap() {
    let mut world = World::new(10);
    world.append("\n[limits]\nmax_response_mib = 1\n");
    world.dropbox.inject(DropboxFault::HugeBody(3 << 20), 1);
    let run = world.run(&["sync"]);
    run.assert_fails_with("limits.max_response_mib");
}

#[test]
fn credentials_set_stores_without_printing_and_check_verifies() {
    let world = World::new(3);
    let file = world.dir.path().join("new-secrets.toml");
    let run = crate::support::run_bin_with_stdin(
        &[
            "credentials",
            "set",
            "dropbox_token",
            "--file",
            file.to_str().unwrap(),
        ],
        None,
        &[],
        Some("sl.fresh-secret-value\n"),
    );
    run.assert_ok();
    assert!(!run.stdout.contains("fresh-secret") && !run.stderr.contains("fresh-secret"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("dropbox_token = \"sl.fresh-secret-value\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let run = world.run(&["credentials", "check"]);
    run.assert_ok().assert_no_secrets();
    assert!(
        run.stdout.contains("dropbox:  OK") && run.stdout.contains("oomnitza: OK"),
        "{}",
        run.stdout
    );

    world.oomnitza.set_api_token("rotated");
    let run = world.run(&["credentials", "check"]);
    assert!(!run.ok());
    assert!(run.stdout.contains("oomnitza: FAILED"), "{}", run.stdout);
    run.assert_no_secrets();
}
