//! The contract end to end: `count-hint` (0.3.0) drives the progress
//! total and ETA of a sync; `check-action` (0.3.0) is what `action
//! --dry-run` shows; the built component carries the contract's docs; a
//! component of a contract this host does not support is refused, naming
//! its version and the supported ones. `seats` and `cursor-expired` (0.4.0),
//! and a 0.3.0 component, are in `seats.rs`.

use connector_fakes::{DropboxFault, Team};

use crate::support::World;

#[test]
fn a_sync_shows_a_total_and_an_eta_from_the_count_hint() {
    let mut world = World::with_team(Team::generate(2500, 42));
    world.edit("include_removed = true", "include_removed = false");
    let provisioned = world
        .dropbox
        .with_team(|t| (0..t.len()).filter(|&i| !t.status(i).is_removed()).count());
    let run = world.run(&["-v", "sync"]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains(&format!("listing about {provisioned} records")),
        "{}",
        run.stderr
    );
    let pages: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("of ~{provisioned} records")))
        .collect();
    assert_eq!(pages.len(), 3, "a line per page:\n{}", run.stderr);
    assert!(
        pages[0].contains("page 1 · 1000 of ~") && pages[0].contains("· ETA "),
        "{}",
        pages[0]
    );
    assert!(pages[2].contains("(100%)"), "{}", pages[2]);
    // One team/get_info, strictly shaped, before the listing (and one
    // more after it, for the seats).
    let paths: Vec<_> = world
        .dropbox
        .requests()
        .into_iter()
        .map(|r| (r.path, r.body))
        .collect();
    let info: Vec<_> = paths
        .iter()
        .enumerate()
        .filter(|(_, (path, _))| path == "/2/team/get_info")
        .collect();
    assert_eq!(info.len(), 2, "{paths:?}");
    assert!(info.iter().all(|(_, (_, body))| body == "null"));
    assert_eq!(info[0].0, 0, "the count hint comes first: {paths:?}");
    assert_eq!(info[1].0, paths.len() - 1, "the seats last: {paths:?}");
    assert_eq!(world.oomnitza.user_count(), provisioned);

    // Without a terminal or -v nobody sees progress: no call for a count
    // hint, only the seats' after the listing.
    let quiet = World::new(50);
    quiet.run(&["sync"]).assert_ok();
    let requests = quiet.dropbox.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/2/team/get_info")
            .count(),
        1
    );
    assert_eq!(
        requests.last().map(|r| r.path.as_str()),
        Some("/2/team/get_info")
    );
}

#[test]
fn without_a_count_hint_a_sync_shows_plain_counts() {
    // team/get_info failing (here a 503) only costs the total.
    let mut world = World::new(1200);
    world.edit("include_removed = true", "include_removed = false");
    world
        .dropbox
        .inject_action(DropboxFault::ServerError(503), 1);
    let run = world.run(&["-v", "sync"]);
    run.assert_ok();
    assert!(!run.stderr.contains("listing about"), "{}", run.stderr);
    assert!(
        run.stderr.contains("no count hint: vendor unavailable"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("page 2 · "), "{}", run.stderr);
    assert!(run.stderr.contains(" fetched · "), "{}", run.stderr);

    // Listing removed members too: Dropbox's count leaves them out, so the
    // connector gives no hint (and makes no call for one: the only
    // team/get_info is the seats', after the listing).
    let removed = World::new(1200);
    let run = removed.run(&["-v", "sync"]);
    run.assert_ok();
    assert!(!run.stderr.contains("listing about"), "{}", run.stderr);
    assert!(
        run.stderr.contains("page 2 · 1200 fetched"),
        "{}",
        run.stderr
    );
    let requests = removed.dropbox.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/2/team/get_info")
            .count(),
        1
    );
    assert_eq!(
        requests.last().map(|r| r.path.as_str()),
        Some("/2/team/get_info")
    );
}

/// Every custom section named `name` in `wasm`, nested modules included.
fn custom_sections(wasm: &[u8], name: &str) -> Vec<Vec<u8>> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| match p.expect("the component parses") {
            wasmparser::Payload::CustomSection(s) if s.name() == name => Some(s.data().to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_built_component_carries_the_contract_docs() {
    let wasm = std::fs::read(crate::support::component()).unwrap();
    let sections = custom_sections(&wasm, "package-docs");
    assert_eq!(sections.len(), 1, "one package-docs section");
    let text = String::from_utf8_lossy(&sections[0]);
    // The connector interface's docs, and the JavaScript note of `types`.
    assert!(text.contains("Hosts call them in this order"), "{text}");
    assert!(
        text.contains("64-bit integers in JavaScript hosts"),
        "{text}"
    );

    // What `wasm-tools component wit` and `jco wit` print: the section read
    // back onto the component's world and its exports.
    let wit_component::DecodedWasm::Component(resolve, world) =
        wit_component::decode(&wasm).expect("the component decodes")
    else {
        panic!("not a component");
    };
    let world = &resolve.worlds[world];
    assert!(
        world
            .docs
            .contents
            .as_deref()
            .unwrap_or_default()
            .starts_with("A connector component."),
        "{:?}",
        world.docs
    );
    let export_docs: Vec<(String, String)> = world
        .exports
        .iter()
        .filter_map(|(k, item)| match item {
            wit_parser::WorldItem::Interface { docs, .. } => {
                Some((resolve.name_world_key(k), docs.contents.clone()?))
            }
            _ => None,
        })
        .collect();
    assert!(
        export_docs
            .iter()
            .any(|(name, docs)| name == "oomnitza:connector/connector@0.4.0"
                && docs.starts_with("The operations a connector exports.")),
        "{export_docs:?}"
    );
}

#[test]
fn a_component_of_an_unsupported_contract_is_refused_naming_both_versions() {
    // The real component, renamed to contract 0.2.0 (same length, so the
    // binary stays valid): what a connector built before 0.3.0 exports.
    let mut wasm = std::fs::read(crate::support::component()).unwrap();
    let (from, to) = (b"oomnitza:connector/", b"@0.4.0");
    let mut renamed = 0;
    let mut i = 0;
    while let Some(at) = wasm[i..].windows(from.len()).position(|w| w == from) {
        let start = i + at;
        let end = start + from.len();
        if let Some(v) = wasm[end..(end + 20).min(wasm.len())]
            .windows(to.len())
            .position(|w| w == to)
        {
            wasm[end + v..end + v + to.len()].copy_from_slice(b"@0.2.0");
            renamed += 1;
        }
        i = end;
    }
    assert!(renamed >= 2, "renamed {renamed} names");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.wasm");
    std::fs::write(&path, &wasm).unwrap();
    let engine = oomnitza_connect::engine::new_engine().unwrap();
    let err = match oomnitza_connect::engine::load_component(&engine, &path, None, None) {
        Ok(_) => panic!("a 0.2.0 component loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("implements contract oomnitza:connector@0.2.0")
            && err.contains("supported: 0.3.0, 0.4.0")
            && err.contains("wit/since_v0.4.0/"),
        "{err}"
    );
}
