//! The WIT glue (wasm32 only): the generated bindings for world
//! `user-connector`, one generic function per export (what
//! [`export_connector!`](crate::export_connector) forwards to), and
//! conversions between generated types and the crate's [`crate::types`].
//! No other file sees generated types.
//!
//! Conversions move every string and list (no copies), so a page or a
//! batch crosses this layer at the cost of re-tagging its values.

// The generated code lowers and lifts through raw pointers.
#![allow(unsafe_code)]

wit_bindgen::generate!({
    world: "user-connector",
    path: "../wit/since_v0.4.0",
    // The world's WASI imports are generated too (the transport uses the
    // `wasi` crate's; unused bindings import nothing).
    generate_all,
    // `export_connector!` expands in the connector's crate and calls this
    // through `$crate`.
    pub_export_macro: true,
    export_macro_name: "__export_component",
});

// The contract's docs, for tools that print the component's WIT (build.rs).
include!(concat!(env!("OUT_DIR"), "/package_docs.rs"));

pub use exports::oomnitza::connector::connector::Guest;
pub use exports::oomnitza::connector::types as wit;

use crate::Connector;
use crate::types as own;

/// What a connector type needs to be exported: the trait, and `Default` to
/// build one per call (a call stands alone; state between pages lives in
/// the cursor).
pub trait Exportable: Connector + Default {}
impl<C: Connector + Default> Exportable for C {}

fn connector<C: Exportable>() -> C {
    C::default()
}

// The exports, one generic function each; `export_connector!` forwards the
// generated `Guest` trait's functions here.

pub fn describe<C: Exportable>() -> wit::Manifest {
    connector::<C>().describe().into()
}

pub fn fetch<C: Exportable>(request: wit::FetchRequest) -> Result<wit::Page, wit::ConnectorError> {
    connector::<C>()
        .fetch(request.into())
        .map(Into::into)
        .map_err(Into::into)
}

pub fn fetch_mapped<C: Exportable>(
    request: wit::FetchRequest,
    spec: wit::MappingSpec,
) -> Result<wit::MappedPage, wit::ConnectorError> {
    let spec = own::MappingSpec::from(spec);
    connector::<C>()
        .fetch_mapped(request.into(), &spec)
        .map(Into::into)
        .map_err(Into::into)
}

pub fn map_records<C: Exportable>(
    spec: wit::MappingSpec,
    records: Vec<wit::SourceRecord>,
) -> Result<Vec<wit::MapOutcome>, wit::ConnectorError> {
    let spec = own::MappingSpec::from(spec);
    let records = records.into_iter().map(Into::into).collect();
    connector::<C>()
        .map_records(&spec, records)
        .map(|outcomes| outcomes.into_iter().map(Into::into).collect())
        .map_err(Into::into)
}

pub fn action<C: Exportable>(
    name: String,
    targets: Vec<wit::UserRef>,
    params: Vec<(String, wit::Value)>,
) -> Result<Vec<Result<wit::ActionResult, wit::ConnectorError>>, wit::ConnectorError> {
    connector::<C>()
        .action(
            &name,
            targets.into_iter().map(Into::into).collect(),
            pairs_in(params),
        )
        .map(|results| {
            results
                .into_iter()
                .map(|r| r.map(Into::into).map_err(Into::into))
                .collect()
        })
        .map_err(Into::into)
}

pub fn check_action<C: Exportable>(
    name: String,
    params: Vec<(String, wit::Value)>,
) -> Result<Vec<(String, wit::Value)>, wit::ConnectorError> {
    connector::<C>()
        .check_action(&name, pairs_in(params))
        .map(pairs_out)
        .map_err(Into::into)
}

pub fn count_hint<C: Exportable>(
    kind: wit::RecordKind,
    options: Vec<(String, wit::Value)>,
) -> Result<Option<u64>, wit::ConnectorError> {
    connector::<C>()
        .count_hint(kind.into(), &pairs_in(options))
        .map_err(Into::into)
}

pub fn seats<C: Exportable>() -> Result<Option<wit::SeatCounts>, wit::ConnectorError> {
    connector::<C>()
        .seats()
        .map(|s| {
            s.map(|s| wit::SeatCounts {
                licensed: s.licensed,
                provisioned: s.provisioned,
            })
        })
        .map_err(Into::into)
}

