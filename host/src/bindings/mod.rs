//! Host-side bindings of the `oomnitza:connector` contract (`wit/`), one
//! module per released version, as Zed's extension host keeps one per
//! extension API version.
//!
//! A component exports exactly one version of the contract
//! (`oomnitza:connector/connector@X.Y.Z`). [`select`] reads it from the
//! component's exports when it is loaded and picks the module for it, or
//! refuses the component with a message naming its version and the
//! supported ones. [`ConnectorPre`] and [`Connector`] are enums over the
//! supported versions; the rest of the host uses them and the re-exported
//! types (the latest version's), never a version module directly.
//!
//! Adding a version: a new `wit/since_vX.Y.Z/` folder, a module here
//! binding it, a variant in [`Version`], [`ConnectorPre`] and
//! [`Connector`], and in each `call_*` method the conversion to and from
//! the working types (with what the host does when an older version lacks
//! an export). The working types are the latest version's; an older
//! version's module converts its own to and from them
//! ([`since_v0_3_0::Cast`]).

pub mod since_v0_3_0;
pub mod since_v0_4_0;

use wasmtime::AsContextMut;
use wasmtime::component::InstancePre;

use since_v0_3_0::Cast;

pub use since_v0_4_0::exports::oomnitza::connector::types::{
    ActionInfo, ActionResult, ActionStatus, Condition, ConnectorError, CredentialKind,
    FetchRequest, FieldInfo, Filter, FilterEffect, HostRequirement, Manifest, MapFailure,
    MapOutcome, MappedPage, MappedRecord, MappingRule, MappingSpec, Page, ParamInfo, RateLimit,
    RecordKind, RuleSource, SeatCounts, SourceRecord, SplitSpec, Transform, UnauthorizedError,
    UserRef, Value, ValueType, VendorConflict,
};

/// The name a component exports its operations under, without the version.
pub const INTERFACE: &str = "oomnitza:connector/connector";

/// The latest contract this host implements, as a component exports it.
pub const CONTRACT: &str = "oomnitza:connector/connector@0.4.0";

/// A contract version this host supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V0_3_0,
    V0_4_0,
}

impl Version {
    /// Every supported version, oldest first.
    pub const ALL: &[Version] = &[Version::V0_3_0, Version::V0_4_0];

    /// `0.4.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_3_0 => since_v0_3_0::VERSION,
            Version::V0_4_0 => since_v0_4_0::VERSION,
        }
    }

    /// The supported versions, for messages: `0.3.0, 0.4.0`.
    pub fn supported() -> String {
        Version::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a component is not a connector this host can run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    /// It exports no `oomnitza:connector/connector@…` at all.
    #[error(
        "it is not an Oomnitza connector: it exports no {INTERFACE}@… (this host supports {}; exports: {})",
        Version::supported(),
        .exports.join(", ")
    )]
    NotAConnector { exports: Vec<String> },
    /// It exports a version this host has no bindings for.
    #[error(
        "it implements contract oomnitza:connector@{found}, which this host does not support (supported: {}); rebuild the connector against wit/since_v{latest}/ (wit/CHANGELOG.md lists the changes)",
        Version::supported(),
        latest = Version::ALL[Version::ALL.len() - 1].as_str()
    )]
    Unsupported { found: String },
    /// It exports more than one version: the host would not know which
    /// one it is talking to.
    #[error("it exports several contract versions ({}); a connector exports exactly one", .found.join(", "))]
    Several { found: Vec<String> },
}

/// The contract version a component implements, from the names of its
/// exports.
pub fn select<'a>(exports: impl IntoIterator<Item = &'a str>) -> Result<Version, SelectError> {
    let exports: Vec<&str> = exports.into_iter().collect();
    let found: Vec<&str> = exports
        .iter()
        .filter_map(|e| e.strip_prefix(INTERFACE)?.strip_prefix('@'))
        .collect();
    match found[..] {
        [] => Err(SelectError::NotAConnector {
            exports: exports.iter().map(|e| (*e).to_string()).collect(),
        }),
        [one] => Version::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == one)
            .ok_or_else(|| SelectError::Unsupported {
                found: one.to_string(),
            }),
        _ => Err(SelectError::Several {
            found: found.iter().map(|v| (*v).to_string()).collect(),
        }),
    }
}

/// A component linked and checked against the bindings of its version.
pub enum ConnectorPre<T: 'static> {
    V0_3_0(since_v0_3_0::UserConnectorPre<T>),
    V0_4_0(since_v0_4_0::UserConnectorPre<T>),
}

impl<T: Send + 'static> ConnectorPre<T> {
    /// Binds `pre` to the bindings of `version`, checking the component's
    /// exports have that version's types.
    pub fn new(version: Version, pre: InstancePre<T>) -> wasmtime::Result<Self> {
        Ok(match version {
            Version::V0_3_0 => Self::V0_3_0(since_v0_3_0::UserConnectorPre::new(pre)?),
            Version::V0_4_0 => Self::V0_4_0(since_v0_4_0::UserConnectorPre::new(pre)?),
        })
    }

    /// The contract version the component implements.
    pub fn version(&self) -> Version {
        match self {
            Self::V0_3_0(_) => Version::V0_3_0,
            Self::V0_4_0(_) => Version::V0_4_0,
        }
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        match self {
            Self::V0_3_0(p) => p.engine(),
            Self::V0_4_0(p) => p.engine(),
        }
    }

    pub async fn instantiate_async(
        &self,
        store: impl AsContextMut<Data = T>,
    ) -> wasmtime::Result<Connector> {
        Ok(match self {
            Self::V0_3_0(p) => Connector::V0_3_0(p.instantiate_async(store).await?),
            Self::V0_4_0(p) => Connector::V0_4_0(p.instantiate_async(store).await?),
        })
    }
}

