//! The exports, through the SDK's `Connector` trait.

use oomnitza_connector_sdk::types::{
    self as wit, ActionResult, ConnectorError, FetchRequest, MapOutcome, MappingSpec, Page,
    SourceRecord, UserRef, Value,
};
use oomnitza_connector_sdk::{Connector, export_connector};

use crate::{probes, shared};

#[derive(Default)]
pub struct Imports;

export_connector!(Imports);

impl Connector for Imports {
    fn describe(&self) -> wit::Manifest {
        shared::manifest("imports", "Imports")
    }

    fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError> {
        let target = shared::text_option(&request, "target");
        let records = probes::run(target.as_deref())
            .into_iter()
            .map(|(label, observed)| SourceRecord {
                id: label.clone(),
                values: vec![shared::text(label), shared::text(observed)],
            })
            .collect();
        Ok(shared::page(records))
    }

    fn map_records(
        &self,
        spec: &MappingSpec,
        records: Vec<SourceRecord>,
    ) -> Result<Vec<MapOutcome>, ConnectorError> {
        Ok(shared::map_records(spec, records))
    }

    /// Runs any name, declared or not.
    fn action(
        &mut self,
        name: &str,
        targets: Vec<UserRef>,
        _params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        Ok(shared::action(name, &targets))
    }

    /// Well behaved: the parameters come back as given.
    fn check_action(
        &self,
        _name: &str,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
        Ok(params)
    }
}