fn pairs_in(pairs: Vec<(String, wit::Value)>) -> Vec<(String, own::Value)> {
    pairs.into_iter().map(|(k, v)| (k, v.into())).collect()
}

fn pairs_out(pairs: Vec<(String, own::Value)>) -> Vec<(String, wit::Value)> {
    pairs.into_iter().map(|(k, v)| (k, v.into())).collect()
}

/// `From` both ways between two enums with the same unit cases.
macro_rules! unit_enum {
    ($wit:ident <=> $own:ident { $($case:ident),* $(,)? }) => {
        impl From<wit::$wit> for own::$own {
            fn from(v: wit::$wit) -> Self {
                match v { $( wit::$wit::$case => own::$own::$case, )* }
            }
        }
        impl From<own::$own> for wit::$wit {
            fn from(v: own::$own) -> Self {
                match v { $( own::$own::$case => wit::$wit::$case, )* }
            }
        }
    };
}

unit_enum!(ValueType <=> ValueType { Text, Boolean, Integer, Timestamp, TextList });
unit_enum!(RecordKind <=> RecordKind { Users, SaasUsers });
unit_enum!(FilterEffect <=> FilterEffect { Include, Exclude });
unit_enum!(CredentialKind <=> CredentialKind { None, Oauth2Bearer });
unit_enum!(ActionStatus <=> ActionStatus { Done, Unchanged });

// ---------------------------------------------------------------------------
// Values (both ways).

impl From<wit::Value> for own::Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::Null => own::Value::Null,
            wit::Value::Text(s) => own::Value::Text(s),
            wit::Value::Boolean(b) => own::Value::Boolean(b),
            wit::Value::Integer(i) => own::Value::Integer(i),
            wit::Value::Timestamp(s) => own::Value::Timestamp(s),
            wit::Value::TextList(l) => own::Value::TextList(l),
        }
    }
}

impl From<own::Value> for wit::Value {
    fn from(v: own::Value) -> Self {
        match v {
            own::Value::Null => wit::Value::Null,
            own::Value::Text(s) => wit::Value::Text(s),
            own::Value::Boolean(b) => wit::Value::Boolean(b),
            own::Value::Integer(i) => wit::Value::Integer(i),
            own::Value::Timestamp(s) => wit::Value::Timestamp(s),
            own::Value::TextList(l) => wit::Value::TextList(l),
        }
    }
}

