//! Plans: who a workflow (or an action by hand) would act on, with which
//! effective parameters, and what stops a step.
//!
//! A plan reads every record of its source, projected to the fields it
//! needs (`fields=`), and evaluates the trigger here, typed ([`super::trigger`]):
//! Oomnitza's `filter` compares text, and a server-side filter that reads
//! `25 < 3` or misses a timestamp on today's date would silently change who
//! is acted on. Only the SaaS app's id is sent as a filter (exact), and it
//! is checked again here.
//!
//! Each step's parameters are typed from the manifest, `{field}` taken from
//! the record, then checked by the connector (`check-action`, in an
//! instance with HTTP denied), which also fills in its defaults
//! (`wipe-data = false`): the plan shows exactly what would be sent.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;

use super::trigger::{Trigger, Verdict, closest};
use super::{Source, StepConfig, WorkflowConfig, placeholder};
use crate::bindings::{ActionInfo, ConnectorError, ParamInfo, Value, ValueType};
use crate::instance::ConnectorInstance;
use crate::integration::Integration;
use crate::oomnitza::{ListQuery, OomnitzaClient};
use crate::state::StateDb;

/// Records read per request.
const PAGE: u32 = crate::config::limits::defaults::OOMNITZA_READ_PAGE;

/// The stand-in a `{field}` text parameter takes when a workflow is checked
/// without a record (`validate`): present, and shaped like the email
/// addresses such fields usually hold.
pub const STAND_IN_TEXT: &str = "placeholder@example.invalid";

/// One step of a plan, as the manifest declares its action.
#[derive(Debug, Clone)]
pub struct StepInfo {
    pub action: String,
    /// What the manifest says; only used to run such steps one user per
    /// call. Never decides whether the operator is asked.
    pub destructive: bool,
    /// The host's judgement: every action asks first unless the operator
    /// lists it in `[actions] safe` (see `Integration::needs_confirmation`).
    pub confirm: bool,
}

/// What will happen to one user's step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    /// Runs with these effective parameters (defaults included).
    Ready(Vec<(String, Value)>),
    /// Completed (done or unchanged) by an earlier run: skipped.
    AlreadyDone,
    /// Cannot run, and why (a `{field}` the user lacks, a value the
    /// connector refuses, a trigger value that cannot be read).
    CannotRun(String),
}

/// One user and their steps, in step order.
#[derive(Debug, Clone)]
pub struct UserPlan {
    /// The target: the record's email (or, lacking one, its id).
    pub user: String,
    pub steps: Vec<StepState>,
}

/// What a run would do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `workflow `offboard-suspend`` or `action `deactivate-user``.
    pub title: String,
    /// `None` for an action by hand.
    pub workflow: Option<String>,
    pub steps: Vec<StepInfo>,
    pub users: Vec<UserPlan>,
    /// The blast-radius cap.
    pub max_users: u32,
    /// Users acted on at once.
    pub concurrency: usize,
    /// Records read (workflows).
    pub records_read: u64,
    /// Things the operator should know (records of other SaaS apps dropped).
    pub notes: Vec<String>,
}

impl Plan {
    /// Users with a step that is not already done: who a run would act on
    /// (or report as impossible). What the cap counts.
    pub fn acting_on(&self) -> usize {
        self.users
            .iter()
            .filter(|u| u.steps.iter().any(|s| *s != StepState::AlreadyDone))
            .count()
    }

    /// Why a run of this plan must do nothing: more users than `max_users`
    /// and than the operator allowed for this run.
    pub fn over_cap(&self, allow_more: Option<u32>) -> Option<String> {
        let n = self.acting_on();
        let cap = self.max_users.max(allow_more.unwrap_or(0));
        if n as u64 <= u64::from(cap) {
            return None;
        }
        let (what, knob) = match &self.workflow {
            Some(name) => (
                format!("workflow `{name}` would act on {n} users"),
                format!(
                    "`oomnitza-connect workflow run {name} --allow-more {n}` (or raise its max_users)"
                ),
            ),
            None => (
                format!("{} names {n} users", self.title),
                format!("the same command with `--allow-more {n}`"),
            ),
        };
        let limit = match allow_more {
            Some(a) if a > self.max_users => format!("more than --allow-more {a} allows"),
            _ => format!("more than its cap of {} (max_users)", self.max_users),
        };
        Some(format!(
            "{what}, {limit}: nothing was done. Check the trigger first; if so many are meant, run {knob}"
        ))
    }

