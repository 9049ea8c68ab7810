//! Dropbox's wire types for the members routes, and a small JSON reader for
//! them.
//!
//! Dropbox's JSON follows its "stone" conventions:
//! - unions are `{".tag": "active"}`, or the bare string `"active"` for a
//!   member without payload; a struct payload is inlined beside the tag
//!   (`{".tag": "removed", "is_recoverable": true, ...}`);
//! - unknown struct fields and unknown union tags must be tolerated.
//!
//! The types here are read with a hand-written reader (the `wire_struct!`
//! macro and [`Union`]) instead of `#[derive(Deserialize)]` so that
//! - every error names where it happened (`members[12].profile: missing field
//!   `email` at line 1 column 3456`), which a `serde_json` error alone does
//!   not, and
//! - unions accept both forms and any tag with one reusable implementation.
//!
//! Leniency: a field is required only when the connector cannot do without
//! it (a member's `team_member_id`, `email`, `status`; a role's `role_id` and
//! `name`; the page's `members`, `cursor`, `has_more`). Every other field is
//! read when present and left `None` when absent or `null`, even where the
//! Dropbox spec marks it required, so that one odd member never fails a
//! whole sync over a field nobody mapped.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Reads a whole JSON document as `T`.
///
/// On error the message names the JSON path of the problem (`members[3].
/// profile.status`) and the `serde_json` message with its line and column.
pub fn parse<T: Wire>(body: &[u8]) -> Result<T, WireError> {
    ERROR_PATH.with(|p| p.borrow_mut().clear());
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = T::wire(&mut de).and_then(|value| de.end().map(|()| value));
    result.map_err(|e| WireError {
        path: take_error_path(),
        message: e.to_string(),
    })
}

/// Where and why a document failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// `members[12].profile`; empty for the document itself.
    pub path: String,
    /// `serde_json`'s message, with line and column.
    pub message: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for WireError {}

// ---------------------------------------------------------------------------
// Error paths.
//
// While an error propagates out of nested readers, each level pushes its own
// segment (field name or list index); `parse` then reads them innermost
// first. The stack lives only for one `parse` call (cleared at its start);
// nothing is kept between calls.

#[derive(Debug, Clone, Copy)]
enum Segment {
    Field(&'static str),
    Index(usize),
}

thread_local! {
    static ERROR_PATH: RefCell<Vec<Segment>> = const { RefCell::new(Vec::new()) };
}

/// Passes `result` through, recording `segment` if it is an error.
fn at<T, E>(segment: Segment, result: Result<T, E>) -> Result<T, E> {
    if result.is_err() {
        ERROR_PATH.with(|p| p.borrow_mut().push(segment));
    }
    result
}

fn take_error_path() -> String {
    let segments = ERROR_PATH.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let mut path = String::new();
    for segment in segments.iter().rev() {
        match segment {
            Segment::Field(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
            }
            Segment::Index(i) => {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
            }
        }
    }
    path
}

// ---------------------------------------------------------------------------
// The reader.

/// A type this module can read from JSON.
pub trait Wire: Sized {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

struct WireSeed<T>(PhantomData<T>);

impl<T> WireSeed<T> {
    fn new() -> Self {
        WireSeed(PhantomData)
    }
}

impl<'de, T: Wire> DeserializeSeed<'de> for WireSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::wire(deserializer)
    }
}

impl Wire for String {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)
    }
}

impl Wire for bool {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bool::deserialize(deserializer)
    }
}

/// `null` and absence both read as `None`.
impl<T: Wire> Wire for Option<T> {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptionVisitor<T>(PhantomData<T>);
        impl<'de, T: Wire> Visitor<'de> for OptionVisitor<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                T::wire(d).map(Some)
            }
        }
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }
}

