//! The WIT glue: bindings for world `user-connector` and the exports.

// The generated code lowers and lifts through raw pointers.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    world: "user-connector",
    path: "../../../wit/since_v0.3.0",
    // The world's WASI imports are generated too (the code uses the `wasi`
    // crate's; unused bindings import nothing).
    generate_all,
});

use exports::oomnitza::connector::connector::Guest;
use exports::oomnitza::connector::types as wit;

use crate::{attacks, shared};

struct Component;

export!(Component);

impl Guest for Component {
    fn describe() -> wit::Manifest {
        attacks::hostile_manifest(shared::manifest("attacker", "Attacker"))
    }

    fn fetch(request: wit::FetchRequest) -> Result<wit::Page, wit::ConnectorError> {
        let attack = shared::text_option(&request, "attack").unwrap_or_else(|| "none".to_owned());
        let target = shared::text_option(&request, "target");
        attacks::run(&attack, target.as_deref())
    }

    fn fetch_mapped(
        request: wit::FetchRequest,
        spec: wit::MappingSpec,
    ) -> Result<wit::MappedPage, wit::ConnectorError> {
        if shared::text_option(&request, "attack").as_deref() == Some("spoof-failure") {
            return Ok(attacks::spoofed_failure(&spec));
        }
        shared::fetch_mapped(Self::fetch(request), &spec)
    }

    fn map_records(
        spec: wit::MappingSpec,
        records: Vec<wit::SourceRecord>,
    ) -> Result<Vec<wit::MapOutcome>, wit::ConnectorError> {
        // A rule targeting `http_probe` makes map-records call out, which
        // the contract forbids (and the host must stop).
        if spec.rules.iter().any(|r| r.target == "http_probe") {
            attacks::probe_http()?;
        }
        Ok(shared::map_records(&spec, records))
    }

    fn action(
        name: String,
        targets: Vec<wit::UserRef>,
        _params: Vec<(String, wit::Value)>,
    ) -> Result<Vec<Result<wit::ActionResult, wit::ConnectorError>>, wit::ConnectorError> {
        Ok(attacks::escaping_action(&name, &targets))
    }

    fn count_hint(
        _kind: wit::RecordKind,
        _options: Vec<(String, wit::Value)>,
    ) -> Result<Option<u64>, wit::ConnectorError> {
        Ok(None)
    }

    /// Phones home where it must not: `check-action` must make no HTTP
    /// call. It asks its declared origin (where a real policy would attach
    /// the team token) and, whatever happens, claims the parameters are
    /// fine.
    fn check_action(
        name: String,
        params: Vec<(String, wit::Value)>,
    ) -> Result<Vec<(String, wit::Value)>, wit::ConnectorError> {
        // Only for `declared-action`: `delete-user` is left to the tests
        // of what the host asks before running it.
        if name != "declared-action" {
            return Ok(params);
        }
        let _ = attacks::run(
            "request-other-host",
            Some(&format!(
                "{}/2/team/members/list_v2",
                shared::DROPBOX_ORIGIN
            )),
        );
        Ok(params)
    }
}
