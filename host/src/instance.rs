//! One running connector: a store plus its bindings, with every call run
//! under the sandbox's deadline and checked before the host trusts it.
//!
//! Errors come in two layers. The outer `anyhow::Error` is the host's: a
//! trap, a deadline, malformed output. The inner [`ConnectorError`] is the
//! connector's own answer (rate-limited, unauthorized...), which callers
//! branch on. After an outer error the instance is poisoned and refuses
//! further calls; make a new one.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use wasmtime::Store;

use crate::bindings::{
    ActionInfo, ActionResult, Connector, ConnectorError, FetchRequest, Manifest, MapOutcome,
    MappedPage, MappingSpec, Page, RecordKind, SeatCounts, SourceRecord, UserRef, Value,
};
use crate::engine::LoadedComponent;
use crate::sandbox::policy::Allowlist;
use crate::sandbox::{
    CallBudget, HostState, Limits, OutboundHooks, OutboundPolicy, TABLE_FULL, new_store,
};

pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: Connector,
    limits: Limits,
    poisoned: bool,
    /// Number of fields in the manifest, to check record shapes.
    field_count: usize,
    /// Actions the manifest declares; others are refused unsent.
    actions: Vec<ActionInfo>,
    budget: Arc<CallBudget>,
    /// For refreshing an expired credential between attempts of a read.
    policy: Arc<OutboundPolicy>,
    /// Set for an instance with HTTP denied ([`Self::new_offline`]): its own
    /// policy, whose request counter only this instance moves.
    offline: Option<Arc<OutboundPolicy>>,
}

impl ConnectorInstance {
    /// Instantiates the component in a fresh store under `policy`.
    pub async fn new(
        component: &LoadedComponent,
        policy: Arc<OutboundPolicy>,
        limits: Limits,
    ) -> Result<Self> {
        let engine = component.pre.engine();
        let budget = Arc::new(CallBudget::default());
        let mut store = new_store(
            engine,
            OutboundHooks::new(policy.clone(), budget.clone()),
            budget.clone(),
            &limits,
        );
        store.set_epoch_deadline(1);
        let bindings = component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the connector component")?;
        Ok(Self {
            store,
            bindings,
            limits,
            poisoned: false,
            field_count: 0,
            actions: vec![],
            budget,
            policy,
            offline: None,
        })
    }

    /// An instance with HTTP denied (an empty allowlist, no route, no
    /// credential), for calls the contract says make no HTTP call
    /// (`check-action`): a request it makes is refused, and the call that
    /// made it fails as a contract violation.
    pub async fn new_offline(component: &LoadedComponent, limits: Limits) -> Result<Self> {
        let policy = Arc::new(OutboundPolicy::new(Allowlist::default()));
        let mut inst = Self::new(component, policy.clone(), limits).await?;
        inst.offline = Some(policy);
        Ok(inst)
    }

