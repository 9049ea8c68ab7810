//! Write an `oomnitza:connector` component in plain Rust.
//!
//! A connector is a WASI 0.2 component that lists a vendor's people as
//! records and acts on them; a host (`oomnitza-connect`, or any
//! WebAssembly-capable hub) loads it, gives it sandboxed HTTP, and holds
//! the vendor's credential. This crate is everything about that which is
//! not vendor knowledge:
//!
//! - [`types`]: the contract's types as plain Rust (the generated WIT
//!   bindings stay private);
//! - [`Connector`]: the trait a connector implements, with default
//!   `fetch-mapped`, `map-records`, `check-action`, `count-hint` and
//!   `seats`;
//! - [`export_connector!`]: exports a `Connector` as the component;
//! - [`transport`]: HTTP ([`Transport`], any method, headers and body, with
//!   one request read ahead) and time ([`Sleeper`]), over `wasi:http` and
//!   `wasi:clocks` in the component and over scripted fakes in native
//!   tests;
//! - [`errors`]: HTTP answers as contract errors for a REST API;
//! - [`actions`]: an action over several targets (who is not attempted
//!   after an error about the call);
//! - [`mapping`]: the mapping engine (filters, rules, transforms), so
//!   mapped records, not raw ones, leave the component;
//! - [`params`]: action parameters checked against their declarations.
//!
//! A connector crate depends on this one and contains only what it knows
//! about its vendor: the field catalog, the wire format, the requests. See
//! `docs/writing-a-connector.md`.
//!
//! ```ignore
//! #[derive(Default)]
//! pub struct Acme<T = WasiTransport> { http: T }
//!
//! impl<T: Transport> Connector for Acme<T> {
//!     fn describe(&self) -> Manifest { /* fields, hosts, options */ }
//!     fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError> {
//!         /* one page of records */
//!     }
//! }
//!
//! oomnitza_connector_sdk::export_connector!(Acme);
//! ```
//!
//! Natively this crate is an ordinary library, so a connector's client and
//! catalog are unit-tested without a component runtime.

pub mod actions;
pub mod errors;
pub mod mapping;
pub mod params;
pub mod transport;
pub mod types;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(target_arch = "wasm32")]
pub use component::{WasiSleeper, WasiTransport};
pub use transport::{
    HttpResponse, Method, Request, Sleeper, StdSleeper, Transport, TransportError,
};
pub use types::{
    ActionResult, ConnectorError, FetchRequest, Manifest, MapOutcome, MappedPage, MappingSpec,
    Page, RecordKind, SeatCounts, SourceRecord, UserRef, Value,
};

/// A connector: its operations over the contract's types.
///
/// Only [`describe`](Connector::describe) and [`fetch`](Connector::fetch)
/// are required. An instance serves one call: state between pages lives in
/// the cursor, and a connector never holds a credential (the host attaches
/// it to requests for the origin it binds).
pub trait Connector {
    /// The manifest. Makes no HTTP calls.
    fn describe(&self) -> Manifest;

    /// One page of records, each with one value per catalog field in
    /// catalog order.
    fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError>;

    /// The catalog's field names in record order. Defaults to the
    /// manifest's; a connector with a constant catalog may answer without
    /// building the manifest.
    fn field_names(&self) -> Vec<String> {
        self.describe().fields.into_iter().map(|f| f.name).collect()
    }

