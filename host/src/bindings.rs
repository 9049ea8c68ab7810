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
pub const CONTRACT: &str = "oomnitza:connector/connector@0.3.0";

/// A contract value as JSON: text and timestamps as strings, lists as
/// arrays of strings.
pub fn to_json(v: Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match v {
        Value::Null => Json::Null,
        Value::Text(s) | Value::Timestamp(s) => Json::String(s),
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => Json::from(i),
        Value::TextList(l) => Json::Array(l.into_iter().map(Json::String).collect()),
    }
}

/// Whether `value` is of type `ty` (`null` is of none).
pub fn admits(ty: ValueType, value: &Value) -> bool {
    matches!(
        (ty, value),
        (ValueType::Text, Value::Text(_))
            | (ValueType::Boolean, Value::Boolean(_))
            | (ValueType::Integer, Value::Integer(_))
            | (ValueType::Timestamp, Value::Timestamp(_))
            | (ValueType::TextList, Value::TextList(_))
    )
}
