//! Contract 0.3.0 (`wit/since_v0.3.0/`), the first released contract: the
//! generated bindings of world `user-connector` at that version, and the
//! conversions between its types and the host's working types (0.4.0's,
//! [`super::since_v0_4_0`]).
//!
//! Every type 0.3.0 has is in 0.4.0 with the same shape, so each
//! conversion is field by field and case by case ([`Cast`], written once
//! per type by the macros below; a type that drifts apart fails to
//! compile). The two differences are handled here, so the rest of the
//! host only knows 0.4.0:
//! - 0.3.0 has no `cursor-expired`: a 0.3.0 connector said an expired
//!   cursor with its vendor's own conflict tag. [`listing`] turns the one
//!   such tag the host ever accepted ([`CURSOR_EXPIRED_TAG`], Dropbox's)
//!   into `cursor-expired`, for listing calls of 0.3.0 components only.
//! - 0.3.0 has no `seats`: the host answers `none` for such a component
//!   without calling it ([`super::Connector::call_seats`]).
//!
//! The world's WASI imports are bound to wasmtime's own WASI bindings
//! (`with`), so this module generates only the contract's exports.

wasmtime::component::bindgen!({
    world: "oomnitza:connector/user-connector",
    path: "../wit/since_v0.3.0",
    exports: { default: async },
    additional_derives: [PartialEq],
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

/// The version this module binds, as in the exported interface's name.
pub const VERSION: &str = "0.3.0";

/// The conflict tag by which 0.3.0 connectors said a continuation's cursor
/// had expired (Dropbox's `list/continue_v2` route error; contract 0.3.0
/// had no case for it). Read only from 0.3.0 components' listing calls.
pub const CURSOR_EXPIRED_TAG: &str = "invalid_cursor";

use super::since_v0_4_0::exports::oomnitza::connector::types as now;
use exports::oomnitza::connector::types as old;

/// A value of one contract version as the other's: moved, not copied.
pub trait Cast<T> {
    fn cast(self) -> T;
}

/// Primitives are the same in every version.
macro_rules! same {
    ($($t:ty),*) => {$(
        impl Cast<$t> for $t {
            fn cast(self) -> $t {
                self
            }
        }
    )*};
}
same!(String, bool, u32, i32, u64, i64);

impl<A: Cast<B>, B> Cast<Vec<B>> for Vec<A> {
    fn cast(self) -> Vec<B> {
        self.into_iter().map(Cast::cast).collect()
    }
}

impl<A: Cast<B>, B> Cast<Option<B>> for Option<A> {
    fn cast(self) -> Option<B> {
        self.map(Cast::cast)
    }
}

impl<A: Cast<B>, B, C: Cast<D>, D> Cast<(B, D)> for (A, C) {
    fn cast(self) -> (B, D) {
        (self.0.cast(), self.1.cast())
    }
}

impl<A: Cast<B>, B, E: Cast<F>, F> Cast<Result<B, F>> for Result<A, E> {
    fn cast(self) -> Result<B, F> {
        self.map(Cast::cast).map_err(Cast::cast)
    }
}

/// Records with the same fields in both versions, both ways.
macro_rules! records {
    ($($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Cast<now::$name> for old::$name {
            fn cast(self) -> now::$name {
                now::$name { $($field: self.$field.cast()),* }
            }
        }
        impl Cast<old::$name> for now::$name {
            fn cast(self) -> old::$name {
                old::$name { $($field: self.$field.cast()),* }
            }
        }
    )*};
}

/// Variants and enums with the same cases in both versions, both ways.
macro_rules! variants {
    ($($name:ident { $($case:ident $(($x:ident))?),* $(,)? })*) => {$(
        impl Cast<now::$name> for old::$name {
            fn cast(self) -> now::$name {
                match self { $(old::$name::$case $(($x))? => now::$name::$case $(($x.cast()))?,)* }
            }
        }
        impl Cast<old::$name> for now::$name {
            fn cast(self) -> old::$name {
                match self { $(now::$name::$case $(($x))? => old::$name::$case $(($x.cast()))?,)* }
            }
        }
    )*};
}

records! {
    FieldInfo { name, label, description, type_, unique }
    ParamInfo { name, label, description, type_, required, default }
    SourceRecord { id, values }
    SplitSpec { separator, index }
    MappingRule { target, source, transforms, required }
    Filter { field, condition, effect }
    MappingSpec { rules, filters, sync_key }
    MappedRecord { source_id, values }
    MapFailure { source_id, reason, raw }
    HostRequirement { origin, credential, scopes, purpose }
    ActionInfo { name, label, description, destructive, params }
    Manifest {
        name, display_name, version, record_kinds, fields, default_mapping, hosts,
        fetch_options, actions, max_page_size,
    }
    UnauthorizedError { expired, tag, message }
    RateLimit { retry_after_seconds, message }
    VendorConflict { tag, summary, user_message }
    FetchRequest { kind, cursor, page_size, options, sync_time, read_ahead }
    Page { records, cursor, has_more }
    MappedPage { outcomes, cursor, has_more }
    ActionResult { status, detail, vendor_response, values }
}

variants! {
    Value { Null, Text(x), Boolean(x), Integer(x), Timestamp(x), TextList(x) }
    ValueType { Text, Boolean, Integer, Timestamp, TextList }
    RecordKind { Users, SaasUsers }
    RuleSource { Field(x), Constant(x), FirstOf(x), Template(x) }
    Transform {
        LowerCase, UpperCase, Trim, DateFormat(x), Split(x), Join(x), Lookup(x), Default(x),
    }
    FilterEffect { Include, Exclude }
    Condition { OneOf(x), IsEmpty, Contains(x), StartsWith(x), EndsWith(x) }
    MapOutcome { Mapped(x), Filtered(x), Failed(x) }
    CredentialKind { None, Oauth2Bearer }
    UserRef { Email(x), Id(x), ExternalId(x) }
    ActionStatus { Done, Unchanged }
}

/// 0.3.0's errors are 0.4.0's, case for case.
impl Cast<now::ConnectorError> for old::ConnectorError {
    fn cast(self) -> now::ConnectorError {
        use now::ConnectorError as N;
        match self {
            Self::Unauthorized(x) => N::Unauthorized(x.cast()),
            Self::RateLimited(x) => N::RateLimited(x.cast()),
            Self::NotFound(x) => N::NotFound(x),
            Self::InvalidInput(x) => N::InvalidInput(x),
            Self::Conflict(x) => N::Conflict(x.cast()),
            Self::Unavailable(x) => N::Unavailable(x),
            Self::Denied(x) => N::Denied(x),
            Self::Other(x) => N::Other(x),
        }
    }
}

/// What a 0.3.0 connector said for each 0.4.0 error: `cursor-expired` as
/// the conflict [`listing`] reads back as it.
impl Cast<old::ConnectorError> for now::ConnectorError {
    fn cast(self) -> old::ConnectorError {
        use old::ConnectorError as O;
        match self {
            Self::Unauthorized(x) => O::Unauthorized(x.cast()),
            Self::RateLimited(x) => O::RateLimited(x.cast()),
            Self::NotFound(x) => O::NotFound(x),
            Self::InvalidInput(x) => O::InvalidInput(x),
            Self::Conflict(x) => O::Conflict(x.cast()),
            Self::Unavailable(x) => O::Unavailable(x),
            Self::Denied(x) => O::Denied(x),
            Self::Other(x) => O::Other(x),
            Self::CursorExpired(x) => O::Conflict(old::VendorConflict {
                tag: CURSOR_EXPIRED_TAG.to_owned(),
                summary: x,
                user_message: None,
            }),
        }
    }
}

/// The answer of a 0.3.0 listing call (`fetch`, `fetch-mapped`) as 0.4.0
/// says it: the conflict [`CURSOR_EXPIRED_TAG`] is `cursor-expired`.
pub fn listing<T: Cast<U>, U>(
    answer: Result<T, old::ConnectorError>,
) -> Result<U, now::ConnectorError> {
    let answer: Result<U, now::ConnectorError> = answer.cast();
    answer.map_err(|e| match e {
        now::ConnectorError::Conflict(c) if c.tag == CURSOR_EXPIRED_TAG => {
            now::ConnectorError::CursorExpired(c.user_message.unwrap_or(c.summary))
        }
        e => e,
    })
}