    /// One page, mapped with `spec`: the sync's hot path, so records never
    /// leave the component. An invalid spec fails before any HTTP call.
    fn fetch_mapped(
        &mut self,
        request: FetchRequest,
        spec: &MappingSpec,
    ) -> Result<MappedPage, ConnectorError> {
        let names = self.field_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let compiled = mapping::CompiledSpec::compile(spec, &names)?;
        let page = self.fetch(request)?;
        Ok(MappedPage {
            outcomes: compiled.map_records(page.records),
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }

    /// One outcome per record, in order; an invalid spec fails the call.
    /// Makes no HTTP calls.
    fn map_records(
        &self,
        spec: &MappingSpec,
        records: Vec<SourceRecord>,
    ) -> Result<Vec<MapOutcome>, ConnectorError> {
        let names = self.field_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        mapping::map_records(spec, &names, records)
    }

    /// Runs a declared action on each target: one result per target, in
    /// order; an `Err` fails the whole call. Defaults to "no actions".
    fn action(
        &mut self,
        name: &str,
        _targets: Vec<UserRef>,
        _params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        Err(unknown_action(&self.describe(), name))
    }

    /// The effective parameters of an action (given and defaulted), or the
    /// rule they break. Makes no HTTP calls. Defaults to checking them
    /// against the manifest's declaration ([`params::check`]); override to
    /// add rules between parameters.
    fn check_action(
        &self,
        name: &str,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
        let manifest = self.describe();
        let action = manifest
            .actions
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| unknown_action(&manifest, name))?;
        params::check(name, &action.params, params).map(|p| p.effective())
    }

    /// How many records a complete listing is expected to return, if the
    /// vendor says cheaply; a hint for progress displays. Defaults to none.
    fn count_hint(
        &mut self,
        _kind: RecordKind,
        _options: &[(String, Value)],
    ) -> Result<Option<u64>, ConnectorError> {
        Ok(None)
    }

    /// The team's seats as the vendor counts them (licensed and
    /// provisioned), for reports; `None` when the vendor has no such notion.
    /// May make one HTTP call; hosts call it once per real sync, and an
    /// error only leaves the counts unknown. Defaults to none.
    fn seats(&mut self) -> Result<Option<SeatCounts>, ConnectorError> {
        Ok(None)
    }
}

/// `invalid-input: unknown action `x` (declared: a, b)`.
pub fn unknown_action(manifest: &Manifest, name: &str) -> ConnectorError {
    let declared: Vec<&str> = manifest.actions.iter().map(|a| a.name.as_str()).collect();
    let declared = if declared.is_empty() {
        "this connector declares none".to_owned()
    } else {
        format!("declared: {}", declared.join(", "))
    };
    ConnectorError::InvalidInput(format!("unknown action `{name}` ({declared})"))
}

/// Exports a [`Connector`] type as the component (`oomnitza:connector`,
/// world `user-connector`). The type must implement `Default`: each call
/// builds one. Expands to nothing outside wasm32, so a connector crate
/// stays an ordinary library for its native tests.
///
/// ```ignore
/// oomnitza_connector_sdk::export_connector!(MyConnector<WasiTransport>);
/// ```
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::wit;

            struct Component;

            impl $crate::__private::Guest for Component {
                fn describe() -> wit::Manifest {
                    $crate::__private::describe::<$connector>()
                }
                fn fetch(request: wit::FetchRequest) -> Result<wit::Page, wit::ConnectorError> {
                    $crate::__private::fetch::<$connector>(request)
                }
                fn fetch_mapped(
                    request: wit::FetchRequest,
                    spec: wit::MappingSpec,
                ) -> Result<wit::MappedPage, wit::ConnectorError> {
                    $crate::__private::fetch_mapped::<$connector>(request, spec)
                }
                fn map_records(
                    spec: wit::MappingSpec,
                    records: Vec<wit::SourceRecord>,
                ) -> Result<Vec<wit::MapOutcome>, wit::ConnectorError> {
                    $crate::__private::map_records::<$connector>(spec, records)
                }
                fn action(
                    name: String,
                    targets: Vec<wit::UserRef>,
                    params: Vec<(String, wit::Value)>,
                ) -> Result<Vec<Result<wit::ActionResult, wit::ConnectorError>>, wit::ConnectorError>
                {
                    $crate::__private::action::<$connector>(name, targets, params)
                }
                fn check_action(
                    name: String,
                    params: Vec<(String, wit::Value)>,
                ) -> Result<Vec<(String, wit::Value)>, wit::ConnectorError> {
                    $crate::__private::check_action::<$connector>(name, params)
                }
                fn count_hint(
                    kind: wit::RecordKind,
                    options: Vec<(String, wit::Value)>,
                ) -> Result<Option<u64>, wit::ConnectorError> {
                    $crate::__private::count_hint::<$connector>(kind, options)
                }
                fn seats() -> Result<Option<wit::SeatCounts>, wit::ConnectorError> {
                    $crate::__private::seats::<$connector>()
                }
            }

            $crate::__private::bindings::__export_component!(
                Component with_types_in $crate::__private::bindings
            );
        };
    };
}

/// What [`export_connector!`] expands to; not part of the API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    pub use crate::component::bindings;
    pub use crate::component::bindings::{
        Guest, action, check_action, count_hint, describe, fetch, fetch_mapped, map_records, seats,
        wit,
    };
}
