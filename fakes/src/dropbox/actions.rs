//! Carrying out member actions on the served team: action faults, the
//! action delay and write limit, effects through the team overlay, and the
//! action log.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::json::push_str;
use crate::member_actions::{self, ActionRecord, Done, render_get_info, role_json};
use crate::server::{json_text, json_value, lock, with_retry_after};
use crate::team::Role;

use super::config::DropboxFault;
use super::faults::{cut_in_half, next_in};
use super::server::{Call, InFlight, RemoveJob, Shared};

impl Shared {
    /// Carries out a decoded member action (after any queued action fault).
    pub(super) async fn member_action(&self, call: Call, function: &'static str) -> Response {
        let now = self.actions_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.actions_in_flight_max.fetch_max(now, Ordering::SeqCst);
        let _counted = InFlight(&self.actions_in_flight);
        if matches!(call, Call::TeamInfo)
            && let Some(fault) = lock(&self.team_info_fault).clone()
        {
            lock(&self.stats).faults_applied += 1;
            return self.plain_fault_response(fault);
        }
        let mut alter = None;
        if let Some(fault) = next_in(&self.action_faults) {
            lock(&self.stats).faults_applied += 1;
            match fault {
                DropboxFault::Slow(delay) => tokio::time::sleep(delay).await,
                DropboxFault::EchoAuthorization => {}
                fault @ (DropboxFault::MalformedJson | DropboxFault::HugeBody(_)) => {
                    alter = Some(fault);
                }
                fault => return self.plain_fault_response(fault),
            }
        }
        let delay = *lock(&self.action_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let write = matches!(
            call,
            Call::Suspend(_) | Call::Unsuspend(_) | Call::Remove(_) | Call::SetRoles(_)
        );
        if write && !self.take_write() {
            self.write_limited.fetch_add(1, Ordering::SeqCst);
            let dots =
                ".".repeat(2 + (self.summaries.fetch_add(1, Ordering::Relaxed) % 3) as usize);
            let body = serde_json::json!({
                "error_summary": format!("too_many_write_operations/{dots}"),
                "error": {"reason": {".tag": "too_many_write_operations"}},
            });
            return with_retry_after(json_value(StatusCode::TOO_MANY_REQUESTS, &body), 1);
        }
        let (status, body) = self.apply(call, function);
        match alter {
            Some(DropboxFault::MalformedJson) => json_text(status, cut_in_half(body)),
            Some(DropboxFault::HugeBody(size)) => {
                let mut bytes = body.into_bytes();
                if bytes.len() < size {
                    bytes.resize(size, b' ');
                }
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    Body::from(bytes),
                )
                    .into_response()
            }
            _ => json_text(status, body),
        }
    }

    /// The status and JSON answer of a member action, its effects applied.
    fn apply(&self, call: Call, function: &'static str) -> (StatusCode, String) {
        let ok = |body: String| (StatusCode::OK, body);
        match call {
            Call::TeamInfo => ok(self.team_info()),
            Call::GetInfo(members) => {
                let team = self.team.read();
                ok(render_get_info(&team, &self.style, &members))
            }
            Call::Roles => {
                let roles: Vec<serde_json::Value> =
                    Role::standard().iter().map(role_json).collect();
                ok(serde_json::json!({ "roles": roles }).to_string())
            }
            Call::JobStatus(id) => {
                let mut jobs = lock(&self.jobs);
                match jobs.get_mut(&id) {
                    None => self.error_body("invalid_async_job_id"),
                    Some(job) if job.polls_left > 0 => {
                        job.polls_left -= 1;
                        ok(self.void_union("in_progress"))
                    }
                    Some(_) => ok(self.void_union("complete")),
                }
            }
            Call::Suspend(args) => {
                let now = self.timestamp();
                let mut team = self.team.write();
                let done = member_actions::suspend(&mut team, &args, &now);
                self.conclude(
                    function,
                    args.to_json(),
                    done,
                    |()| "null".into(),
                    "success",
                    (None, None),
                )
            }
            Call::Unsuspend(user) => {
                let mut team = self.team.write();
                let done = member_actions::unsuspend(&mut team, &user);
                let args = serde_json::json!({"user": user.to_json()});
                self.conclude(
                    function,
                    args,
                    done,
                    |()| "null".into(),
                    "success",
                    (None, None),
                )
            }
            Call::SetRoles(args) => {
                let mut team = self.team.write();
                let done = member_actions::set_roles(&mut team, &args);
                let id = done.team_member_id.clone();
                self.conclude(
                    function,
                    args.to_json(),
                    done,
                    |roles| {
                        let roles: Vec<serde_json::Value> = roles.iter().map(role_json).collect();
                        serde_json::json!({"team_member_id": id, "roles": roles}).to_string()
                    },
                    "success",
                    (None, None),
                )
            }
            Call::Remove(args) => {
                let mut jobs = lock(&self.jobs);
                let mut team = self.team.write();
                let busy = |i: usize| {
                    jobs.values()
                        .any(|job| job.polls_left > 0 && job.dest == Some(i))
                };
                let done = member_actions::remove(&mut team, &args, busy);
                let polls = self.remove_async_polls.load(Ordering::SeqCst);
                let transfer = match &done.result {
                    Ok(r) => (r.dest.as_ref().map(|d| d.1.clone()), r.admin.clone()),
                    Err(_) => (None, None),
                };
                let answer = |removed: member_actions::Removed| {
                    if polls == 0 {
                        return self.void_union("complete");
                    }
                    let id = self.new_job_id();
                    let dest = removed.dest.map(|d| d.0);
                    jobs.insert(
                        id.clone(),
                        RemoveJob {
                            polls_left: polls,
                            dest,
                        },
                    );
                    let mut out = String::from("{\".tag\":\"async_job_id\",\"async_job_id\":");
                    push_str(&mut out, &id);
                    out.push('}');
                    out
                };
                let success = if polls > 0 {
                    "async_job_id"
                } else {
                    "complete"
                };
                self.conclude(function, args.to_json(), done, answer, success, transfer)
            }
        }
    }

    /// Logs a finished action and gives its answer: `render(result)` with
    /// 200 (logged as `success`), or the 409 route error (logged as its tag).
    fn conclude<T>(
        &self,
        function: &'static str,
        args: serde_json::Value,
        done: Done<T>,
        render: impl FnOnce(T) -> String,
        success: &'static str,
        (transfer_dest_id, transfer_admin_id): (Option<String>, Option<String>),
    ) -> (StatusCode, String) {
        let (outcome, answer) = match done.result {
            Ok(value) => (success, (StatusCode::OK, render(value))),
            Err(tag) => (tag, self.error_body(tag)),
        };
        lock(&self.actions).push(ActionRecord {
            route: function.to_string(),
            team_member_id: done.team_member_id,
            args,
            outcome: outcome.to_string(),
            transfer_dest_id,
            transfer_admin_id,
        });
        answer
    }

    /// Takes one write from the write limit's window; `false` when it is
    /// spent.
    fn take_write(&self) -> bool {
        let mut limit = lock(&self.write_limit);
        let Some(l) = limit.as_mut() else {
            return true;
        };
        if l.window.elapsed() >= Duration::from_secs(1) {
            l.window = Instant::now();
            l.used = 0;
        }
        if l.used >= l.per_second {
            return false;
        }
        l.used += 1;
        true
    }
}
