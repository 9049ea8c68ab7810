//! Fake Dropbox, Slack SCIM and Oomnitza HTTP servers for end-to-end tests, the CLI's
//! `demo` command and benchmarks.
//!
//! Both are real HTTP servers on `127.0.0.1` (each on its own thread and
//! runtime), speak the documented wire formats including their errors, are
//! strict about what clients send so client bugs surface, can inject faults,
//! and record what they received for assertions. The Dropbox team is
//! synthetic and generated on the fly ([`Team`]), so a 1,000,000-member team
//! costs almost no memory until it is listed (the fake Dropbox keeps the
//! pages it rendered, see [`FakeDropbox::pregenerate`]).
//!
//! The fake Dropbox also carries out member actions (suspend, unsuspend,
//! remove, admin roles) on its team and logs them; the fake Oomnitza also
//! answers user and SaaS-user reads, with filters and paging.

pub mod dropbox;
pub mod oomnitza;
pub mod slack_scim;
pub mod team;

mod bulk;
mod form;
mod json;
mod member_actions;
mod query;
mod server;

pub use dropbox::{
    ActionRecord, DropboxConfig, DropboxFault, DropboxStats, FakeDropbox, OAuthApp, RecordedRequest,
};
pub use oomnitza::{FakeOomnitza, OomnitzaConfig, OomnitzaFault, PortionLog};
pub use slack_scim::{FakeSlackScim, ScimUser, SlackScimConfig, SlackScimFault};
pub use team::{Member, MemberStatus, MembershipType, Name, Role, SecondaryEmail, Team, WireStyle};
