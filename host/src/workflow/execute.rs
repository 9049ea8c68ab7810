//! Running a plan: its steps, `concurrency` users at a time, within the
//! vendor's rate limits, every outcome in the audit log.
//!
//! Steps run in order; a user's step runs only once their earlier steps
//! completed (in this run or before), so a failure leaves the later steps
//! for the next run. Each call has its own connector instance. A step whose
//! action the manifest marks destructive is one call per user (each change
//! stands alone in the audit log); other actions send up to
//! [`BATCH`] users per call, so reads that the connector batches
//! (`get-user-role`) take one vendor request per batch.
//!
//! A target that comes back rate-limited (or "not attempted" after a rate
//! limit) pauses every new call for the time the vendor asked, then is
//! tried again; one that comes back unavailable is tried again after a
//! backoff; both within `limits.max_retries`. A suspension retried after a
//! lost answer reads as `unchanged`, a removal as already removed.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

use super::plan::{Plan, StepState, params_json};
use crate::bindings::{ActionResult, ActionStatus, ConnectorError, UserRef, Value};
use crate::instance::ConnectorInstance;
use crate::integration::Integration;
use crate::retry::Retry;
use crate::state::{AuditEntry, StateDb};

/// Users per call for an action the manifest does not mark destructive.
pub const BATCH: usize = 50;

/// How often a long run refreshes its lock.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// How a plan runs.
#[derive(Debug, Clone, Default)]
pub struct ExecuteOptions {
    /// The lock this run holds (refreshed while it runs), if any.
    pub lock: Option<String>,
}

/// What happened to one user's step; also its audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub user: String,
    pub step: u32,
    pub action: String,
    pub params: Vec<(String, Value)>,
    /// `done`, `unchanged`, `failed` or `not-run`.
    pub outcome: &'static str,
    pub detail: String,
    /// The vendor's answer, verbatim, when there is one.
    pub vendor: String,
}

/// What a run of a plan did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Executed {
    pub done: u32,
    pub unchanged: u32,
    pub failed: u32,
    /// Steps that could not run (a missing `{field}`, a refused value).
    pub not_run: u32,
    /// Steps already done before, or waiting behind a step that did not
    /// complete.
    pub skipped: u32,
    /// Targets tried again after a rate limit or an outage.
    pub retried: u32,
    /// Every step that ran or could not, in completion order.
    pub results: Vec<StepResult>,
}

/// One call: a step for some users, all with the same parameters.
struct Job {
    step: usize,
    users: Vec<usize>,
    params: Vec<(String, Value)>,
    retry: Retry,
    not_before: Option<Instant>,
}

/// Effective parameters of a call.
type Params = Vec<(String, Value)>;

type CallResult = Result<Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError>>;