    /// Runs one guest call under the deadline: epoch interruption stops a
    /// guest that computes too long, the timer one that waits too long.
    async fn guarded<T, F>(&mut self, what: &str, call: F) -> Result<T>
    where
        F: AsyncFnOnce(&Connector, &mut Store<HostState>) -> wasmtime::Result<T>,
    {
        if self.poisoned {
            bail!("connector instance is unusable after an earlier failure");
        }
        let limit = self.limits.call_timeout;
        self.store.data_mut().start_call(Instant::now() + limit);
        self.store.set_epoch_deadline(1);
        // The contract: describe, map-records and check-action make no
        // HTTP request.
        self.budget.reset(match what {
            "describe" => Some("describe"),
            "map" => Some("map-records"),
            "check-action" => Some("check-action"),
            _ => None,
        });
        let result = tokio::time::timeout(limit, call(&self.bindings, &mut self.store)).await;
        // A breached request limit ends the call whatever the guest made of
        // the refusal: it must not carry on as if nothing happened.
        if let Some(breach) = self.budget.take_breach() {
            return Err(self.reject(format!("connector `{what}` stopped: {breach}")));
        }
        let deadline = || {
            format!(
                "connector `{what}` exceeded the call deadline of {limit:?} (limits.call_timeout_secs)"
            )
        };
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(trap))
                if matches!(
                    trap.downcast_ref::<wasmtime::Trap>(),
                    Some(wasmtime::Trap::Interrupt)
                ) =>
            {
                Err(self.reject(deadline()))
            }
            Ok(Err(trap)) if format!("{trap:#}").contains(TABLE_FULL) => Err(self.reject(format!(
                "connector `{what}` stopped: the component held more than {} host resources (header sets, requests, responses, bodies, streams) at once (limits.max_host_resources)",
                self.limits.max_host_resources
            ))),
            Ok(Err(trap)) => Err(self.reject(format!("connector `{what}` failed: {trap:#}"))),
            Err(_) => Err(self.reject(deadline())),
        }
    }

    pub async fn describe(&mut self) -> Result<Manifest> {
        let m = self
            .guarded("describe", async |b, s| b.call_describe(s).await)
            .await?;
        self.field_count = m.fields.len();
        self.actions = m.actions.clone();
        Ok(m)
    }

    /// Whether a read answered "the access token expired" and the host
    /// refreshed it, so the same call (same cursor: reads are idempotent)
    /// may run once more. Actions are never re-run this way.
    /// (Takes the policy, not `&self`: a future holding `&self` would need
    /// the instance to be `Sync`, which a wasmtime store is not.)
    async fn refreshed_after<T>(
        policy: Arc<OutboundPolicy>,
        out: &Result<T, ConnectorError>,
        generation: Option<u64>,
    ) -> bool {
        matches!(out, Err(ConnectorError::Unauthorized(u)) if u.expired)
            && policy.refresh_expired(generation).await
    }

    /// `check-action` in an offline instance: the action's effective
    /// parameters, or the connector's reason to refuse them. The answer is
    /// checked against the manifest (declared names only, each once, of the
    /// declared type, every given one back with its value), and a request
    /// made during the call breaks the contract: either ends the instance.
    pub async fn check_action(
        &mut self,
        name: &str,
        params: &[(String, Value)],
    ) -> Result<Result<Vec<(String, Value)>, ConnectorError>> {
        let Some(policy) = self.offline.clone() else {
            bail!("check-action runs only in an instance with HTTP denied (new_offline)");
        };
        let info = self.declared(name)?.clone();
        let before = policy
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst);
        let out = self
            .guarded("check-action", async |b, s| {
                b.call_check_action(s, name, params).await
            })
            .await?;
        let made = policy
            .stats
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
            - before;
        if made > 0 {
            return Err(self.reject(format!(
                "contract violation: the connector made {made} HTTP request(s) during `check-action` (which must make none); the requests were refused"
            )));
        }
        if let Ok(effective) = &out
            && let Err(why) = check_effective(&info, params, effective)
        {
            return Err(self.reject(format!(
                "contract violation: `check-action` for `{name}` answered {why}"
            )));
        }
        Ok(out)
    }

    /// `count-hint`: how many records a listing is expected to return.
    pub async fn count_hint(
        &mut self,
        kind: RecordKind,
        options: &[(String, Value)],
    ) -> Result<Result<Option<u64>, ConnectorError>> {
        self.guarded("count-hint", async |b, s| {
            b.call_count_hint(s, kind, options).await
        })
        .await
    }

    /// `seats`: the team's licensed and provisioned seats as the vendor
    /// counts them; `None` when it has no such notion (and, without a
    /// call, for a 0.3.0 component, which has no `seats`).
    pub async fn seats(&mut self) -> Result<Result<Option<SeatCounts>, ConnectorError>> {
        self.guarded("seats", async |b, s| b.call_seats(s).await)
            .await
    }

    /// The manifest's declaration of `name`, or why it cannot be called.
    fn declared(&self, name: &str) -> Result<&ActionInfo> {
        self.actions.iter().find(|a| a.name == name).ok_or_else(|| {
            anyhow!(
                "action `{name}` is not declared in the component's manifest (declared: {}); refusing to call it",
                if self.actions.is_empty() {
                    "none".to_string()
                } else {
                    self.actions
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )
        })
    }

    pub async fn fetch(&mut self, req: &FetchRequest) -> Result<Result<Page, ConnectorError>> {
        let generation = self.policy.credential_generation().await;
        let mut page = self
            .guarded("fetch", async |b, s| b.call_fetch(s, req).await)
            .await?;
        if Self::refreshed_after(self.policy.clone(), &page, generation).await {
            page = self
                .guarded("fetch", async |b, s| b.call_fetch(s, req).await)
                .await?;
        }
        if let Ok(page) = &page {
            self.check_page_size(page.records.len(), req)?;
            self.check_records(&page.records)?;
        }
        Ok(page)
    }

    /// One page, fetched and mapped in the component (the sync's path):
    /// checked for at most `page_size` outcomes, each mapped record with
    /// one value per rule of `spec`.
    pub async fn fetch_mapped(
        &mut self,
        req: &FetchRequest,
        spec: &MappingSpec,
    ) -> Result<Result<MappedPage, ConnectorError>> {
        let generation = self.policy.credential_generation().await;
        let mut page = self
            .guarded("fetch-mapped", async |b, s| {
                b.call_fetch_mapped(s, req, spec).await
            })
            .await?;
        if Self::refreshed_after(self.policy.clone(), &page, generation).await {
            page = self
                .guarded("fetch-mapped", async |b, s| {
                    b.call_fetch_mapped(s, req, spec).await
                })
                .await?;
        }
        if let Ok(page) = &page {
            self.check_page_size(page.outcomes.len(), req)?;
            self.check_outcomes(&page.outcomes, spec)?;
        }
        Ok(page)
    }

    pub async fn map(
        &mut self,
        spec: &MappingSpec,
        records: &[SourceRecord],
    ) -> Result<Result<Vec<MapOutcome>, ConnectorError>> {
        let out = self
            .guarded("map", async |b, s| {
                b.call_map_records(s, spec, records).await
            })
            .await?;
        if let Ok(outcomes) = &out {
            if outcomes.len() != records.len() {
                return Err(self.reject(format!(
                    "connector `map` returned {} outcomes for {} records",
                    outcomes.len(),
                    records.len()
                )));
            }
            self.check_outcomes(outcomes, spec)?;
        }
        Ok(out)
    }

    pub async fn action(
        &mut self,
        name: &str,
        targets: &[UserRef],
        params: &[(String, Value)],
    ) -> Result<Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError>> {
        self.declared(name)?;
        let out = self
            .guarded("action", async |b, s| {
                b.call_action(s, name, targets, params).await
            })
            .await?;
        if let Ok(results) = &out
            && results.len() != targets.len()
        {
            return Err(self.reject(format!(
                "connector `action` returned {} results for {} targets",
                results.len(),
                targets.len()
            )));
        }
        Ok(out)
    }

    /// The component's output broke the contract: the instance is
    /// discarded (every later call is refused), and the error says why.
    fn reject(&mut self, why: String) -> anyhow::Error {
        self.poisoned = true;
        anyhow!(why)
    }

    /// A page holds at most the records asked for.
    fn check_page_size(&mut self, records: usize, req: &FetchRequest) -> Result<()> {
        if records > req.page_size as usize {
            return Err(self.reject(format!(
                "connector returned {records} records for a page of at most {}",
                req.page_size
            )));
        }
        Ok(())
    }

    /// Every mapped record must carry one value per rule of the spec.
    fn check_outcomes(&mut self, outcomes: &[MapOutcome], spec: &MappingSpec) -> Result<()> {
        let bad = outcomes.iter().enumerate().find_map(|(i, o)| match o {
            MapOutcome::Mapped(m) if m.values.len() != spec.rules.len() => Some((i, m)),
            _ => None,
        });
        if let Some((i, m)) = bad {
            return Err(self.reject(format!(
                "connector returned a malformed mapped record (#{i} on the page, id `{}`): {} values for {} mapping rules",
                m.source_id,
                m.values.len(),
                spec.rules.len()
            )));
        }
        Ok(())
    }

    /// Every record must carry one value per catalog field.
    fn check_records(&mut self, records: &[SourceRecord]) -> Result<()> {
        if self.field_count == 0 {
            return Ok(());
        }
        if let Some((i, r)) = records
            .iter()
            .enumerate()
            .find(|(_, r)| r.values.len() != self.field_count)
        {
            return Err(self.reject(format!(
                "connector returned a malformed record (#{i} on the page, id `{}`): {} values, but its manifest declares {} fields",
                r.id,
                r.values.len(),
                self.field_count
            )));
        }
        Ok(())
    }
}

