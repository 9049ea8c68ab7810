//! The contract's WIT held to the host: the world's imports are the
//! admission list, every released folder is fully documented and encodes
//! as a WIT package, and versions are selected (or refused) by name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wit_parser::{Resolve, TypeDefKind, WorldItem, WorldKey};

use super::{SelectError, Version, select};

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

/// Every `wit/since_vX.Y.Z` folder, with its version.
fn folders() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(wit_dir())
        .expect("wit/ is readable")
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.strip_prefix("since_v")?.to_string();
            Some((v, e.path()))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no wit/since_v* folder");
    out
}

fn parse(dir: &Path) -> (Resolve, wit_parser::PackageId) {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
    (resolve, pkg)
}

#[test]
fn the_world_states_exactly_the_imports_the_host_grants() {
    let granted: BTreeSet<&str> = crate::admission::GRANTED_IMPORTS.iter().copied().collect();
    for (version, dir) in folders() {
        let (resolve, pkg) = parse(&dir);
        let world = resolve
            .select_world(&[pkg], Some("user-connector"))
            .expect("world user-connector");
        let mut imports = BTreeSet::new();
        for (key, item) in &resolve.worlds[world].imports {
            let (WorldKey::Interface(id), WorldItem::Interface { .. }) = (key, item) else {
                panic!("{version}: the world imports {key:?}, not a WASI interface");
            };
            let name = resolve.id_of(*id).expect("a named interface");
            let (iface, v) = name.split_once('@').expect("a versioned import");
            assert!(v.starts_with("0.2."), "{version}: {name} is not WASI 0.2.x");
            imports.insert(iface.to_string());
        }
        let imports: BTreeSet<&str> = imports.iter().map(String::as_str).collect();
        assert_eq!(
            imports,
            granted,
            "wit/since_v{version}/world.wit and GRANTED_IMPORTS (host/src/admission.rs) differ: the WIT \
             lists {:?} that the host refuses, the host grants {:?} that the WIT does not list",
            imports.difference(&granted).collect::<Vec<_>>(),
            granted.difference(&imports).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_item_of_every_contract_version_is_documented() {
    for (version, dir) in folders() {
        let (resolve, pkg) = parse(&dir);
        let mut missing = Vec::new();
        let package = &resolve.packages[pkg];
        assert_eq!(
            package.name.version.as_ref().map(ToString::to_string),
            Some(version.clone()),
            "wit/since_v{version} declares another version"
        );
        let undocumented =
            |d: &wit_parser::Docs| d.contents.as_deref().unwrap_or("").trim().is_empty();
        for (name, &w) in &package.worlds {
            if undocumented(&resolve.worlds[w].docs) {
                missing.push(format!("world {name}"));
            }
        }
        for (iname, &i) in &package.interfaces {
            let iface = &resolve.interfaces[i];
            if undocumented(&iface.docs) {
                missing.push(format!("interface {iname}"));
            }
            for (fname, f) in &iface.functions {
                if undocumented(&f.docs) {
                    missing.push(format!("{iname}.{fname}"));
                }
            }
            for (tname, &t) in &iface.types {
                let ty = &resolve.types[t];
                // `use` aliases are documented where they are defined.
                if matches!(ty.kind, TypeDefKind::Type(_)) {
                    continue;
                }
                if undocumented(&ty.docs) {
                    missing.push(format!("type {iname}.{tname}"));
                }
                let mut items = |kind: &str, names: Vec<(&str, &wit_parser::Docs)>| {
                    for (n, d) in names {
                        if undocumented(d) {
                            missing.push(format!("{kind} {tname}.{n}"));
                        }
                    }
                };
                match &ty.kind {
                    TypeDefKind::Record(r) => items(
                        "field",
                        r.fields
                            .iter()
                            .map(|f| (f.name.as_str(), &f.docs))
                            .collect(),
                    ),
                    TypeDefKind::Variant(v) => items(
                        "case",
                        v.cases.iter().map(|c| (c.name.as_str(), &c.docs)).collect(),
                    ),
                    TypeDefKind::Enum(e) => items(
                        "case",
                        e.cases.iter().map(|c| (c.name.as_str(), &c.docs)).collect(),
                    ),
                    TypeDefKind::Flags(f) => items(
                        "flag",
                        f.flags.iter().map(|c| (c.name.as_str(), &c.docs)).collect(),
                    ),
                    _ => {}
                }
            }
        }
        assert!(
            missing.is_empty(),
            "wit/since_v{version}: undocumented: {}",
            missing.join(", ")
        );
    }
}

#[test]
fn every_contract_version_encodes_as_a_wit_package_with_its_docs() {
    for (version, dir) in folders() {
        let (resolve, pkg) = parse(&dir);
        let bytes = wit_component::encode(&resolve, pkg, false).expect("encodes");
        let wit_component::DecodedWasm::WitPackage(back, back_pkg) =
            wit_component::decode(&bytes).expect("decodes")
        else {
            panic!("{version}: not a WIT package");
        };
        assert_eq!(
            back.packages[back_pkg].name.to_string(),
            format!("oomnitza:connector@{version}")
        );
        let types = back.packages[back_pkg].interfaces["types"];
        let manifest = back.interfaces[types].types["manifest"];
        let TypeDefKind::Record(r) = &back.types[manifest].kind else {
            panic!("manifest is a record");
        };
        let docs = r
            .fields
            .iter()
            .find(|f| f.name == "version")
            .and_then(|f| f.docs.contents.clone())
            .unwrap_or_default();
        assert!(docs.contains("Not the contract's version"), "{docs}");
    }
}

#[test]
fn the_host_binds_only_released_contracts() {
    let manifest =
        std::fs::read_to_string(wit_dir().join("released.sha256")).expect("wit/released.sha256");
    for v in Version::ALL {
        let folder = format!("  wit/since_v{}/", v.as_str());
        assert!(
            manifest.contains(&folder),
            "the host binds {}, which is not released (scripts/check-contract-freeze --release)",
            v.as_str()
        );
    }
}

#[test]
fn a_component_is_bound_by_the_version_it_exports() {
    let exports = [
        "oomnitza:connector/types@0.3.0",
        "oomnitza:connector/connector@0.3.0",
    ];
    assert_eq!(select(exports), Ok(Version::V0_3_0));
}

#[test]
fn an_unsupported_version_is_refused_naming_it_and_the_supported_ones() {
    let err = select(["oomnitza:connector/connector@0.2.0"]).unwrap_err();
    assert_eq!(
        err,
        SelectError::Unsupported {
            found: "0.2.0".into()
        }
    );
    let text = err.to_string();
    assert!(text.contains("oomnitza:connector@0.2.0"), "{text}");
    assert!(text.contains("supported: 0.3.0"), "{text}");
    assert!(text.contains("wit/since_v0.3.0/"), "{text}");
    // A patch or a later minor is another contract until the host has a
    // module for it.
    assert!(matches!(
        select(["oomnitza:connector/connector@0.3.1"]),
        Err(SelectError::Unsupported { .. })
    ));
}

#[test]
fn a_component_without_the_contract_or_with_two_versions_is_refused() {
    let text = select(["wasi:http/incoming-handler@0.2.0"])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("not an Oomnitza connector") && text.contains("wasi:http/incoming-handler"),
        "{text}"
    );
    assert!(matches!(
        select([
            "oomnitza:connector/connector@0.3.0",
            "oomnitza:connector/connector@0.2.0"
        ]),
        Err(SelectError::Several { .. })
    ));
}