/// Runs `plan`, writing every outcome to the audit log and handing each
/// to `observe` as it happens. `Err` only when the run cannot go on (the
/// audit log cannot be written, no instance can be made).
pub async fn execute(
    integration: &Integration,
    plan: &Plan,
    db: &StateDb,
    opts: &ExecuteOptions,
    observe: &mut dyn FnMut(&StepResult),
) -> Result<Executed> {
    let mut run = Run {
        integration,
        plan,
        db,
        opts,
        observe,
        totals: Executed::default(),
        pool: Vec::new(),
        beat: Instant::now(),
    };
    let mut waiting = vec![false; plan.users.len()];
    for s in 0..plan.steps.len() {
        let mut groups: Vec<(Params, Vec<usize>)> = Vec::new();
        for (u, user) in plan.users.iter().enumerate() {
            if waiting[u] {
                run.totals.skipped += 1;
                continue;
            }
            match &user.steps[s] {
                StepState::AlreadyDone => run.totals.skipped += 1,
                StepState::CannotRun(why) => {
                    waiting[u] = true;
                    run.not_run(s, u, why)?;
                }
                StepState::Ready(params) => match groups.iter_mut().find(|(p, _)| p == params) {
                    Some((_, users)) => users.push(u),
                    None => groups.push((params.clone(), vec![u])),
                },
            }
        }
        let per_call = if plan.steps[s].destructive { 1 } else { BATCH };
        let max_retries = integration.config.limits.max_retries;
        let queue: VecDeque<Job> = groups
            .into_iter()
            .flat_map(|(params, users)| {
                users
                    .chunks(per_call)
                    .map(|chunk| Job {
                        step: s,
                        users: chunk.to_vec(),
                        params: params.clone(),
                        retry: Retry::new(max_retries),
                        not_before: None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        for u in run.run_step(queue).await? {
            waiting[u] = true;
        }
    }
    Ok(run.totals)
}

struct Run<'a> {
    integration: &'a Integration,
    plan: &'a Plan,
    db: &'a StateDb,
    opts: &'a ExecuteOptions,
    observe: &'a mut dyn FnMut(&StepResult),
    totals: Executed,
    /// Instances between calls.
    pool: Vec<ConnectorInstance>,
    beat: Instant,
}

impl Run<'_> {
    /// Runs one step's calls, `concurrency` at a time; the users whose
    /// step did not complete.
    async fn run_step(&mut self, mut queue: VecDeque<Job>) -> Result<Vec<usize>> {
        let concurrency = self.plan.concurrency.max(1);
        let plan = self.plan;
        let mut incomplete = Vec::new();
        let mut inflight = FuturesUnordered::new();
        let mut paused_until: Option<Instant> = None;
        loop {
            while inflight.len() < concurrency {
                let Some(job) = queue.pop_front() else { break };
                let inst = match self.pool.pop() {
                    Some(i) => i,
                    None => self.integration.instance().await?,
                };
                let start = match (job.not_before, paused_until) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                inflight.push(call(plan, inst, job, start));
            }
            let Some((job, inst, result)) = inflight.next().await else {
                break;
            };
            self.heartbeat()?;
            let action = &plan.steps[job.step].action;
            let endpoint = format!("the connector's action `{action}`");
            let results: Vec<Result<ActionResult, ConnectorError>> = match result {
                Err(host) => {
                    // The instance is unusable after a host-side failure.
                    let why = format!("{host:#}");
                    job.users
                        .iter()
                        .map(|_| Err(ConnectorError::Other(why.clone())))
                        .collect()
                }
                Ok(Err(e)) => {
                    self.pool.push(inst);
                    job.users.iter().map(|_| Err(e.clone())).collect()
                }
                Ok(Ok(r)) => {
                    self.pool.push(inst);
                    r
                }
            };
            let mut again: Vec<usize> = Vec::new();
            let mut ask: Option<Duration> = None;
            let mut rate_limited = false;
            for (&u, r) in job.users.iter().zip(results) {
                match r {
                    Err(ConnectorError::RateLimited(r)) => {
                        rate_limited = true;
                        let wait = Duration::from_secs(u64::from(r.retry_after_seconds).max(1));
                        ask = Some(ask.map_or(wait, |a| a.max(wait)));
                        again.push(u);
                    }
                    Err(ConnectorError::Unavailable(_)) => again.push(u),
                    other => {
                        if other.is_ok() {
                            crate::outage::global().succeeded(&endpoint);
                        }
                        if !self.finish(job.step, u, &job.params, other)? {
                            incomplete.push(u);
                        }
                    }
                }
            }
            if again.is_empty() {
                continue;
            }
            let mut retry = job.retry;
            match retry.next(ask) {
                Some(wait) => {
                    self.totals.retried += again.len() as u32;
                    let kind = if rate_limited {
                        "rate limited"
                    } else {
                        "unavailable"
                    };
                    crate::outage::global().failed(
                        &endpoint,
                        kind,
                        &format!("{} of its targets came back {kind}", again.len()),
                        wait,
                    );
                    let at = Instant::now() + wait;
                    if rate_limited {
                        // Every new call waits: the limit is the team's.
                        paused_until = Some(paused_until.map_or(at, |p| p.max(at)));
                    }
                    queue.push_back(Job {
                        step: job.step,
                        users: again,
                        params: job.params,
                        retry,
                        not_before: Some(at),
                    });
                }
                None => {
                    let why = if rate_limited {
                        "still rate limited by the vendor after every retry (limits.max_retries)"
                    } else {
                        "the vendor stayed unavailable through every retry (limits.max_retries)"
                    };
                    for u in again {
                        let e = ConnectorError::Unavailable(why.to_string());
                        self.finish(job.step, u, &job.params, Err(e))?;
                        incomplete.push(u);
                    }
                }
            }
        }
        Ok(incomplete)
    }

    /// Records a target's final answer; whether its step completed.
    fn finish(
        &mut self,
        step: usize,
        u: usize,
        params: &[(String, Value)],
        r: Result<ActionResult, ConnectorError>,
    ) -> Result<bool> {
        let (outcome, detail, vendor) = match r {
            Ok(r) => match r.status {
                ActionStatus::Done => ("done", r.detail, r.vendor_response),
                ActionStatus::Unchanged => ("unchanged", r.detail, r.vendor_response),
            },
            Err(e) => (
                "failed",
                crate::vendor::describe(self.integration, &e),
                vendor_tag(&e),
            ),
        };
        match outcome {
            "done" => self.totals.done += 1,
            "unchanged" => self.totals.unchanged += 1,
            _ => self.totals.failed += 1,
        }
        self.record(StepResult {
            user: self.plan.users[u].user.clone(),
            step: step as u32,
            action: self.plan.steps[step].action.clone(),
            params: params.to_vec(),
            outcome,
            detail,
            vendor,
        })?;
        Ok(outcome != "failed")
    }

    /// A step that cannot run: in the audit log with the reason (once per
    /// reason: a later run does not repeat an identical entry).
    fn not_run(&mut self, step: usize, u: usize, why: &str) -> Result<()> {
        self.totals.not_run += 1;
        let user = &self.plan.users[u].user;
        let result = StepResult {
            user: user.clone(),
            step: step as u32,
            action: self.plan.steps[step].action.clone(),
            params: vec![],
            outcome: "not-run",
            detail: why.to_string(),
            vendor: String::new(),
        };
        if let Some(w) = &self.plan.workflow
            && last_entry(self.db, w, step as u32, user)?
                .is_some_and(|(o, d)| o == "not-run" && d == why)
        {
            (self.observe)(&result);
            self.totals.results.push(result);
            return Ok(());
        }
        self.record(result)
    }

    fn record(&mut self, r: StepResult) -> Result<()> {
        self.db.record_action(&AuditEntry {
            at: crate::clock::now(),
            workflow: self.plan.workflow.clone(),
            step: Some(r.step),
            user: r.user.clone(),
            action: r.action.clone(),
            params: params_json(&r.params),
            vendor_response: r.vendor.clone(),
            outcome: r.outcome.into(),
            detail: r.detail.clone(),
        })?;
        (self.observe)(&r);
        self.totals.results.push(r);
        Ok(())
    }

    fn heartbeat(&mut self) -> Result<()> {
        if let Some(lock) = &self.opts.lock
            && self.beat.elapsed() >= HEARTBEAT
        {
            self.db.heartbeat(lock)?;
            self.beat = Instant::now();
        }
        Ok(())
    }
}

/// One call of `job` on `inst`, after `start`.
async fn call(
    plan: &Plan,
    mut inst: ConnectorInstance,
    job: Job,
    start: Option<Instant>,
) -> (Job, ConnectorInstance, CallResult) {
    if let Some(t) = start {
        tokio::time::sleep_until(t).await;
    }
    let targets: Vec<UserRef> = job
        .users
        .iter()
        .map(|&u| UserRef::Email(plan.users[u].user.clone()))
        .collect();
    let action = &plan.steps[job.step].action;
    let result = inst.action(action, &targets, &job.params).await;
    (job, inst, result)
}

/// The latest audit entry of a workflow step for a user: outcome, detail.
fn last_entry(
    db: &StateDb,
    workflow: &str,
    step: u32,
    user: &str,
) -> Result<Option<(String, String)>> {
    use rusqlite::OptionalExtension;
    Ok(db
        .conn
        .query_row(
            "SELECT outcome, detail FROM audit WHERE workflow = ?1 AND step = ?2 AND user = ?3
             ORDER BY id DESC LIMIT 1",
            rusqlite::params![workflow, step, user],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// What the connector said of a refusal, as it said it (the contract's
/// fields, whatever the vendor), for the audit log's vendor response.
fn vendor_tag(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Conflict(c) => serde_json::json!({
            "tag": c.tag,
            "summary": c.summary,
            "user_message": c.user_message,
        })
        .to_string(),
        ConnectorError::Unauthorized(u) => {
            serde_json::json!({"tag": u.tag, "summary": u.message}).to_string()
        }
        _ => String::new(),
    }
}

/// Records a run that the cap stopped: one audit entry, nothing else.
pub fn record_blocked(db: &StateDb, plan: &Plan, why: &str) -> Result<()> {
    db.record_action(&AuditEntry {
        at: crate::clock::now(),
        workflow: plan.workflow.clone(),
        step: None,
        user: format!("({} users)", plan.acting_on()),
        action: plan
            .steps
            .iter()
            .map(|s| s.action.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        params: "{}".into(),
        vendor_response: String::new(),
        outcome: "blocked".into(),
        detail: why.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{UnauthorizedError, VendorConflict};

    #[test]
    fn the_audit_keeps_the_connectors_tag_and_summary_as_given() {
        let conflict = ConnectorError::Conflict(VendorConflict {
            tag: "user_not_found".into(),
            summary: "user_not_found/..".into(),
            user_message: None,
        });
        assert_eq!(
            vendor_tag(&conflict),
            r#"{"summary":"user_not_found/..","tag":"user_not_found","user_message":null}"#
        );
        let unauthorized = ConnectorError::Unauthorized(UnauthorizedError {
            expired: false,
            tag: "http-401".into(),
            message: "Acme returned 401".into(),
        });
        assert_eq!(
            vendor_tag(&unauthorized),
            r#"{"summary":"Acme returned 401","tag":"http-401"}"#
        );
        assert_eq!(vendor_tag(&ConnectorError::Other("x".into())), "");
    }
}