    /// Steps that would run and need the operator's confirmation.
    pub fn steps_to_confirm(&self) -> usize {
        self.users
            .iter()
            .flat_map(|u| u.steps.iter().zip(&self.steps))
            .filter(|(s, info)| info.confirm && matches!(s, StepState::Ready(_)))
            .count()
    }
}

/// Parameters as the operator gave them.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// From the config, typed by TOML.
    Toml(toml::Value),
    /// From the command line.
    Text(String),
    /// `{field}`: the record's value.
    Field(String),
}

impl Raw {
    fn from_toml(v: &toml::Value) -> Raw {
        match v {
            toml::Value::String(s) => match placeholder(s) {
                Some(f) => Raw::Field(f.to_string()),
                None => Raw::Toml(v.clone()),
            },
            other => Raw::Toml(other.clone()),
        }
    }
}

/// A step's parameters as configured.
pub fn raw_params(step: &StepConfig) -> Vec<(String, Raw)> {
    step.params
        .iter()
        .map(|(k, v)| (k.clone(), Raw::from_toml(v)))
        .collect()
}

/// A record's field as text: strings trimmed, numbers and booleans as
/// written, null and absent empty.
pub fn field_text(record: &Json, field: &str) -> String {
    match record.get(field) {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.trim().to_string(),
        Some(other) => other.to_string(),
    }
}

/// Types `raw` by the action's declaration, taking `{field}` from `record`
/// (or a stand-in when there is none). Unknown names and values that do
/// not read as their type are errors naming them.
pub fn typed_params(
    info: &ActionInfo,
    raw: &[(String, Raw)],
    record: Option<&Json>,
) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let Some(p) = info.params.iter().find(|p| p.name == *name) else {
            return Err(format!(
                "action `{}` has no parameter `{name}` (it takes: {})",
                info.name,
                if info.params.is_empty() {
                    "none".to_string()
                } else {
                    info.params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        };
        let v = match value {
            Raw::Field(field) => match record {
                Some(r) => {
                    let text = field_text(r, field);
                    if text.is_empty() {
                        return Err(format!(
                            "the record has no `{field}` for parameter `{name}`"
                        ));
                    }
                    from_text(p, &text)?
                }
                None => stand_in(p),
            },
            Raw::Text(t) => from_text(p, t)?,
            Raw::Toml(t) => from_toml(p, t)?,
        };
        out.push((name.clone(), v));
    }
    Ok(out)
}

fn stand_in(p: &ParamInfo) -> Value {
    match p.type_ {
        ValueType::Text => Value::Text(STAND_IN_TEXT.into()),
        ValueType::Boolean => Value::Boolean(false),
        ValueType::Integer => Value::Integer(0),
        ValueType::Timestamp => Value::Timestamp("1970-01-01T00:00:00Z".into()),
        ValueType::TextList => Value::TextList(vec![STAND_IN_TEXT.into()]),
    }
}

fn from_text(p: &ParamInfo, text: &str) -> Result<Value, String> {
    let name = &p.name;
    Ok(match p.type_ {
        ValueType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Boolean(true),
            "false" | "no" | "0" => Value::Boolean(false),
            _ => {
                return Err(format!(
                    "parameter `{name}` must be true or false, not {text:?}"
                ));
            }
        },
        ValueType::Integer => Value::Integer(
            text.trim()
                .parse()
                .map_err(|_| format!("parameter `{name}` must be an integer, not {text:?}"))?,
        ),
        ValueType::TextList => {
            Value::TextList(text.split(',').map(|s| s.trim().to_string()).collect())
        }
        ValueType::Timestamp => Value::Timestamp(text.to_string()),
        ValueType::Text => Value::Text(text.to_string()),
    })
}

