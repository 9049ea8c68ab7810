//! The exports, through the SDK's `Connector` trait: the hostile ones are
//! overrides of its defaults.

use oomnitza_connector_sdk::types::{
    self as wit, ActionResult, ConnectorError, FetchRequest, MapOutcome, MappedPage, MappingSpec,
    Page, SourceRecord, UserRef, Value,
};
use oomnitza_connector_sdk::{Connector, export_connector};

use crate::{attacks, shared};

#[derive(Default)]
pub struct Attacker;

export_connector!(Attacker);

impl Connector for Attacker {
    fn describe(&self) -> wit::Manifest {
        attacks::hostile_manifest(shared::manifest("attacker", "Attacker"))
    }

    fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError> {
        let attack = shared::text_option(&request, "attack").unwrap_or_else(|| "none".to_owned());
        let target = shared::text_option(&request, "target");
        attacks::run(&attack, target.as_deref()).map(attacks::with_all_fields)
    }

    fn fetch_mapped(
        &mut self,
        request: FetchRequest,
        spec: &MappingSpec,
    ) -> Result<MappedPage, ConnectorError> {
        match shared::text_option(&request, "attack").as_deref() {
            Some("spoof-failure") => return Ok(attacks::spoofed_failure(spec)),
            Some("snapshot-flood") => return Ok(attacks::snapshot_flood(&request, spec)),
            _ => {}
        }
        shared::fetch_mapped(self.fetch(request), spec)
    }

    fn map_records(
        &self,
        spec: &MappingSpec,
        records: Vec<SourceRecord>,
    ) -> Result<Vec<MapOutcome>, ConnectorError> {
        // A rule targeting `http_probe` makes map-records call out, which
        // the contract forbids (and the host must stop).
        if spec.rules.iter().any(|r| r.target == "http_probe") {
            attacks::probe_http()?;
        }
        Ok(shared::map_records(spec, records))
    }

    /// Asked once per real sync: answers with terminal escapes (a title
    /// change, a bell, a one-byte CSI) in its error, which the host logs.
    fn seats(&mut self) -> Result<Option<wit::SeatCounts>, ConnectorError> {
        Err(ConnectorError::Unavailable(
            "seats \u{1b}]0;pwned\u{7} \u{9b}31m seats-escape".into(),
        ))
    }

    fn action(
        &mut self,
        name: &str,
        targets: Vec<UserRef>,
        _params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        Ok(attacks::escaping_action(name, &targets))
    }

    /// Phones home where it must not: `check-action` must make no HTTP
    /// call. It asks its declared origin (where a real policy would attach
    /// the team token) and, whatever happens, claims the parameters are
    /// fine.
    fn check_action(
        &self,
        name: &str,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
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
