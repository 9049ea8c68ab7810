//! Bad or incomplete configuration and arguments: clear errors, no panics.

use crate::support::{World, run_bin};

#[test]
fn a_missing_config_file_is_named() {
    let run = run_bin(
        &["sync"],
        Some(std::path::Path::new("/nonexistent/oc.toml")),
        &[],
    );
    run.assert_fails_with("/nonexistent/oc.toml");
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn an_unknown_key_is_named() {
    let mut world = World::new(1);
    world.edit("batch_size = 100", "batch_sise = 100");
    world.run(&["sync"]).assert_fails_with("batch_sise");
}

#[test]
fn an_out_of_range_value_is_named() {
    let mut world = World::new(1);
    world.edit("page_size = 1000", "page_size = 0");
    world
        .run(&["validate"])
        .assert_fails_with("source.page_size");
}

#[test]
fn missing_credentials_keep_the_integration_in_draft() {
    let mut world = World::new(1);
    world.edit(
        "token = { file = \"secrets.toml\", key = \"dropbox_token\" }",
        "token = { env = \"E2E_NO_SUCH_TOKEN\" }",
    );
    let run = world.run(&["sync"]);
    run.assert_fails_with("draft")
        .assert_fails_with("E2E_NO_SUCH_TOKEN");
    assert_eq!(world.dropbox.stats().requests, 0);
}

#[test]
fn a_mapping_without_role_email_or_unique_key_is_a_draft() {
    let mut world = World::new(1);
    world.edit("\nrole = 25", "\n# no role chosen").append(
        "\n[mapping]\nsync_key = [\"FIRST_NAME\"]\n[[mapping.rules]]\ntarget = \"FIRST_NAME\"\nfield = \"given_name\"\n",
    );
    let run = world.run(&["validate"]);
    run.assert_fails_with("draft")
        .assert_fails_with("Email must be mapped to USER")
        .assert_fails_with("Email must be mapped to EMAIL")
        .assert_fails_with("choose the Oomnitza role")
        .assert_fails_with("sync key FIRST_NAME");
}

#[test]
fn a_mapping_naming_an_unknown_field_is_rejected_by_the_connector() {
    let mut world = World::new(1);
    world.append(
        "\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"PERMISSIONS_ID\"\nconstant = 25\n[[mapping.rules]]\ntarget = \"dropbox_status\"\nfield = \"status\"\n[[mapping.rules]]\ntarget = \"x\"\nfield = \"shoe_size\"\n",
    );
    world.run(&["validate"]).assert_fails_with("shoe_size");
}

#[cfg(unix)]
#[test]
fn a_world_readable_secrets_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new(1);
    let secrets = world.dir.path().join("secrets.toml");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    world
        .run(&["sync"])
        .assert_fails_with("chmod 600")
        .assert_no_secrets();
}

#[test]
fn a_missing_component_says_how_to_build_it() {
    let mut world = World::new(1);
    world.edit("dropbox_connector.wasm", "nope.wasm");
    world
        .run(&["validate"])
        .assert_fails_with("cargo build --release --target wasm32-wasip2");
}

#[test]
fn a_pinned_hash_mismatch_is_refused() {
    let mut world = World::new(1);
    world.edit("[component]\n", "[component]\nsha256 = \"00ff\"\n");
    world.run(&["validate"]).assert_fails_with("pins 00ff");
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let mut world = World::new(1);
    let bogus = world.dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not wasm").unwrap();
    let comp = crate::support::component();
    world.edit(comp.to_str().unwrap(), bogus.to_str().unwrap());
    world
        .run(&["validate"])
        .assert_fails_with("not a valid WebAssembly component")
        // The component is named, not the compiled-cache file.
        .assert_fails_with("bogus.wasm");
}

#[test]
fn a_device_as_component_is_refused_unread() {
    let mut world = World::new(1);
    let comp = crate::support::component();
    world.edit(comp.to_str().unwrap(), "/dev/zero");
    world
        .run(&["validate"])
        .assert_fails_with("/dev/zero is not a regular file");
}

/// Errors about a secret's place never repeat its value.
#[test]
fn secrets_are_never_echoed_in_config_errors() {
    const INLINE: &str = "sl.INLINE-SECRET-do-not-print";
    let inline = "token = { file = \"secrets.toml\", key = \"dropbox_token\" }";
    let mut world = World::new(1);
    world.edit(inline, &format!("token = \"{INLINE}\""));
    let run = world.run(&["validate"]);
    run.assert_fails_with(
        "use { env = \"VARIABLE\" } or { file = \"secrets.toml\", key = \"name\" }",
    )
    .assert_fails_with("[source] token");
    assert!(!run.stderr.contains(INLINE), "{}", run.stderr);

    // A syntax error on the secret's own line.
    let mut world = World::new(1);
    world.edit(inline, &format!("token = \"{INLINE}"));
    let run = world.run(&["validate"]);
    run.assert_fails_with("line");
    assert!(!run.stderr.contains("INLINE-SECRET"), "{}", run.stderr);

    // An unquoted number in the secrets file.
    let world = World::new(1);
    let secrets = world.dir.path().join("secrets.toml");
    let text = std::fs::read_to_string(&secrets).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("dropbox_token"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &secrets,
        format!("{kept}dropbox_token = 98765432123456789\n"),
    )
    .unwrap();
    let run = world.run(&["validate"]);
    run.assert_fails_with("key `dropbox_token` (line")
        .assert_fails_with("must be a quoted string");
    assert!(!run.stderr.contains("98765432123456789"), "{}", run.stderr);
}