fn from_toml(p: &ParamInfo, v: &toml::Value) -> Result<Value, String> {
    let name = &p.name;
    let wrong = |want: &str| Err(format!("parameter `{name}` must be {want}, not {v}"));
    match (p.type_, v) {
        (_, toml::Value::String(s)) => from_text(p, s),
        (ValueType::Boolean, toml::Value::Boolean(b)) => Ok(Value::Boolean(*b)),
        (ValueType::Boolean, _) => wrong("true or false"),
        (ValueType::Integer, toml::Value::Integer(i)) => Ok(Value::Integer(*i)),
        (ValueType::Integer, _) => wrong("an integer"),
        (ValueType::Timestamp, toml::Value::Datetime(d)) => Ok(Value::Timestamp(d.to_string())),
        (ValueType::Timestamp, _) => wrong("a timestamp"),
        (ValueType::TextList, toml::Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => Ok(s.clone()),
                _ => Err(format!(
                    "parameter `{name}` must be a list of text, not {v}"
                )),
            })
            .collect::<Result<_, _>>()
            .map(Value::TextList),
        (ValueType::TextList, _) => wrong("a list of text"),
        (ValueType::Text, _) => wrong("text"),
    }
}

/// The action `name` as the manifest declares it.
pub fn action_info<'a>(integration: &'a Integration, name: &str) -> Result<&'a ActionInfo> {
    integration
        .manifest
        .actions
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| {
            anyhow!(
                "connector `{}` has no action `{name}` (it offers: {})",
                integration.manifest.name,
                integration
                    .manifest
                    .actions
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The connector's verdict on some parameters: effective, or refused.
pub type Checked = Result<Vec<(String, Value)>, String>;

/// Runs `check-action` in an instance with HTTP denied, remembering
/// answers (a workflow's literal parameters are checked once, not per
/// user).
pub struct Checker {
    inst: ConnectorInstance,
    cache: HashMap<(String, String), Checked>,
}

impl Checker {
    pub async fn new(integration: &Integration) -> Result<Checker> {
        let mut inst =
            ConnectorInstance::new_offline(&integration.component, integration.limits).await?;
        inst.describe().await?;
        Ok(Checker {
            inst,
            cache: HashMap::new(),
        })
    }

    /// The effective parameters, or the connector's reason to refuse them
    /// (`Ok(Err(..))`); `Err` for a broken contract.
    pub async fn check(
        &mut self,
        action: &str,
        params: &[(String, Value)],
    ) -> Result<Result<Vec<(String, Value)>, String>> {
        let key = (
            action.to_string(),
            serde_json::to_string(
                &params
                    .iter()
                    .map(|(k, v)| (k, crate::bindings::to_json(v.clone())))
                    .collect::<Vec<_>>(),
            )?,
        );
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit.clone());
        }
        let answer = match self.inst.check_action(action, params).await? {
            Ok(effective) => Ok(effective),
            Err(ConnectorError::InvalidInput(m)) => Err(m),
            Err(e) => Err(crate::integration::describe_error(&e)),
        };
        self.cache.insert(key, answer.clone());
        Ok(answer)
    }
}

/// Plans one action by hand for `users` (deduplicated, in order).
pub async fn plan_action(
    integration: &Integration,
    action: &str,
    users: &[String],
    raw: &[(String, String)],
) -> Result<Plan> {
    let info = action_info(integration, action)?;
    let raw: Vec<(String, Raw)> = raw
        .iter()
        .map(|(k, v)| (k.clone(), Raw::Text(v.clone())))
        .collect();
    let typed = typed_params(info, &raw, None).map_err(|e| anyhow!(e))?;
    let mut checker = Checker::new(integration).await?;
    let effective = checker
        .check(action, &typed)
        .await?
        .map_err(|e| anyhow!("action `{action}`: {e}"))?;
    let mut seen = HashSet::new();
    let users = users
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty() && seen.insert(u.to_lowercase()))
        .map(|user| UserPlan {
            user,
            steps: vec![StepState::Ready(effective.clone())],
        })
        .collect();
    Ok(Plan {
        title: format!("action `{action}`"),
        workflow: None,
        steps: vec![StepInfo {
            action: action.to_string(),
            destructive: info.destructive,
            confirm: integration.needs_confirmation(action),
        }],
        users,
        max_users: super::DEFAULT_MAX_USERS,
        concurrency: super::DEFAULT_CONCURRENCY as usize,
        records_read: 0,
        notes: vec![],
    })
}