/// A list; an element's error is reported at `[index]`.
impl<T: Wire> Wire for Vec<T> {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);
        impl<'de, T: Wire> Visitor<'de> for ListVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(item) = at(
                    Segment::Index(items.len()),
                    seq.next_element_seed(WireSeed::<T>::new()),
                )? {
                    items.push(item);
                }
                Ok(items)
            }
        }
        deserializer.deserialize_seq(ListVisitor(PhantomData))
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A struct read field by field: the shared part of plain structs and of
/// union payloads (whose fields sit beside `.tag`).
pub trait WireStruct: Sized {
    /// The fields read so far.
    type Partial: Default;
    /// For "expected ..." messages: `a TeamMemberProfile object`.
    const EXPECTING: &'static str;
    /// Reads the value of `key` if it is one of this struct's fields;
    /// `Ok(false)` leaves the value unread for the caller to skip.
    fn read_field<'de, A: MapAccess<'de>>(
        partial: &mut Self::Partial,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error>;
    /// Checks required fields and builds the value.
    fn finish<E: de::Error>(partial: Self::Partial) -> Result<Self, E>;
}

/// The payload of a union member that has none.
impl WireStruct for () {
    type Partial = ();
    const EXPECTING: &'static str = "an object";
    fn read_field<'de, A: MapAccess<'de>>(
        _: &mut (),
        _: &str,
        _: &mut A,
    ) -> Result<bool, A::Error> {
        Ok(false)
    }
    fn finish<E: de::Error>((): ()) -> Result<(), E> {
        Ok(())
    }
}

struct StructVisitor<T>(PhantomData<T>);

impl<'de, T: WireStruct> Visitor<'de> for StructVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut partial = T::Partial::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if !T::read_field(&mut partial, &key.0, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        T::finish(partial)
    }
}

fn read_struct<'de, T: WireStruct, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_map(StructVisitor::<T>(PhantomData))
}

fn required<T, E: de::Error>(value: Option<T>, name: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(name))
}

fn optional<T: Default, E: de::Error>(value: Option<T>, _: &'static str) -> Result<T, E> {
    Ok(value.unwrap_or_default())
}

/// Declares a wire struct: the public type, its `Partial`, and its readers.
/// Each field is `required` (absent → "missing field") or `optional` (its
/// type must have a `Default`, normally `Option<_>`). Unknown fields are
/// skipped.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $partial:ident {
            $( $(#[$fmeta:meta])* $kind:ident $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        #[doc(hidden)]
        #[derive(Default)]
        pub struct $partial {
            $( $field: Option<$ty>, )*
        }

        impl WireStruct for $name {
            type Partial = $partial;
            const EXPECTING: &'static str = concat!("a ", stringify!($name), " object");
            fn read_field<'de, A: MapAccess<'de>>(
                partial: &mut $partial,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                match key {
                    $(
                        stringify!($field) => {
                            let value = at(
                                Segment::Field(stringify!($field)),
                                map.next_value_seed(WireSeed::<$ty>::new()),
                            )?;
                            partial.$field = Some(value);
                            Ok(true)
                        }
                    )*
                    _ => Ok(false),
                }
            }
            fn finish<E: de::Error>(partial: $partial) -> Result<Self, E> {
                Ok($name {
                    $( $field: $kind(partial.$field, stringify!($field))?, )*
                })
            }
        }

        impl Wire for $name {
            fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read_struct::<Self, D>(deserializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <Self as Wire>::wire(deserializer)
            }
        }
    };
}

/// A stone union value: its tag, and the payload fields found beside it.
///
/// Reads `"tag"` and `{".tag": "tag", ...payload}`; any tag is accepted, so
/// unknown members of open unions pass through as their tag text. Payload
/// fields are read whichever the tag is, so a payload type should have only
/// optional fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Union<P = ()> {
    pub tag: String,
    pub payload: P,
}

impl<P: Default> Union<P> {
    /// A union member without payload.
    pub fn tag(tag: impl Into<String>) -> Self {
        Union {
            tag: tag.into(),
            payload: P::default(),
        }
    }
}

impl<P: WireStruct> Wire for Union<P> {
    fn wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UnionVisitor<P>(PhantomData<P>);
        impl<'de, P: WireStruct> Visitor<'de> for UnionVisitor<P> {
            type Value = Union<P>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a union tag (a string, or an object with \".tag\")")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Union<P>, E> {
                self.visit_string(v.to_owned())
            }
            fn visit_string<E: de::Error>(self, tag: String) -> Result<Union<P>, E> {
                Ok(Union {
                    tag,
                    payload: P::finish(P::Partial::default())?,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Union<P>, A::Error> {
                let mut tag = None;
                let mut partial = P::Partial::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    if key.0 == ".tag" {
                        tag = Some(at(Segment::Field(".tag"), map.next_value::<String>())?);
                    } else if !P::read_field(&mut partial, &key.0, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Union {
                    tag: required(tag, ".tag")?,
                    payload: P::finish(partial)?,
                })
            }
        }
        deserializer.deserialize_any(UnionVisitor(PhantomData))
    }
}

impl<'de, P: WireStruct> Deserialize<'de> for Union<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <Self as Wire>::wire(deserializer)
    }
}

