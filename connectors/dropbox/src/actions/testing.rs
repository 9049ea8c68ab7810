//! What the actions' unit tests share: one action call through [`run`]
//! against scripted answers (the scripted transport of the `client` tests
//! and a clock that only moves when slept on), and the values they use.

use std::time::Duration;

use super::run;
use super::targets::TargetResult;
use crate::client::tests::FakeTransport;
use oomnitza_connector_sdk::transport::Sleeper;
use oomnitza_connector_sdk::types::{ActionResult, ConnectorError, UserRef, Value};

pub(super) const SUSPEND: &str = "https://api.dropboxapi.com/2/team/members/suspend";
pub(super) const UNSUSPEND: &str = "https://api.dropboxapi.com/2/team/members/unsuspend";
pub(super) const REMOVE: &str = "https://api.dropboxapi.com/2/team/members/remove";
pub(super) const JOB_STATUS: &str =
    "https://api.dropboxapi.com/2/team/members/remove/job_status/get";
pub(super) const GET_INFO: &str = "https://api.dropboxapi.com/2/team/members/get_info_v2";
pub(super) const ROLES: &str =
    "https://api.dropboxapi.com/2/team/members/get_available_team_member_roles";
pub(super) const SET_ROLE: &str =
    "https://api.dropboxapi.com/2/team/members/set_admin_permissions_v2";

/// A clock that only moves when slept on.
#[derive(Debug, Default)]
struct FakeSleeper {
    now: Duration,
    slept: Vec<Duration>,
}

impl Sleeper for FakeSleeper {
    fn now(&mut self) -> Duration {
        self.now
    }
    fn sleep(&mut self, duration: Duration) {
        self.slept.push(duration);
        self.now += duration;
    }
}

/// One action call against scripted answers.
pub(super) struct Call {
    pub(super) result: Result<Vec<TargetResult>, ConnectorError>,
    pub(super) requests: Vec<(String, String)>,
    pub(super) slept: Vec<Duration>,
}

pub(super) fn call(
    answers: &[(u16, &str)],
    name: &str,
    targets: &[UserRef],
    params: &[(&str, Value)],
) -> Call {
    let mut t = FakeTransport::default();
    for (status, body) in answers {
        t.push(*status, body);
    }
    let mut s = FakeSleeper::default();
    let params = params
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    let result = run(&mut t, &mut s, name, targets, params);
    assert!(t.answers.is_empty(), "unused answers: {:?}", t.answers);
    Call {
        result,
        requests: t.requests,
        slept: s.slept,
    }
}

impl Call {
    pub(super) fn results(&self) -> &[TargetResult] {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("the call failed: {e:?}"),
        }
    }

    pub(super) fn done(&self, i: usize) -> &ActionResult {
        match &self.results()[i] {
            Ok(r) => r,
            Err(e) => panic!("target {i} failed: {e:?}"),
        }
    }

    pub(super) fn failed(&self, i: usize) -> &ConnectorError {
        match &self.results()[i] {
            Err(e) => e,
            Ok(r) => panic!("target {i} succeeded: {r:?}"),
        }
    }

    pub(super) fn invalid(&self) -> &str {
        match &self.result {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    pub(super) fn bodies(&self) -> Vec<&str> {
        self.requests.iter().map(|(_, b)| b.as_str()).collect()
    }

    pub(super) fn urls(&self) -> Vec<&str> {
        self.requests.iter().map(|(u, _)| u.as_str()).collect()
    }
}

pub(super) fn email(s: &str) -> UserRef {
    UserRef::Email(s.to_owned())
}

pub(super) fn yes() -> Value {
    Value::Boolean(true)
}

pub(super) fn no() -> Value {
    Value::Boolean(false)
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(super) fn list(items: &[&str]) -> Value {
    Value::TextList(items.iter().map(|s| (*s).to_owned()).collect())
}

pub(super) fn conflict(body_tag: &str) -> String {
    format!(r#"{{"error_summary":"{body_tag}/..","error":{{".tag":"{body_tag}"}}}}"#)
}

pub(super) const A: &str = r#"{".tag":"email","email":"a@x.com"}"#;
