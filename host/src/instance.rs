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
    ActionResult, ConnectorError, FetchRequest, Manifest, MapOutcome, MappedPage, MappingSpec,
    Page, SourceRecord, UserConnector, UserRef, Value,
};
use crate::engine::LoadedComponent;
use crate::sandbox::{
    CallBudget, HostState, Limits, OutboundHooks, OutboundPolicy, TABLE_FULL, new_store,
};

pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: UserConnector,
    limits: Limits,
    poisoned: bool,
    /// Number of fields in the manifest, to check record shapes.
    field_count: usize,
    /// Actions the manifest declares; others are refused unsent.
    actions: Vec<String>,
    budget: Arc<CallBudget>,
    /// For refreshing an expired credential between attempts of a read.
    policy: Arc<OutboundPolicy>,
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
        })
    }

    /// Runs one guest call under the deadline: epoch interruption stops a
    /// guest that computes too long, the timer one that waits too long.
    async fn guarded<T, F>(&mut self, what: &str, call: F) -> Result<T>
    where
        F: AsyncFnOnce(&UserConnector, &mut Store<HostState>) -> wasmtime::Result<T>,
    {
        if self.poisoned {
            bail!("connector instance is unusable after an earlier failure");
        }
        let limit = self.limits.call_timeout;
        self.store.data_mut().start_call(Instant::now() + limit);
        self.store.set_epoch_deadline(1);
        // The contract: describe and map-records make no HTTP request.
        self.budget.reset(match what {
            "describe" => Some("describe"),
            "map" => Some("map-records"),
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
            .guarded("describe", async |b, s| {
                b.oomnitza_connector_connector().call_describe(s).await
            })
            .await?;
        self.field_count = m.fields.len();
        self.actions = m.actions.iter().map(|a| a.name.clone()).collect();
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

    pub async fn fetch(&mut self, req: &FetchRequest) -> Result<Result<Page, ConnectorError>> {
        let generation = self.policy.credential_generation().await;
        let mut page = self
            .guarded("fetch", async |b, s| {
                b.oomnitza_connector_connector().call_fetch(s, req).await
            })
            .await?;
        if Self::refreshed_after(self.policy.clone(), &page, generation).await {
            page = self
                .guarded("fetch", async |b, s| {
                    b.oomnitza_connector_connector().call_fetch(s, req).await
                })
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
                b.oomnitza_connector_connector()
                    .call_fetch_mapped(s, req, spec)
                    .await
            })
            .await?;
        if Self::refreshed_after(self.policy.clone(), &page, generation).await {
            page = self
                .guarded("fetch-mapped", async |b, s| {
                    b.oomnitza_connector_connector()
                        .call_fetch_mapped(s, req, spec)
                        .await
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
                b.oomnitza_connector_connector()
                    .call_map_records(s, spec, records)
                    .await
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
        if !self.actions.iter().any(|a| a == name) {
            bail!(
                "action `{name}` is not declared in the component's manifest (declared: {}); refusing to call it",
                if self.actions.is_empty() {
                    "none".to_string()
                } else {
                    self.actions.join(", ")
                }
            );
        }
        let out = self
            .guarded("action", async |b, s| {
                b.oomnitza_connector_connector()
                    .call_action(s, name, targets, params)
                    .await
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