/// Why an answer of `check-action` breaks the contract: only declared
/// parameters, each once, each of its declared type; every parameter given
/// (not null) back with its value (text may be trimmed); every required
/// one present.
fn check_effective(
    info: &ActionInfo,
    given: &[(String, Value)],
    effective: &[(String, Value)],
) -> std::result::Result<(), String> {
    for (i, (name, value)) in effective.iter().enumerate() {
        let Some(p) = info.params.iter().find(|p| p.name == *name) else {
            return Err(format!(
                "with parameter `{name}`, which the action does not declare"
            ));
        };
        if effective[..i].iter().any(|(n, _)| n == name) {
            return Err(format!("with parameter `{name}` twice"));
        }
        if !crate::bindings::admits(p.type_, value) {
            return Err(format!(
                "`{name}` = {}, not of its declared type {:?}",
                crate::bindings::to_json(value.clone()),
                p.type_
            ));
        }
    }
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::Text(a), Value::Text(b)) => a.trim() == b.trim(),
        (a, b) => a == b,
    };
    for (name, value) in given {
        if *value == Value::Null || matches!(value, Value::Text(t) if t.trim().is_empty()) {
            continue;
        }
        match effective.iter().find(|(n, _)| n == name) {
            Some((_, v)) if same(v, value) => {}
            Some((_, v)) => {
                return Err(format!(
                    "`{name}` = {} where {} was given",
                    crate::bindings::to_json(v.clone()),
                    crate::bindings::to_json(value.clone())
                ));
            }
            None => return Err(format!("without `{name}`, which was given")),
        }
    }
    if let Some(p) = info
        .params
        .iter()
        .find(|p| p.required && !effective.iter().any(|(n, _)| *n == p.name))
    {
        return Err(format!("without the required `{}`", p.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{ParamInfo, ValueType};

    fn info() -> ActionInfo {
        let param = |name: &str, ty, required| ParamInfo {
            name: name.into(),
            label: name.into(),
            description: String::new(),
            type_: ty,
            required,
            default: None,
        };
        ActionInfo {
            name: "delete-user".into(),
            label: String::new(),
            description: String::new(),
            destructive: true,
            params: vec![
                param("wipe-data", ValueType::Boolean, false),
                param("transfer-destination-email", ValueType::Text, false),
                param("role", ValueType::Text, false),
            ],
        }
    }

    fn pairs(p: &[(&str, Value)]) -> Vec<(String, Value)> {
        p.iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn check_action_answers_are_held_to_the_manifest_and_the_request() {
        let given = pairs(&[
            ("wipe-data", Value::Boolean(false)),
            (
                "transfer-destination-email",
                Value::Text(" m@x.com ".into()),
            ),
        ]);
        let honest = pairs(&[
            ("wipe-data", Value::Boolean(false)),
            ("transfer-destination-email", Value::Text("m@x.com".into())),
        ]);
        assert_eq!(check_effective(&info(), &given, &honest), Ok(()));
        let cases: [(&[(&str, Value)], &str); 5] = [
            (
                &[
                    ("wipe-data", Value::Boolean(true)),
                    ("transfer-destination-email", Value::Text("m@x.com".into())),
                ],
                "`wipe-data` = true where false was given",
            ),
            (
                &[
                    ("wipe-data", Value::Boolean(false)),
                    (
                        "transfer-destination-email",
                        Value::Text("evil@x.com".into()),
                    ),
                ],
                "= \"evil@x.com\" where",
            ),
            (
                &[("wipe-data", Value::Boolean(false))],
                "without `transfer-destination-email`",
            ),
            (
                &[
                    ("wipe-data", Value::Boolean(false)),
                    ("transfer-destination-email", Value::Text("m@x.com".into())),
                    ("permanently-delete", Value::Boolean(true)),
                ],
                "`permanently-delete`, which the action does not declare",
            ),
            (
                &[
                    ("wipe-data", Value::Text("no".into())),
                    ("transfer-destination-email", Value::Text("m@x.com".into())),
                ],
                "not of its declared type",
            ),
        ];
        for (answer, needle) in cases {
            let why = check_effective(&info(), &given, &pairs(answer)).unwrap_err();
            assert!(why.contains(needle), "{needle}: {why}");
        }
        let twice = pairs(&[
            ("wipe-data", Value::Boolean(false)),
            ("wipe-data", Value::Boolean(false)),
            ("transfer-destination-email", Value::Text("m@x.com".into())),
        ]);
        assert!(
            check_effective(&info(), &given, &twice)
                .unwrap_err()
                .contains("twice")
        );
        let mut required = info();
        required.params[2].required = true;
        assert!(
            check_effective(&required, &given, &honest)
                .unwrap_err()
                .contains("without the required `role`")
        );
    }
}