// ---------------------------------------------------------------------------
// The members routes.

wire_struct! {
    /// The result of `team/members/list_v2` and `team/members/list/continue_v2`
    /// (`MembersListV2Result`).
    pub struct MembersListResult / MembersListResultPartial {
        required members: Vec<TeamMemberInfoV2>,
        /// Pass to `list/continue_v2` for the next page.
        required cursor: String,
        required has_more: bool,
    }
}

wire_struct! {
    /// `TeamMemberInfoV2`.
    pub struct TeamMemberInfoV2 / TeamMemberInfoV2Partial {
        required profile: TeamMemberProfile,
        /// Admin roles; absent or empty for a plain member.
        optional roles: Option<Vec<TeamMemberRole>>,
    }
}

wire_struct! {
    /// `TeamMemberProfile`.
    pub struct TeamMemberProfile / TeamMemberProfilePartial {
        required team_member_id: String,
        optional external_id: Option<String>,
        /// `dbid:...`
        optional account_id: Option<String>,
        required email: String,
        optional email_verified: Option<bool>,
        optional secondary_emails: Option<Vec<SecondaryEmail>>,
        /// `active` | `invited` | `suspended` | `removed{is_recoverable,
        /// is_disconnected}`, or any future tag.
        required status: Union<RemovedStatus>,
        optional name: Option<Name>,
        /// `full` | `limited`, or any future tag.
        optional membership_type: Option<Union>,
        optional invited_on: Option<String>,
        optional joined_on: Option<String>,
        optional suspended_on: Option<String>,
        optional persistent_id: Option<String>,
        optional is_directory_restricted: Option<bool>,
        optional profile_photo_url: Option<String>,
        /// Group ids.
        optional groups: Option<Vec<String>>,
        optional member_folder_id: Option<String>,
        optional root_folder_id: Option<String>,
    }
}

wire_struct! {
    /// The payload of the `removed` status, inlined beside its tag.
    #[derive(Default)]
    pub struct RemovedStatus / RemovedStatusPartial {
        optional is_recoverable: Option<bool>,
        optional is_disconnected: Option<bool>,
    }
}

wire_struct! {
    /// `users.Name`.
    #[derive(Default)]
    pub struct Name / NamePartial {
        optional given_name: Option<String>,
        optional surname: Option<String>,
        optional familiar_name: Option<String>,
        optional display_name: Option<String>,
        optional abbreviated_name: Option<String>,
    }
}

wire_struct! {
    /// `SecondaryEmail`.
    pub struct SecondaryEmail / SecondaryEmailPartial {
        required email: String,
        optional is_verified: Option<bool>,
    }
}

wire_struct! {
    /// `TeamMemberRole`.
    pub struct TeamMemberRole / TeamMemberRolePartial {
        /// `pid_dbtmr:...`
        required role_id: String,
        /// `Team admin`, `User management admin`, ...
        required name: String,
        optional description: Option<String>,
    }
}

/// The argument of `team/members/list_v2`. Field order is the wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersListArg {
    pub limit: u32,
    pub include_removed: bool,
}

/// The argument of `team/members/list/continue_v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersListContinueArg<'a> {
    pub cursor: &'a str,
}

// ---------------------------------------------------------------------------
// The member-management routes (actions).

/// `UserSelectorArg`, a closed union: who a member route is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UserSelectorArg<'a> {
    TeamMemberId { team_member_id: &'a str },
    ExternalId { external_id: &'a str },
    Email { email: &'a str },
}

/// The argument of `team/members/suspend` (`MembersDeactivateArg`).
/// `wipe_data` is always sent: Dropbox's own default is `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersSuspendArg<'a> {
    pub user: UserSelectorArg<'a>,
    pub wipe_data: bool,
}

/// The argument of `team/members/unsuspend` (`MembersUnsuspendArg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersUnsuspendArg<'a> {
    pub user: UserSelectorArg<'a>,
}

/// The argument of `team/members/remove` (`MembersRemoveArg`). The three
/// flags are always sent (Dropbox defaults `wipe_data` to `true`); the
/// transfer selectors only when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersRemoveArg<'a> {
    pub user: UserSelectorArg<'a>,
    pub wipe_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_dest_id: Option<UserSelectorArg<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_admin_id: Option<UserSelectorArg<'a>>,
    pub keep_account: bool,
    pub retain_team_shares: bool,
}

