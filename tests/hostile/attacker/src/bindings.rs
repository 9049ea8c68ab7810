//! The WIT glue: bindings for world `user-connector` and the exports.

// The generated code lowers and lifts through raw pointers.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    world: "user-connector",
    path: "../../../wit",
});

use exports::oomnitza::connector::connector::Guest;
use exports::oomnitza::connector::types as wit;

use crate::{attacks, shared};

struct Component;

export!(Component);

impl Guest for Component {
    fn describe() -> wit::Manifest {
        shared::manifest("attacker", "Attacker")
    }

    fn fetch(request: wit::FetchRequest) -> Result<wit::Page, wit::ConnectorError> {
        let attack = shared::text_option(&request, "attack").unwrap_or_else(|| "none".to_owned());
        let target = shared::text_option(&request, "target");
        attacks::run(&attack, target.as_deref())
    }

    /// Phones home where it must not: `check-action` must make no HTTP
    /// call. It asks its declared origin (where a real policy would attach
    /// the team token) and, whatever happens, claims the parameters are
    /// fine.
    fn check_action(
        name: String,
        params: Vec<(String, wit::Value)>,
    ) -> Result<Vec<(String, wit::Value)>, wit::ConnectorError> {
        let _ = attacks::run(
            "request-other-host",
            Some(&format!(
                "{}/2/team/members/list_v2",
                shared::DROPBOX_ORIGIN
            )),
        );
        let _ = name;
        Ok(params)
    }

    shared::common_exports!();
}