/// An instantiated connector, of the version it implements. Each `call_*`
/// takes and returns the working types (0.4.0's); a 0.3.0 component's are
/// converted at this boundary ([`Cast`]).
pub enum Connector {
    V0_3_0(since_v0_3_0::UserConnector),
    V0_4_0(since_v0_4_0::UserConnector),
}

/// A working-type argument as an older version's (a copy: arguments are
/// borrowed).
fn down<A: Clone + Cast<B>, B>(a: &A) -> B {
    a.clone().cast()
}

/// Pairs of names and values, as an older version's.
fn pairs<B>(params: &[(String, Value)]) -> Vec<(String, B)>
where
    Value: Cast<B>,
{
    params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().cast()))
        .collect()
}

impl Connector {
    pub async fn call_describe<S: AsContextMut>(&self, store: S) -> wasmtime::Result<Manifest>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => c
                .oomnitza_connector_connector()
                .call_describe(store)
                .await?
                .cast(),
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_describe(store)
                    .await?
            }
        })
    }

    /// A 0.3.0 component's conflict `invalid_cursor` comes back as
    /// `cursor-expired` ([`since_v0_3_0::listing`]).
    pub async fn call_fetch<S: AsContextMut>(
        &self,
        store: S,
        request: &FetchRequest,
    ) -> wasmtime::Result<Result<Page, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => since_v0_3_0::listing(
                c.oomnitza_connector_connector()
                    .call_fetch(store, &down(request))
                    .await?,
            ),
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_fetch(store, request)
                    .await?
            }
        })
    }

    /// As [`Self::call_fetch`] for a 0.3.0 component's errors.
    pub async fn call_fetch_mapped<S: AsContextMut>(
        &self,
        store: S,
        request: &FetchRequest,
        spec: &MappingSpec,
    ) -> wasmtime::Result<Result<MappedPage, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => since_v0_3_0::listing(
                c.oomnitza_connector_connector()
                    .call_fetch_mapped(store, &down(request), &down(spec))
                    .await?,
            ),
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_fetch_mapped(store, request, spec)
                    .await?
            }
        })
    }

    pub async fn call_map_records<S: AsContextMut>(
        &self,
        store: S,
        spec: &MappingSpec,
        records: &[SourceRecord],
    ) -> wasmtime::Result<Result<Vec<MapOutcome>, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => {
                let records: Vec<_> = records.iter().map(down).collect();
                c.oomnitza_connector_connector()
                    .call_map_records(store, &down(spec), &records)
                    .await?
                    .cast()
            }
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_map_records(store, spec, records)
                    .await?
            }
        })
    }

    #[allow(clippy::type_complexity)]
    pub async fn call_action<S: AsContextMut>(
        &self,
        store: S,
        name: &str,
        targets: &[UserRef],
        params: &[(String, Value)],
    ) -> wasmtime::Result<Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => {
                let targets: Vec<_> = targets.iter().map(down).collect();
                c.oomnitza_connector_connector()
                    .call_action(store, name, &targets, &pairs(params))
                    .await?
                    .cast()
            }
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_action(store, name, targets, params)
                    .await?
            }
        })
    }

    pub async fn call_check_action<S: AsContextMut>(
        &self,
        store: S,
        name: &str,
        params: &[(String, Value)],
    ) -> wasmtime::Result<Result<Vec<(String, Value)>, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => c
                .oomnitza_connector_connector()
                .call_check_action(store, name, &pairs(params))
                .await?
                .cast(),
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_check_action(store, name, params)
                    .await?
            }
        })
    }

    pub async fn call_count_hint<S: AsContextMut>(
        &self,
        store: S,
        kind: RecordKind,
        options: &[(String, Value)],
    ) -> wasmtime::Result<Result<Option<u64>, ConnectorError>>
    where
        S::Data: Send,
    {
        Ok(match self {
            Self::V0_3_0(c) => c
                .oomnitza_connector_connector()
                .call_count_hint(store, kind.cast(), &pairs(options))
                .await?
                .cast(),
            Self::V0_4_0(c) => {
                c.oomnitza_connector_connector()
                    .call_count_hint(store, kind, options)
                    .await?
            }
        })
    }

    /// `seats`; a 0.3.0 component has none: `none`, without a call.
    pub async fn call_seats<S: AsContextMut>(
        &self,
        store: S,
    ) -> wasmtime::Result<Result<Option<SeatCounts>, ConnectorError>>
    where
        S::Data: Send,
    {
        match self {
            Self::V0_3_0(_) => Ok(Ok(None)),
            Self::V0_4_0(c) => c.oomnitza_connector_connector().call_seats(store).await,
        }
    }
}

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

#[cfg(test)]
mod tests;
