//! The contract's WIT held to the host: the world's imports are the
//! admission list, every released folder is fully documented and encodes
//! as a WIT package, and versions are selected (or refused) by name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wit_parser::{Resolve, TypeDefKind, WorldItem, WorldKey};

use super::{INTERFACE, SelectError, Version, select};

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
    for v in Version::ALL {
        let exports = [
            format!("oomnitza:connector/types@{}", v.as_str()),
            format!("oomnitza:connector/connector@{}", v.as_str()),
        ];
        assert_eq!(select(exports.iter().map(String::as_str)), Ok(*v));
    }
    assert_eq!(
        select(["oomnitza:connector/connector@0.3.0"]),
        Ok(Version::V0_3_0)
    );
    assert_eq!(
        select(["oomnitza:connector/connector@0.4.0"]),
        Ok(Version::V0_4_0)
    );
}

#[test]
fn every_released_contract_is_bound_by_the_host() {
    let bound: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
    for (version, _) in folders() {
        assert!(
            bound.contains(&version.as_str()),
            "wit/since_v{version} has no module in host/src/bindings (Version::ALL: {bound:?})"
        );
    }
    assert_eq!(
        super::CONTRACT,
        format!(
            "{INTERFACE}@{}",
            Version::ALL[Version::ALL.len() - 1].as_str()
        ),
        "CONTRACT names the latest version"
    );
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
    assert!(text.contains("supported: 0.3.0, 0.4.0"), "{text}");
    assert!(text.contains("wit/since_v0.4.0/"), "{text}");
    // A patch or a later minor is another contract until the host has a
    // module for it.
    for v in ["0.3.1", "0.4.1", "0.5.0"] {
        assert!(matches!(
            select([format!("oomnitza:connector/connector@{v}").as_str()]),
            Err(SelectError::Unsupported { .. })
        ));
    }
    let text = select(["wasi:http/incoming-handler@0.2.0"])
        .unwrap_err()
        .to_string();
    assert!(text.contains("this host supports 0.3.0, 0.4.0"), "{text}");
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
            "oomnitza:connector/connector@0.4.0"
        ]),
        Err(SelectError::Several { .. })
    ));
}

mod conversions {
    //! 0.3.0's types to and from the working ones (0.4.0's).

    use crate::bindings::since_v0_3_0::exports::oomnitza::connector::types as old;
    use crate::bindings::since_v0_3_0::{CURSOR_EXPIRED_TAG, Cast, listing};
    use crate::bindings::*;

