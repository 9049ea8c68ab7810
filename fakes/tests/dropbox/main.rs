//! Drives the fake Dropbox over real HTTP the way a client would, to pin its
//! wire behaviour: paging, removed members, argument checks, cursors, auth,
//! wire styles, OAuth refresh, member actions and every injectable fault.
//!
//! One test binary; a file per concern, helpers in [`support`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod faults;
mod listing;
mod oauth;
mod remove;
mod server;
mod support;