/// The argument of `team/members/get_info_v2` (`MembersGetInfoV2Arg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersGetInfoV2Arg<'a> {
    pub members: &'a [UserSelectorArg<'a>],
}

/// The argument of `team/members/remove/job_status/get` (`PollArg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PollArg<'a> {
    pub async_job_id: &'a str,
}

/// The argument of `team/members/set_admin_permissions_v2`
/// (`MembersSetPermissions2Arg`); no role means "member only".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembersSetPermissions2Arg<'a> {
    pub user: UserSelectorArg<'a>,
    pub new_roles: &'a [&'a str],
}

wire_struct! {
    /// The fields beside the tag of a `MembersGetInfoItemV2`:
    /// `member_info` inlines a `TeamMemberInfoV2`, `id_not_found` nests the
    /// id that matched no one.
    pub struct MemberInfoItem / MemberInfoItemPartial {
        optional profile: Option<TeamMemberProfile>,
        optional roles: Option<Vec<TeamMemberRole>>,
        optional id_not_found: Option<String>,
    }
}

wire_struct! {
    /// The payload of `LaunchEmptyResult`'s `async_job_id` member (the
    /// answer of `team/members/remove`).
    pub struct AsyncJobLaunch / AsyncJobLaunchPartial {
        optional async_job_id: Option<String>,
    }
}

wire_struct! {
    /// The result of `team/members/get_available_team_member_roles`.
    pub struct AvailableRoles / AvailableRolesPartial {
        required roles: Vec<TeamMemberRole>,
    }
}

