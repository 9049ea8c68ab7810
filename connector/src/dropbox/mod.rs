//! Dropbox: the team members API, how its members become records, and the
//! actions on members.

pub mod actions;
pub mod catalog;
pub mod client;
pub mod errors;
pub mod peek;
pub mod wire;