    /// One error of each case 0.4.0 has. The match makes a new case a
    /// compile error here until it is added to the list.
    fn every_error() -> Vec<ConnectorError> {
        let all = vec![
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: true,
                tag: "expired_access_token".into(),
                message: "expired_access_token/..".into(),
            }),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 7,
                message: "too_many_requests".into(),
            }),
            ConnectorError::NotFound("no such member".into()),
            ConnectorError::InvalidInput("page-size 0".into()),
            ConnectorError::Conflict(VendorConflict {
                tag: "user_not_in_team".into(),
                summary: "user_not_in_team/..".into(),
                user_message: Some("This user is not a member.".into()),
            }),
            ConnectorError::Unavailable("Dropbox returned 503".into()),
            ConnectorError::Denied("the host refused POST …".into()),
            ConnectorError::Other("malformed answer".into()),
            ConnectorError::CursorExpired("invalid_cursor/...".into()),
        ];
        for e in &all {
            match e {
                ConnectorError::Unauthorized(_)
                | ConnectorError::RateLimited(_)
                | ConnectorError::NotFound(_)
                | ConnectorError::InvalidInput(_)
                | ConnectorError::Conflict(_)
                | ConnectorError::Unavailable(_)
                | ConnectorError::Denied(_)
                | ConnectorError::Other(_)
                | ConnectorError::CursorExpired(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_error_case_round_trips_through_0_3_0() {
        for e in every_error() {
            let said: old::ConnectorError = e.clone().cast();
            // What a 0.3.0 connector's listing said comes back as it was.
            assert_eq!(
                listing::<old::Page, Page>(Err(said.clone())),
                Err(e.clone())
            );
            // And 0.3.0's own answer survives the way back unchanged.
            let back: old::ConnectorError = {
                let now: ConnectorError = said.clone().cast();
                now.cast()
            };
            assert_eq!(back, said, "{e:?}");
        }
    }

    #[test]
    fn only_a_listing_reads_the_old_tag_as_cursor_expired() {
        let conflict = old::ConnectorError::Conflict(old::VendorConflict {
            tag: CURSOR_EXPIRED_TAG.into(),
            summary: "invalid_cursor/..".into(),
            user_message: None,
        });
        assert_eq!(
            listing::<old::Page, Page>(Err(conflict.clone())),
            Err(ConnectorError::CursorExpired("invalid_cursor/..".into()))
        );
        // Elsewhere (an action) it is the vendor's conflict, verbatim.
        let plain: ConnectorError = conflict.cast();
        assert!(matches!(plain, ConnectorError::Conflict(c) if c.tag == CURSOR_EXPIRED_TAG));
        // Another tag is a conflict in a listing too.
        let other = old::ConnectorError::Conflict(old::VendorConflict {
            tag: "reset".into(),
            summary: "reset/..".into(),
            user_message: None,
        });
        assert!(matches!(
            listing::<old::Page, Page>(Err(other)),
            Err(ConnectorError::Conflict(c)) if c.tag == "reset"
        ));
    }

    #[test]
    fn pages_manifests_and_specs_round_trip_through_0_3_0() {
        let value_kinds = vec![
            Value::Null,
            Value::Text("a".into()),
            Value::Boolean(true),
            Value::Integer(i64::MAX),
            Value::Timestamp("2015-05-12T15:50:38Z".into()),
            Value::TextList(vec!["g1".into(), "g2".into()]),
        ];
        let spec = MappingSpec {
            rules: vec![MappingRule {
                target: "EMAIL".into(),
                source: RuleSource::FirstOf(vec!["email".into()]),
                transforms: vec![
                    Transform::LowerCase,
                    Transform::Split(SplitSpec {
                        separator: "@".into(),
                        index: -1,
                    }),
                    Transform::Lookup(vec![("a".into(), Value::Integer(1))]),
                    Transform::Default(Value::Text("x".into())),
                ],
                required: true,
            }],
            filters: vec![Filter {
                field: "status".into(),
                condition: Condition::OneOf(vec!["active".into()]),
                effect: FilterEffect::Exclude,
            }],
            sync_key: vec!["EMAIL".into()],
        };
        let back: MappingSpec = Cast::<old::MappingSpec>::cast(spec.clone()).cast();
        assert_eq!(back, spec);
        let page = MappedPage {
            outcomes: vec![
                MapOutcome::Mapped(MappedRecord {
                    source_id: "1".into(),
                    values: value_kinds.clone(),
                }),
                MapOutcome::Filtered("excluded".into()),
                MapOutcome::Failed(MapFailure {
                    source_id: "2".into(),
                    reason: "EMAIL is required but empty".into(),
                    raw: vec![("email".into(), Value::Null)],
                }),
            ],
            cursor: Some("c".into()),
            has_more: true,
        };
        let said: old::MappedPage = page.clone().cast();
        assert_eq!(listing::<old::MappedPage, MappedPage>(Ok(said)), Ok(page));
        let manifest = Manifest {
            name: "x".into(),
            display_name: "X".into(),
            version: "1.0.0".into(),
            record_kinds: vec![RecordKind::Users, RecordKind::SaasUsers],
            fields: vec![FieldInfo {
                name: "email".into(),
                label: "Email".into(),
                description: "d".into(),
                type_: ValueType::TextList,
                unique: true,
            }],
            default_mapping: spec,
            hosts: vec![HostRequirement {
                origin: "https://x".into(),
                credential: CredentialKind::Oauth2Bearer,
                scopes: vec!["s".into()],
                purpose: "p".into(),
            }],
            fetch_options: vec![ParamInfo {
                name: "o".into(),
                label: "O".into(),
                description: "d".into(),
                type_: ValueType::Boolean,
                required: false,
                default: Some(Value::Boolean(false)),
            }],
            actions: vec![ActionInfo {
                name: "a".into(),
                label: "A".into(),
                description: "d".into(),
                destructive: true,
                params: vec![],
            }],
            max_page_size: 1000,
        };
        let back: Manifest = Cast::<old::Manifest>::cast(manifest.clone()).cast();
        assert_eq!(back, manifest);
        let result: Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> = Ok(vec![
            Ok(ActionResult {
                status: ActionStatus::Unchanged,
                detail: "d".into(),
                vendor_response: "null".into(),
                values: vec![("role".into(), Value::Text("Member".into()))],
            }),
            Err(ConnectorError::NotFound("n".into())),
        ]);
        let said: Result<Vec<Result<old::ActionResult, old::ConnectorError>>, old::ConnectorError> =
            result.clone().cast();
        let back: Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> = said.cast();
        assert_eq!(back, result);
        for u in [
            UserRef::Email("e".into()),
            UserRef::Id("i".into()),
            UserRef::ExternalId("x".into()),
        ] {
            let back: UserRef = Cast::<old::UserRef>::cast(u.clone()).cast();
            assert_eq!(back, u);
        }
    }
}