/// The route and id field of a source.
fn source_route(source: Source) -> (&'static str, &'static str) {
    match source {
        Source::People => ("/api/v3/users", "user_id"),
        Source::SaasUsers => ("/api/v3/saas_users", "saas_user_id"),
    }
}

/// Reads every record of the workflow's source, projected to `fields`.
async fn read_all(
    client: &OomnitzaClient,
    source: Source,
    filter: Option<&str>,
    fields: &[String],
) -> Result<Vec<Json>> {
    let (path, id) = source_route(source);
    let mut records = Vec::new();
    let mut skip = 0u64;
    loop {
        let (page, total) = client
            .list_page(
                path,
                &ListQuery {
                    filter,
                    fields,
                    sortby: Some(id),
                    limit: PAGE,
                    skip,
                },
            )
            .await?;
        let n = page.len() as u64;
        records.extend(page);
        skip += n;
        if n == 0 || skip >= total {
            return Ok(records);
        }
    }
}

/// Builds the plan of a workflow: every user its trigger selects × steps.
pub async fn plan_workflow(
    integration: &Integration,
    workflow: &WorkflowConfig,
    client: &OomnitzaClient,
    db: &StateDb,
) -> Result<Plan> {
    let saas_id = integration.config.saas.as_ref().map(|s| s.saas_id.clone());
    workflow.check(saas_id.as_deref())?;
    let trigger = Trigger::compile(&workflow.trigger, super::trigger::today())?;
    let infos: Vec<&ActionInfo> = workflow
        .steps
        .iter()
        .map(|s| action_info(integration, &s.action))
        .collect::<Result<_>>()?;
    let raws: Vec<Vec<(String, Raw)>> = workflow.steps.iter().map(raw_params).collect();
    let placeholders: Vec<&str> = raws
        .iter()
        .flatten()
        .filter_map(|(_, r)| match r {
            Raw::Field(f) => Some(f.as_str()),
            _ => None,
        })
        .collect();

    // What to read: the target, the id, the trigger's and the steps' fields.
    let (path, id_field) = source_route(workflow.on);
    let mut fields: Vec<String> = vec!["email".into(), id_field.into()];
    if workflow.on == Source::SaasUsers {
        fields.push("selected_saas_id".into());
    }
    for f in trigger
        .fields()
        .into_iter()
        .chain(placeholders.iter().copied())
    {
        if !fields.iter().any(|x| x == f) {
            fields.push(f.to_string());
        }
    }
    let filter = saas_id
        .as_deref()
        .filter(|_| workflow.on == Source::SaasUsers)
        .map(|id| format!("selected_saas_id eq '{}'", id.replace('\'', "''")));
    let mut records = read_all(client, workflow.on, filter.as_deref(), &fields)
        .await
        .with_context(|| {
            format!(
                "reading Oomnitza {} for workflow `{}`",
                workflow.on.as_str(),
                workflow.name
            )
        })?;
    let records_read = records.len() as u64;
    let mut notes = Vec::new();
    if records.is_empty() {
        notes.push(match workflow.on {
            Source::People => "Oomnitza returned no people at all".to_string(),
            Source::SaasUsers => format!(
                "Oomnitza returned no SaaS users of the app {} at all (check [saas] saas_id)",
                saas_id.as_deref().unwrap_or_default()
            ),
        });
    }
    if let (Source::SaasUsers, Some(id)) = (workflow.on, &saas_id) {
        // The filter is Oomnitza's to apply; acting on another app's SaaS
        // user through Dropbox is ours to prevent.
        let before = records.len();
        records.retain(|r| field_text(r, "selected_saas_id") == *id);
        if records.len() < before {
            notes.push(format!(
                "{} SaaS users of other apps were returned and ignored",
                before - records.len()
            ));
        }
    }

    // A field no record carries is a typo until proven otherwise.
    if !records.is_empty() {
        let wanted = trigger
            .fields()
            .into_iter()
            .map(|f| (f, "trigger"))
            .chain(placeholders.iter().map(|f| (*f, "parameter")));
        for (field, used_in) in wanted {
            if !records.iter().any(|r| r.get(field).is_some()) {
                let sample = read_all_keys(client, path).await;
                let hint = match closest(field, sample.iter().map(String::as_str)) {
                    Some(c) => format!("; the closest field that exists is `{c}`"),
                    None if sample.is_empty() => String::new(),
                    None => format!(
                        "; fields that exist include {}",
                        sample
                            .iter()
                            .take(12)
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                bail!(
                    "workflow `{}`: the {used_in} field `{field}` is carried by none of the {} Oomnitza {} read{hint}. Nothing was done",
                    workflow.name,
                    records.len(),
                    workflow.on.as_str()
                );
            }
        }
    }

    let mut checker = Checker::new(integration).await?;
    let mut users: Vec<UserPlan> = Vec::new();
    let mut seen = HashSet::new();
    let mut unreadable: HashMap<String, (usize, String, &'static str)> = HashMap::new();
    let mut undecided = Vec::new();
    for record in &records {
        let verdict = trigger.check(record);
        let email = field_text(record, "email");
        let who = if email.is_empty() {
            format!("({id_field} {})", field_text(record, id_field))
        } else {
            email.clone()
        };
        match verdict {
            Verdict::NoMatch => continue,
            Verdict::Unreadable {
                field,
                value,
                expected,
            } => {
                let e = unreadable
                    .entry(field.clone())
                    .or_insert((0, value.clone(), expected));
                e.0 += 1;
                undecided.push((
                    who,
                    format!(
                        "the trigger cannot be checked: `{field}` is {value:?}, not {expected}"
                    ),
                ));
                continue;
            }
            Verdict::Match => {}
        }
        if !seen.insert(who.to_lowercase()) {
            continue;
        }
        if email.is_empty() {
            users.push(UserPlan {
                user: who,
                steps: vec![
                    StepState::CannotRun("the record has no email to act on".into());
                    workflow.steps.len()
                ],
            });
            continue;
        }
        let mut steps = Vec::with_capacity(workflow.steps.len());
        for (i, (info, raw)) in infos.iter().zip(&raws).enumerate() {
            if db.step_completed(&workflow.name, i as u32, &email)? {
                steps.push(StepState::AlreadyDone);
                continue;
            }
            let literal = !raw.iter().any(|(_, r)| matches!(r, Raw::Field(_)));
            let state = match typed_params(info, raw, Some(record)) {
                Err(e) if literal => bail!(
                    "workflow `{}` step {} ({}): {e}",
                    workflow.name,
                    i + 1,
                    info.name
                ),
                Err(e) => StepState::CannotRun(e),
                Ok(typed) => match checker.check(&info.name, &typed).await? {
                    Ok(effective) => StepState::Ready(effective),
                    Err(e) if literal => bail!(
                        "workflow `{}` step {} ({}): {e}",
                        workflow.name,
                        i + 1,
                        info.name
                    ),
                    Err(e) => StepState::CannotRun(e),
                },
            };
            steps.push(state);
        }
        users.push(UserPlan { user: email, steps });
    }

    // A trigger field no record reads as its condition's type is a wrong
    // type in the condition (a date compared with an email), not bad data.
    for (field, (n, example, expected)) in &unreadable {
        let non_empty = records
            .iter()
            .filter(|r| !field_text(r, field).is_empty())
            .count();
        if *n == non_empty {
            bail!(
                "workflow `{}`: the trigger compares `{field}` as {expected}, but none of the {n} values it has reads as one (e.g. {example:?}). Check the condition's value. Nothing was done",
                workflow.name
            );
        }
    }
    for (who, why) in undecided {
        if seen.insert(who.to_lowercase()) {
            users.push(UserPlan {
                user: who,
                steps: vec![StepState::CannotRun(why); workflow.steps.len()],
            });
        }
    }

    Ok(Plan {
        title: format!("workflow `{}`", workflow.name),
        workflow: Some(workflow.name.clone()),
        steps: infos
            .iter()
            .map(|i| StepInfo {
                action: i.name.clone(),
                destructive: i.destructive,
                confirm: integration.needs_confirmation(&i.name),
            })
            .collect(),
        users,
        max_users: workflow.max_users,
        concurrency: workflow.concurrency as usize,
        records_read,
        notes,
    })
}

/// Every field name of one record of the source (for suggestions); empty
/// when it cannot be read.
async fn read_all_keys(client: &OomnitzaClient, path: &str) -> Vec<String> {
    match client
        .list_page(
            path,
            &ListQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await
    {
        Ok((rows, _)) => rows
            .first()
            .and_then(Json::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// `validate`'s static check of a workflow: each step's action exists, its
/// parameters are known and typed, and the connector accepts them
/// (`{field}` stands in as present). Returns each step's effective
/// parameters as text.
pub async fn validate_workflow(
    integration: &Integration,
    workflow: &WorkflowConfig,
    checker: &mut Checker,
) -> Result<Vec<String>> {
    let saas_id = integration.config.saas.as_ref().map(|s| s.saas_id.as_str());
    workflow.check(saas_id)?;
    let mut out = Vec::new();
    for (i, step) in workflow.steps.iter().enumerate() {
        let at = || format!("step {} ({})", i + 1, step.action);
        let info = action_info(integration, &step.action).with_context(at)?;
        let raw = raw_params(step);
        let typed = typed_params(info, &raw, None).map_err(|e| anyhow!("{}: {e}", at()))?;
        let effective = checker
            .check(&info.name, &typed)
            .await?
            .map_err(|e| anyhow!("{}: {e}", at()))?;
        // Show `{field}` where the stand-in went.
        let shown: Vec<(String, String)> = effective
            .iter()
            .map(|(k, v)| {
                let text = match raw.iter().find(|(n, _)| n == k) {
                    Some((_, Raw::Field(f))) => format!("{{{f}}}"),
                    _ => crate::bindings::to_json(v.clone()).to_string(),
                };
                (k.clone(), text)
            })
            .collect();
        out.push(format!(
            "step {} {} {}",
            i + 1,
            step.action,
            shown
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(out)
}

/// `name=value ...` of effective parameters.
pub fn params_text(params: &[(String, Value)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::bindings::to_json(v.clone())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parameters as a JSON object, for the audit log.
pub fn params_json(params: &[(String, Value)]) -> String {
    let map: serde_json::Map<String, Json> = params
        .iter()
        .map(|(k, v)| (k.clone(), crate::bindings::to_json(v.clone())))
        .collect();
    Json::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{ParamInfo, ValueType};

    fn plan(users: usize, done: usize) -> Plan {
        Plan {
            title: "workflow `w`".into(),
            workflow: Some("w".into()),
            steps: vec![StepInfo {
                action: "deactivate-user".into(),
                destructive: true,
                confirm: true,
            }],
            users: (0..users)
                .map(|i| UserPlan {
                    user: format!("u{i}@x.com"),
                    steps: vec![if i < done {
                        StepState::AlreadyDone
                    } else if i % 7 == 0 {
                        StepState::CannotRun("no manager_email".into())
                    } else {
                        StepState::Ready(vec![])
                    }],
                })
                .collect(),
            max_users: 25,
            concurrency: 4,
            records_read: users as u64,
            notes: vec![],
        }
    }

    #[test]
    fn the_cap_counts_users_with_work_left_and_is_lifted_only_as_far_as_allowed() {
        // 40 users, 10 done before: 30 to act on (cannot-run ones count).
        let p = plan(40, 10);
        assert_eq!(p.acting_on(), 30);
        let why = p.over_cap(None).expect("over");
        assert!(
            why.starts_with("workflow `w` would act on 30 users, more than its cap of 25 (max_users): nothing was done"),
            "{why}"
        );
        assert!(why.contains("--allow-more 30"), "{why}");
        let why = p.over_cap(Some(29)).expect("still over");
        assert!(why.contains("more than --allow-more 29 allows"), "{why}");
        assert_eq!(p.over_cap(Some(30)), None);
        assert!(
            p.over_cap(Some(5)).is_some(),
            "less than the cap lifts nothing"
        );
        assert_eq!(plan(35, 10).over_cap(None), None, "25 left: at the cap");
        assert_eq!(
            plan(40, 10).steps_to_confirm(),
            30 - (10..40).filter(|i| i % 7 == 0).count()
        );
    }

    fn info() -> ActionInfo {
        let p = |name: &str, ty| ParamInfo {
            name: name.into(),
            label: name.into(),
            description: String::new(),
            type_: ty,
            required: false,
            default: None,
        };
        ActionInfo {
            name: "delete-user".into(),
            label: String::new(),
            description: String::new(),
            destructive: true,
            params: vec![
                p("wipe-data", ValueType::Boolean),
                p("transfer-destination-email", ValueType::Text),
                p("count", ValueType::Integer),
            ],
        }
    }

    #[test]
    fn parameters_are_typed_by_the_declaration_and_fields_taken_from_the_record() {
        let raw = vec![
            (
                "wipe-data".to_string(),
                Raw::Toml(toml::Value::Boolean(false)),
            ),
            (
                "transfer-destination-email".to_string(),
                Raw::Field("manager_email".into()),
            ),
            ("count".to_string(), Raw::Text(" 3 ".into())),
        ];
        let record = serde_json::json!({"manager_email": " boss@x.com "});
        assert_eq!(
            typed_params(&info(), &raw, Some(&record)).unwrap(),
            vec![
                ("wipe-data".to_string(), Value::Boolean(false)),
                (
                    "transfer-destination-email".to_string(),
                    Value::Text("boss@x.com".into())
                ),
                ("count".to_string(), Value::Integer(3)),
            ]
        );
        // Without a record (validate), a stand-in that counts as given.
        assert_eq!(
            typed_params(&info(), &raw, None).unwrap()[1].1,
            Value::Text(STAND_IN_TEXT.into())
        );
        let err = |raw: Vec<(&str, Raw)>, record: serde_json::Value| {
            let raw: Vec<(String, Raw)> =
                raw.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            typed_params(&info(), &raw, Some(&record)).unwrap_err()
        };
        assert_eq!(
            err(
                vec![(
                    "transfer-destination-email",
                    Raw::Field("manager_email".into())
                )],
                serde_json::json!({"manager_email": null})
            ),
            "the record has no `manager_email` for parameter `transfer-destination-email`"
        );
        assert!(
            err(
                vec![("wipe-data", Raw::Toml(toml::Value::Integer(3)))],
                serde_json::json!({})
            )
            .contains("must be true or false, not 3")
        );
        assert!(
            err(
                vec![("wipe-data", Raw::Text("maybe".into()))],
                serde_json::json!({})
            )
            .contains("must be true or false")
        );
        assert!(err(vec![("wipe_data", Raw::Text("true".into()))], serde_json::json!({})).contains("has no parameter `wipe_data` (it takes: wipe-data, transfer-destination-email, count)"));
        assert!(
            err(
                vec![(
                    "transfer-destination-email",
                    Raw::Toml(toml::Value::Boolean(true))
                )],
                serde_json::json!({})
            )
            .contains("must be text")
        );
    }
}
