//! Dropbox: the team members API and how its members become records.

pub mod catalog;
pub mod client;
pub mod errors;
pub mod wire;