wire_struct! {
    /// The result of `team/members/set_admin_permissions_v2`.
    pub struct SetPermissionsResult / SetPermissionsResultPartial {
        optional team_member_id: Option<String>,
        optional roles: Option<Vec<TeamMemberRole>>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example page of the reference, verbatim.
    pub(crate) const REFERENCE_PAGE: &str = r#"{"members":[{"profile":{"team_member_id":"dbmid:AAA","account_id":"dbid:AAH4f99T0taONIb","external_id":"244423",
 "email":"tami@seagull.com","email_verified":true,"status":{".tag":"active"},
 "name":{"given_name":"Tami","surname":"Gull","familiar_name":"Tami","display_name":"Tami Gull","abbreviated_name":"TG"},
 "membership_type":{".tag":"full"},"joined_on":"2015-05-12T15:50:38Z","groups":[],"member_folder_id":"20","root_folder_id":"30"},
 "roles":[{"role_id":"pid_dbtmr:3456","name":"User management admin","description":"Add, remove, and manage member accounts."}]}],
 "cursor":"ZtkX9","has_more":false}"#;

    fn page(json: &str) -> MembersListResult {
        match parse::<MembersListResult>(json.as_bytes()) {
            Ok(page) => page,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn error(json: &str) -> WireError {
        match parse::<MembersListResult>(json.as_bytes()) {
            Ok(page) => panic!("parsed unexpectedly: {page:?}"),
            Err(e) => e,
        }
    }

    fn member(profile: &str) -> String {
        format!(r#"{{"members":[{{"profile":{profile}}}],"cursor":"c","has_more":true}}"#)
    }

    #[test]
    fn reads_the_reference_page() {
        let page = page(REFERENCE_PAGE);
        assert_eq!(page.cursor, "ZtkX9");
        assert!(!page.has_more);
        assert_eq!(page.members.len(), 1);
        let m = &page.members[0];
        let p = &m.profile;
        assert_eq!(p.team_member_id, "dbmid:AAA");
        assert_eq!(p.account_id.as_deref(), Some("dbid:AAH4f99T0taONIb"));
        assert_eq!(p.external_id.as_deref(), Some("244423"));
        assert_eq!(p.email, "tami@seagull.com");
        assert_eq!(p.email_verified, Some(true));
        assert_eq!(p.status, Union::tag("active"));
        let name = p.name.clone().unwrap_or_default();
        assert_eq!(name.given_name.as_deref(), Some("Tami"));
        assert_eq!(name.surname.as_deref(), Some("Gull"));
        assert_eq!(name.display_name.as_deref(), Some("Tami Gull"));
        assert_eq!(name.abbreviated_name.as_deref(), Some("TG"));
        assert_eq!(p.membership_type, Some(Union::tag("full")));
        assert_eq!(p.joined_on.as_deref(), Some("2015-05-12T15:50:38Z"));
        assert_eq!(p.groups, Some(vec![]));
        assert_eq!(p.member_folder_id.as_deref(), Some("20"));
        assert_eq!(p.root_folder_id.as_deref(), Some("30"));
        let roles = m.roles.clone().unwrap_or_default();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].role_id, "pid_dbtmr:3456");
        assert_eq!(roles[0].name, "User management admin");
    }

    #[test]
    fn unions_accept_bare_strings() {
        let page = page(&member(
            r#"{"team_member_id":"dbmid:B","email":"b@x.com","status":"suspended","membership_type":"limited"}"#,
        ));
        let p = &page.members[0].profile;
        assert_eq!(p.status.tag, "suspended");
        assert_eq!(p.membership_type, Some(Union::tag("limited")));
    }

    #[test]
    fn removed_payload_is_inlined_beside_the_tag() {
        let page = page(&member(
            r#"{"team_member_id":"dbmid:R","email":"r@x.com","status":{"is_recoverable":true,".tag":"removed","is_disconnected":false}}"#,
        ));
        let status = &page.members[0].profile.status;
        assert_eq!(status.tag, "removed");
        assert_eq!(status.payload.is_recoverable, Some(true));
        assert_eq!(status.payload.is_disconnected, Some(false));
    }

    #[test]
    fn unknown_tags_and_fields_are_tolerated() {
        let page = page(
            r#"{"members":[{"profile":{"team_member_id":"dbmid:U","email":"u@x.com","status":{".tag":"on_vacation","since":{"a":[1,2]}},
            "membership_type":{".tag":"enterprise"},"future_field":[{"x":null}],"name":{"given_name":"U","nickname":"uu"}},
            "roles":[{"role_id":"pid_dbtmr:1","name":"Team admin","color":"red"}],"extra":1}],
            "cursor":"c","has_more":false,"new_top_level":{"k":"v"}}"#,
        );
        let m = &page.members[0];
        assert_eq!(m.profile.status.tag, "on_vacation");
        assert_eq!(m.profile.status.payload, RemovedStatus::default());
        assert_eq!(m.profile.membership_type, Some(Union::tag("enterprise")));
        assert_eq!(
            m.profile
                .name
                .as_ref()
                .and_then(|n| n.given_name.as_deref()),
            Some("U")
        );
        assert_eq!(m.roles.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn optional_fields_may_be_missing_or_null() {
        let page = page(&member(
            r#"{"team_member_id":"dbmid:M","email":"m@x.com","status":"invited","account_id":null,"groups":null,"name":null}"#,
        ));
        let p = &page.members[0].profile;
        assert_eq!(p.account_id, None);
        assert_eq!(p.groups, None);
        assert_eq!(p.name, None);
        assert_eq!(p.email_verified, None);
        assert_eq!(p.membership_type, None);
        assert_eq!(page.members[0].roles, None);
    }

    #[test]
    fn escaped_keys_are_matched() {
        let page = page(&member(
            r#"{"team_member_id":"dbmid:E","\u0065mail":"e@x.com","status":{"\u002etag":"active"}}"#,
        ));
        assert_eq!(page.members[0].profile.email, "e@x.com");
        assert_eq!(page.members[0].profile.status.tag, "active");
    }

    #[test]
    fn errors_name_the_path() {
        let good =
            r#"{"profile":{"team_member_id":"dbmid:A","email":"a@x.com","status":"active"}}"#;
        let bad = r#"{"profile":{"team_member_id":"dbmid:B","status":"active"}}"#;
        let json = format!(r#"{{"members":[{good},{good},{bad}],"cursor":"c","has_more":false}}"#);
        let e = error(&json);
        assert_eq!(e.path, "members[2].profile");
        assert!(
            e.message
                .starts_with("missing field `email` at line 1 column "),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("members[2].profile: missing field")
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = error(&member(
            r#"{"team_member_id":"dbmid:A","email":"a@x.com","status":"active","secondary_emails":[{"email":"s@x.com"},{"email":7}]}"#,
        ));
        assert_eq!(e.path, "members[0].profile.secondary_emails[1].email");
        assert!(e.message.starts_with("invalid type: integer `7`"), "{e}");

        let e = error(&member(
            r#"{"team_member_id":"dbmid:A","email":"a@x.com","status":{"is_recoverable":true}}"#,
        ));
        assert_eq!(e.path, "members[0].profile.status");
        assert!(e.message.starts_with("missing field `.tag`"), "{e}");

        let e = error(&member(
            r#"{"team_member_id":"dbmid:A","email":"a@x.com","status":{".tag":"removed","is_recoverable":"yes"}}"#,
        ));
        assert_eq!(e.path, "members[0].profile.status.is_recoverable");

        let e = error(&member(
            r#"{"team_member_id":"dbmid:A","email":"a@x.com","status":5}"#,
        ));
        assert_eq!(e.path, "members[0].profile.status");
        assert!(e.message.contains("expected a union tag"), "{e}");
    }

    #[test]
    fn document_level_errors_have_no_path() {
        let e = error(r#"{"members":[],"has_more":false}"#);
        assert_eq!(e.path, "");
        assert!(e.message.starts_with("missing field `cursor`"), "{e}");
        let e = error("<html>");
        assert_eq!(e.path, "");
        assert!(
            e.message.starts_with("expected value at line 1 column 1"),
            "{e}"
        );
        let e = error(r#"{"members":[],"cursor":"c","has_more":false} trailing"#);
        assert!(e.message.starts_with("trailing characters"), "{e}");
        // A second parse starts with a clean path.
        let e = error(r#"{"members":{},"cursor":"c","has_more":false}"#);
        assert_eq!(e.path, "members");
    }

    #[test]
    fn action_arguments_serialize_in_wire_order() {
        let email = UserSelectorArg::Email { email: "a@x.com" };
        let id = UserSelectorArg::TeamMemberId {
            team_member_id: "dbmid:1",
        };
        let ext = UserSelectorArg::ExternalId { external_id: "e1" };
        assert_eq!(json(&email), r#"{".tag":"email","email":"a@x.com"}"#);
        assert_eq!(
            json(&id),
            r#"{".tag":"team_member_id","team_member_id":"dbmid:1"}"#
        );
        assert_eq!(json(&ext), r#"{".tag":"external_id","external_id":"e1"}"#);
        assert_eq!(
            json(&MembersRemoveArg {
                user: email,
                wipe_data: false,
                transfer_dest_id: Some(id),
                transfer_admin_id: None,
                keep_account: false,
                retain_team_shares: false,
            }),
            r#"{"user":{".tag":"email","email":"a@x.com"},"wipe_data":false,"transfer_dest_id":{".tag":"team_member_id","team_member_id":"dbmid:1"},"keep_account":false,"retain_team_shares":false}"#
        );
        assert_eq!(
            json(&MembersSetPermissions2Arg {
                user: ext,
                new_roles: &[],
            }),
            r#"{"user":{".tag":"external_id","external_id":"e1"},"new_roles":[]}"#
        );
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn reads_action_results() {
        let item = parse::<Union<MemberInfoItem>>(
            br#"{".tag":"member_info","profile":{"team_member_id":"dbmid:1","email":"a@x.com","status":"active"},"roles":[]}"#,
        )
        .expect("member_info");
        assert_eq!(item.tag, "member_info");
        assert_eq!(
            item.payload.profile.map(|p| p.team_member_id).as_deref(),
            Some("dbmid:1")
        );
        let item =
            parse::<Union<MemberInfoItem>>(br#"{".tag":"id_not_found","id_not_found":"x@y.com"}"#)
                .expect("id_not_found");
        assert_eq!(item.payload.id_not_found.as_deref(), Some("x@y.com"));
        assert_eq!(item.payload.profile, None);

        let launch =
            parse::<Union<AsyncJobLaunch>>(br#"{".tag":"async_job_id","async_job_id":"dbjid:9"}"#)
                .expect("launch");
        assert_eq!(launch.payload.async_job_id.as_deref(), Some("dbjid:9"));
        let status = parse::<Union>(br#"{".tag":"in_progress"}"#).expect("status");
        assert_eq!(status.tag, "in_progress");
    }

    #[test]
    fn arguments_serialize_in_wire_order() {
        let list = serde_json::to_string(&MembersListArg {
            limit: 1000,
            include_removed: false,
        });
        assert_eq!(
            list.ok().as_deref(),
            Some(r#"{"limit":1000,"include_removed":false}"#)
        );
        let cont = serde_json::to_string(&MembersListContinueArg { cursor: "a\"b" });
        assert_eq!(cont.ok().as_deref(), Some(r#"{"cursor":"a\"b"}"#));
    }
}
