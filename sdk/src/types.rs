//! The contract's types (`oomnitza:connector/types`), mirrored as plain Rust.
//!
//! `bindings.rs` converts between these and the types `wit-bindgen`
//! generates; nothing else in the crate sees generated code, so the whole
//! crate (mapping engine included) builds and tests natively.

/// One value of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The field is absent or empty at the vendor.
    Null,
    Text(String),
    Boolean(bool),
    Integer(i64),
    /// An instant, as RFC 3339 in UTC: `2015-05-12T15:50:38Z`.
    Timestamp(String),
    TextList(Vec<String>),
}

impl Value {
    /// Null, empty text or timestamp, or an empty list.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) | Value::Timestamp(s) => s.is_empty(),
            Value::TextList(items) => items.is_empty(),
            Value::Boolean(_) | Value::Integer(_) => false,
        }
    }

    /// The case's name, as in the WIT: `text`, `text-list`, ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Text(_) => "text",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Timestamp(_) => "timestamp",
            Value::TextList(_) => "text-list",
        }
    }
}

/// The type a field or parameter always has (or `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Boolean,
    Integer,
    Timestamp,
    TextList,
}

impl ValueType {
    /// The case's name, as in the WIT: `text`, `text-list`, ...
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Boolean => "boolean",
            ValueType::Integer => "integer",
            ValueType::Timestamp => "timestamp",
            ValueType::TextList => "text-list",
        }
    }

    /// Whether `value` is of this type (`null` is of none).
    pub fn admits(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (ValueType::Text, Value::Text(_))
                | (ValueType::Boolean, Value::Boolean(_))
                | (ValueType::Integer, Value::Integer(_))
                | (ValueType::Timestamp, Value::Timestamp(_))
                | (ValueType::TextList, Value::TextList(_))
        )
    }
}

/// The kinds of record a connector can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Users,
    SaasUsers,
}

/// One entry of a connector's field catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub label: String,
    pub description: String,
    pub ty: ValueType,
    /// No two records share a non-empty value: fit for a sync key.
    pub unique: bool,
}

/// A typed parameter of an action or a fetch option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub label: String,
    pub description: String,
    pub ty: ValueType,
    pub required: bool,
    pub default: Option<Value>,
}

/// One record as fetched from the vendor; `values[i]` belongs to field `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub id: String,
    pub values: Vec<Value>,
}

/// Where a mapping rule takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    Field(String),
    Constant(Value),
    FirstOf(Vec<String>),
    Template(String),
}

/// Splits text and keeps one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSpec {
    pub separator: String,
    /// Zero-based; negative counts from the end (-1 is the last part).
    pub index: i32,
}

/// A step applied, in order, to a rule's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    LowerCase,
    UpperCase,
    Trim,
    DateFormat(String),
    Split(SplitSpec),
    Join(String),
    Lookup(Vec<(String, Value)>),
    Default(Value),
}

/// One rule of a mapping: how an Oomnitza field gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    pub target: String,
    pub source: RuleSource,
    pub transforms: Vec<Transform>,
    pub required: bool,
}

/// What a filter does with the records it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterEffect {
    Include,
    Exclude,
}

/// A test on one field's value, compared as text (lists: any element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    OneOf(Vec<String>),
    IsEmpty,
    Contains(String),
    StartsWith(String),
    EndsWith(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub condition: Condition,
    pub effect: FilterEffect,
}

/// A complete mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MappingSpec {
    pub rules: Vec<MappingRule>,
    pub filters: Vec<Filter>,
    pub sync_key: Vec<String>,
}

/// A record ready for Oomnitza: one value per rule of the spec, in rule
/// order (the rules' targets name them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRecord {
    pub source_id: String,
    pub values: Vec<Value>,
}

/// A record that could not be mapped, reported raw with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFailure {
    pub source_id: String,
    pub reason: String,
    pub raw: Vec<(String, Value)>,
}

/// The result of mapping one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOutcome {
    Mapped(MappedRecord),
    /// Dropped by a filter; the text names the filter.
    Filtered(String),
    Failed(MapFailure),
}

/// The credential a host must attach to requests for one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    None,
    Oauth2Bearer,
}

/// An origin the connector calls, and the credential it needs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRequirement {
    pub origin: String,
    pub credential: CredentialKind,
    pub scopes: Vec<String>,
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: String,
    pub label: String,
    pub description: String,
    pub destructive: bool,
    pub params: Vec<ParamInfo>,
}

/// The connector's manifest, returned by `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub record_kinds: Vec<RecordKind>,
    pub fields: Vec<FieldInfo>,
    pub default_mapping: MappingSpec,
    pub hosts: Vec<HostRequirement>,
    pub fetch_options: Vec<ParamInfo>,
    pub actions: Vec<ActionInfo>,
    pub max_page_size: u32,
}

/// Details of an authorization failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnauthorizedError {
    pub expired: bool,
    pub tag: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub retry_after_seconds: u32,
    pub message: String,
}

/// A vendor refused the operation in the current state (often HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorConflict {
    pub tag: String,
    pub summary: String,
    pub user_message: Option<String>,
}

/// The single error type of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    Unauthorized(UnauthorizedError),
    RateLimited(RateLimit),
    NotFound(String),
    InvalidInput(String),
    Conflict(VendorConflict),
    Unavailable(String),
    Denied(String),
    Other(String),
    /// The listing's cursor expired: the host lists again from the first
    /// page (retrying the cursor is pointless). Give it from `fetch` for a
    /// continuation only; the text is the vendor's explanation.
    CursorExpired(String),
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorError::Unauthorized(e) => {
                write!(f, "unauthorized ({}): {}", e.tag, e.message)
            }
            ConnectorError::RateLimited(e) => write!(
                f,
                "rate limited (retry after {} s): {}",
                e.retry_after_seconds, e.message
            ),
            ConnectorError::NotFound(m) => write!(f, "not found: {m}"),
            ConnectorError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            ConnectorError::Conflict(e) => write!(f, "conflict ({}): {}", e.tag, e.summary),
            ConnectorError::Unavailable(m) => write!(f, "unavailable: {m}"),
            ConnectorError::Denied(m) => write!(f, "denied: {m}"),
            ConnectorError::Other(m) => f.write_str(m),
            ConnectorError::CursorExpired(m) => write!(f, "cursor expired: {m}"),
        }
    }
}

impl std::error::Error for ConnectorError {}

/// A team's seats as the vendor counts them ([`Connector::seats`](crate::Connector::seats)).
/// A count the vendor does not give is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeatCounts {
    /// Seats paid for: the licences bought (Dropbox: `num_licensed_users`).
    pub licensed: Option<u64>,
    /// Seats in use: accounts handed out, active, invited or suspended
    /// (Dropbox: `num_provisioned_users`).
    pub provisioned: Option<u64>,
}

/// Which record a `fetch` call starts from and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub kind: RecordKind,
    pub cursor: Option<String>,
    pub page_size: u32,
    pub options: Vec<(String, Value)>,
    pub sync_time: String,
    /// The next page will be asked for: it may be fetched ahead.
    pub read_ahead: bool,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<SourceRecord>,
    pub cursor: Option<String>,
    pub has_more: bool,
}

/// One page, fetched and mapped: one outcome per fetched record, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedPage {
    pub outcomes: Vec<MapOutcome>,
    pub cursor: Option<String>,
    pub has_more: bool,
}

/// Who an action is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Email(String),
    Id(String),
    ExternalId(String),
}

/// What an action did to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    Done,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub status: ActionStatus,
    pub detail: String,
    pub vendor_response: String,
    pub values: Vec<(String, Value)>,
}
