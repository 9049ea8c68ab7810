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

use crate::{probes, shared};

struct Component;

export!(Component);

impl Guest for Component {
    fn describe() -> wit::Manifest {
        shared::manifest("imports", "Imports")
    }

    fn fetch(request: wit::FetchRequest) -> Result<wit::Page, wit::ConnectorError> {
        let target = shared::text_option(&request, "target");
        let records = probes::run(target.as_deref())
            .into_iter()
            .map(|(label, observed)| wit::SourceRecord {
                id: label.clone(),
                values: vec![shared::text(label), shared::text(observed)],
            })
            .collect();
        Ok(shared::page(records))
    }

    /// Well behaved: the parameters come back as given.
    fn check_action(
        _name: String,
        params: Vec<(String, wit::Value)>,
    ) -> Result<Vec<(String, wit::Value)>, wit::ConnectorError> {
        Ok(params)
    }

    shared::common_exports!();
}