#[test]
fn limits_outside_their_range_are_named() {
    for (line, want) in [
        (
            "call_timeout_secs = 922337203685477581",
            "limits.call_timeout_secs = 922337203685477581: must be between 1 and 3600",
        ),
        (
            "max_memory_mib = 17592186044416",
            "limits.max_memory_mib = 17592186044416: must be between 1 and 4096",
        ),
        (
            "max_host_resources = 1",
            "limits.max_host_resources = 1: must be between 16",
        ),
        (
            "max_requests_per_call = 0",
            "limits.max_requests_per_call = 0",
        ),
    ] {
        let mut world = World::new(1);
        world.append(&format!("\n[limits]\n{line}\n"));
        world.run(&["validate"]).assert_fails_with(want);
    }
}

#[test]
fn a_plain_http_vendor_url_off_loopback_is_refused() {
    let mut world = World::new(1);
    let url = world.dropbox.url();
    world.edit(
        &format!("url = \"{url}\""),
        "url = \"http://proxy.example.com:8080\"",
    );
    world
        .run(&["validate"])
        .assert_fails_with("source.url")
        .assert_fails_with("only sent over https");
}

#[test]
fn a_malformed_allowlist_entry_is_named() {
    let mut world = World::new(1);
    world.edit(
        "allow = [\"https://api.dropboxapi.com\"]",
        "allow = [\"https://api.dropboxapi.com/2\"]",
    );
    world
        .run(&["validate"])
        .assert_fails_with("https://api.dropboxapi.com/2")
        .assert_fails_with("path");
}

#[test]
fn bad_arguments_get_usage_errors() {
    let run = run_bin(&["sync", "--no-such-flag"], None, &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr.contains("--no-such-flag"));
    let run = run_bin(&["sync", "--limit", "lots"], None, &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr.contains("--limit"));
    #[cfg(feature = "demo")]
    {
        let run = run_bin(&["demo", "--members", "lots"], None, &[]);
        assert_eq!(run.output.status.code(), Some(2));
        assert!(run.stderr.contains("lots"));
    }
}

/// A `[mapping]` with the required rules, then `extra` rules.
fn mapping_with(extra: &str) -> String {
    format!(
        "\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"PERMISSIONS_ID\"\nconstant = 25\n[[mapping.rules]]\ntarget = \"dropbox_status\"\nfield = \"status\"\n{extra}"
    )
}

#[test]
fn the_role_is_the_operators_choice() {
    let mut world = World::new(1);
    world.edit("\nrole = 25", "\n# no role");
    world
        .run(&["validate"])
        .assert_fails_with("choose the Oomnitza role synced users get: oomnitza.role");
    let describe = world.run(&["describe"]);
    describe.assert_ok();
    assert!(
        describe
            .stdout
            .contains("PERMISSIONS_ID: set oomnitza.role = <role id> (required)"),
        "{}",
        describe.stdout
    );
    // Both places at once is ambiguous.
    let mut world = World::new(1);
    world
        .edit("\nrole = 25", "\nrole = 30")
        .append(&mapping_with(""));
    world
        .run(&["validate"])
        .assert_fails_with("the role is given twice");
}

#[test]
fn a_date_pattern_without_a_directive_is_refused() {
    let mut world = World::new(1);
    world.append(&mapping_with(
        "[[mapping.rules]]\ntarget = \"joined\"\nfield = \"joined_on\"\ntransforms = [{ date-format = \"YYYY-MM-DD\" }]\n",
    ));
    world
        .run(&["validate"])
        .assert_fails_with("joined")
        .assert_fails_with("no date directive");
}

#[test]
fn unknown_targets_are_named_at_validate() {
    let mut world = World::new(1);
    world.append(&mapping_with(
        "[[mapping.rules]]\ntarget = \"FIRSTNAME\"\nfield = \"given_name\"\n[[mapping.rules]]\ntarget = \"saas.bogus\"\nfield = \"email\"\n",
    ));
    world
        .run(&["validate"])
        .assert_fails_with("target `FIRSTNAME`")
        .assert_fails_with("did you mean `FIRST_NAME`?")
        .assert_fails_with("`saas.bogus` is not a SaaS-user key");
}

#[test]
fn removed_members_need_their_status_mapped_or_filtered() {
    let mut world = World::new(1);
    world.append(
        "\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"PERMISSIONS_ID\"\nconstant = 25\n",
    );
    world
        .run(&["validate"])
        .assert_fails_with("include_removed lists removed members, but no rule maps `status`");
    // A filter on the status is as good as mapping it.
    world.append(
        "[[mapping.filters]]\nfield = \"status\"\neffect = \"exclude\"\none_of = [\"removed\"]\n",
    );
    world.run(&["validate"]).assert_ok();
}

#[test]
fn the_old_dropbox_table_is_read_for_one_release_with_a_warning() {
    let mut world = World::new(1);
    world.edit("[source]\n", "[dropbox]\n");
    let run = world.run(&["validate"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("the [dropbox] table is now [source]"),
        "{}",
        run.stderr
    );
    // Both at once is ambiguous.
    let mut world = World::new(1);
    world.append("\n[dropbox]\npage_size = 10\n");
    world.run(&["validate"]).assert_fails_with("source");
}
