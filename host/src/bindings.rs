//! Host-side bindings of the `oomnitza:connector` contract (see `wit/`).
//!
//! Generated once here; the rest of the host uses the re-exported types.

wasmtime::component::bindgen!({
    world: "oomnitza:connector/user-connector",
    path: "../wit",
    exports: { default: async },
    additional_derives: [PartialEq],
});

pub use exports::oomnitza::connector::types::{
    ActionInfo, ActionResult, ActionStatus, Condition, ConnectorError, CredentialKind,
    FetchRequest, FieldInfo, Filter, FilterEffect, HostRequirement, Manifest, MapFailure,
    MapOutcome, MappedPage, MappedRecord, MappingRule, MappingSpec, Page, ParamInfo, RecordKind,
    RuleSource, SourceRecord, SplitSpec, Transform, UserRef, Value, ValueType,
};

/// The contract version this host implements; a component must export it.
pub const CONTRACT: &str = "oomnitza:connector/connector@0.2.0";