impl From<wit::SourceRecord> for own::SourceRecord {
    fn from(r: wit::SourceRecord) -> Self {
        own::SourceRecord {
            id: r.id,
            values: r.values.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<own::SourceRecord> for wit::SourceRecord {
    fn from(r: own::SourceRecord) -> Self {
        wit::SourceRecord {
            id: r.id,
            values: r.values.into_iter().map(Into::into).collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// Mapping specs (both ways: in from `map-records`, out in the manifest).

impl From<wit::RuleSource> for own::RuleSource {
    fn from(s: wit::RuleSource) -> Self {
        match s {
            wit::RuleSource::Field(f) => own::RuleSource::Field(f),
            wit::RuleSource::Constant(v) => own::RuleSource::Constant(v.into()),
            wit::RuleSource::FirstOf(fs) => own::RuleSource::FirstOf(fs),
            wit::RuleSource::Template(t) => own::RuleSource::Template(t),
        }
    }
}

impl From<own::RuleSource> for wit::RuleSource {
    fn from(s: own::RuleSource) -> Self {
        match s {
            own::RuleSource::Field(f) => wit::RuleSource::Field(f),
            own::RuleSource::Constant(v) => wit::RuleSource::Constant(v.into()),
            own::RuleSource::FirstOf(fs) => wit::RuleSource::FirstOf(fs),
            own::RuleSource::Template(t) => wit::RuleSource::Template(t),
        }
    }
}

impl From<wit::Transform> for own::Transform {
    fn from(t: wit::Transform) -> Self {
        match t {
            wit::Transform::LowerCase => own::Transform::LowerCase,
            wit::Transform::UpperCase => own::Transform::UpperCase,
            wit::Transform::Trim => own::Transform::Trim,
            wit::Transform::DateFormat(p) => own::Transform::DateFormat(p),
            wit::Transform::Split(s) => own::Transform::Split(own::SplitSpec {
                separator: s.separator,
                index: s.index,
            }),
            wit::Transform::Join(s) => own::Transform::Join(s),
            wit::Transform::Lookup(table) => own::Transform::Lookup(pairs_in(table)),
            wit::Transform::Default(v) => own::Transform::Default(v.into()),
        }
    }
}

impl From<own::Transform> for wit::Transform {
    fn from(t: own::Transform) -> Self {
        match t {
            own::Transform::LowerCase => wit::Transform::LowerCase,
            own::Transform::UpperCase => wit::Transform::UpperCase,
            own::Transform::Trim => wit::Transform::Trim,
            own::Transform::DateFormat(p) => wit::Transform::DateFormat(p),
            own::Transform::Split(s) => wit::Transform::Split(wit::SplitSpec {
                separator: s.separator,
                index: s.index,
            }),
            own::Transform::Join(s) => wit::Transform::Join(s),
            own::Transform::Lookup(table) => wit::Transform::Lookup(pairs_out(table)),
            own::Transform::Default(v) => wit::Transform::Default(v.into()),
        }
    }
}

impl From<wit::Condition> for own::Condition {
    fn from(c: wit::Condition) -> Self {
        match c {
            wit::Condition::OneOf(v) => own::Condition::OneOf(v),
            wit::Condition::IsEmpty => own::Condition::IsEmpty,
            wit::Condition::Contains(s) => own::Condition::Contains(s),
            wit::Condition::StartsWith(s) => own::Condition::StartsWith(s),
            wit::Condition::EndsWith(s) => own::Condition::EndsWith(s),
        }
    }
}

impl From<own::Condition> for wit::Condition {
    fn from(c: own::Condition) -> Self {
        match c {
            own::Condition::OneOf(v) => wit::Condition::OneOf(v),
            own::Condition::IsEmpty => wit::Condition::IsEmpty,
            own::Condition::Contains(s) => wit::Condition::Contains(s),
            own::Condition::StartsWith(s) => wit::Condition::StartsWith(s),
            own::Condition::EndsWith(s) => wit::Condition::EndsWith(s),
        }
    }
}

impl From<wit::MappingSpec> for own::MappingSpec {
    fn from(s: wit::MappingSpec) -> Self {
        own::MappingSpec {
            rules: s
                .rules
                .into_iter()
                .map(|r| own::MappingRule {
                    target: r.target,
                    source: r.source.into(),
                    transforms: r.transforms.into_iter().map(Into::into).collect(),
                    required: r.required,
                })
                .collect(),
            filters: s
                .filters
                .into_iter()
                .map(|f| own::Filter {
                    field: f.field,
                    condition: f.condition.into(),
                    effect: f.effect.into(),
                })
                .collect(),
            sync_key: s.sync_key,
        }
    }
}

impl From<own::MappingSpec> for wit::MappingSpec {
    fn from(s: own::MappingSpec) -> Self {
        wit::MappingSpec {
            rules: s
                .rules
                .into_iter()
                .map(|r| wit::MappingRule {
                    target: r.target,
                    source: r.source.into(),
                    transforms: r.transforms.into_iter().map(Into::into).collect(),
                    required: r.required,
                })
                .collect(),
            filters: s
                .filters
                .into_iter()
                .map(|f| wit::Filter {
                    field: f.field,
                    condition: f.condition.into(),
                    effect: f.effect.into(),
                })
                .collect(),
            sync_key: s.sync_key,
        }
    }
}

// ---------------------------------------------------------------------------
// Inputs.

impl From<wit::FetchRequest> for own::FetchRequest {
    fn from(r: wit::FetchRequest) -> Self {
        own::FetchRequest {
            kind: r.kind.into(),
            cursor: r.cursor,
            page_size: r.page_size,
            options: pairs_in(r.options),
            sync_time: r.sync_time,
            read_ahead: r.read_ahead,
        }
    }
}

impl From<wit::UserRef> for own::UserRef {
    fn from(u: wit::UserRef) -> Self {
        match u {
            wit::UserRef::Email(s) => own::UserRef::Email(s),
            wit::UserRef::Id(s) => own::UserRef::Id(s),
            wit::UserRef::ExternalId(s) => own::UserRef::ExternalId(s),
        }
    }
}

// ---------------------------------------------------------------------------
// Outputs.

impl From<own::Page> for wit::Page {
    fn from(p: own::Page) -> Self {
        wit::Page {
            records: p.records.into_iter().map(Into::into).collect(),
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl From<own::MappedPage> for wit::MappedPage {
    fn from(p: own::MappedPage) -> Self {
        wit::MappedPage {
            outcomes: p.outcomes.into_iter().map(Into::into).collect(),
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl From<own::MapOutcome> for wit::MapOutcome {
    fn from(o: own::MapOutcome) -> Self {
        match o {
            own::MapOutcome::Mapped(m) => wit::MapOutcome::Mapped(wit::MappedRecord {
                source_id: m.source_id,
                values: m.values.into_iter().map(Into::into).collect(),
            }),
            own::MapOutcome::Filtered(reason) => wit::MapOutcome::Filtered(reason),
            own::MapOutcome::Failed(f) => wit::MapOutcome::Failed(wit::MapFailure {
                source_id: f.source_id,
                reason: f.reason,
                raw: pairs_out(f.raw),
            }),
        }
    }
}

impl From<own::ParamInfo> for wit::ParamInfo {
    fn from(p: own::ParamInfo) -> Self {
        wit::ParamInfo {
            name: p.name,
            label: p.label,
            description: p.description,
            type_: p.ty.into(),
            required: p.required,
            default: p.default.map(Into::into),
        }
    }
}

impl From<own::Manifest> for wit::Manifest {
    fn from(m: own::Manifest) -> Self {
        wit::Manifest {
            name: m.name,
            display_name: m.display_name,
            version: m.version,
            record_kinds: m.record_kinds.into_iter().map(Into::into).collect(),
            fields: m
                .fields
                .into_iter()
                .map(|f| wit::FieldInfo {
                    name: f.name,
                    label: f.label,
                    description: f.description,
                    type_: f.ty.into(),
                    unique: f.unique,
                })
                .collect(),
            default_mapping: m.default_mapping.into(),
            hosts: m
                .hosts
                .into_iter()
                .map(|h| wit::HostRequirement {
                    origin: h.origin,
                    credential: h.credential.into(),
                    scopes: h.scopes,
                    purpose: h.purpose,
                })
                .collect(),
            fetch_options: m.fetch_options.into_iter().map(Into::into).collect(),
            actions: m
                .actions
                .into_iter()
                .map(|a| wit::ActionInfo {
                    name: a.name,
                    label: a.label,
                    description: a.description,
                    destructive: a.destructive,
                    params: a.params.into_iter().map(Into::into).collect(),
                })
                .collect(),
            max_page_size: m.max_page_size,
        }
    }
}

impl From<own::ActionResult> for wit::ActionResult {
    fn from(r: own::ActionResult) -> Self {
        wit::ActionResult {
            status: r.status.into(),
            detail: r.detail,
            vendor_response: r.vendor_response,
            values: pairs_out(r.values),
        }
    }
}

impl From<own::ConnectorError> for wit::ConnectorError {
    fn from(e: own::ConnectorError) -> Self {
        match e {
            own::ConnectorError::Unauthorized(u) => {
                wit::ConnectorError::Unauthorized(wit::UnauthorizedError {
                    expired: u.expired,
                    tag: u.tag,
                    message: u.message,
                })
            }
            own::ConnectorError::RateLimited(r) => {
                wit::ConnectorError::RateLimited(wit::RateLimit {
                    retry_after_seconds: r.retry_after_seconds,
                    message: r.message,
                })
            }
            own::ConnectorError::NotFound(m) => wit::ConnectorError::NotFound(m),
            own::ConnectorError::InvalidInput(m) => wit::ConnectorError::InvalidInput(m),
            own::ConnectorError::Conflict(c) => {
                wit::ConnectorError::Conflict(wit::VendorConflict {
                    tag: c.tag,
                    summary: c.summary,
                    user_message: c.user_message,
                })
            }
            own::ConnectorError::Unavailable(m) => wit::ConnectorError::Unavailable(m),
            own::ConnectorError::Denied(m) => wit::ConnectorError::Denied(m),
            own::ConnectorError::Other(m) => wit::ConnectorError::Other(m),
            own::ConnectorError::CursorExpired(m) => wit::ConnectorError::CursorExpired(m),
        }
    }
}
