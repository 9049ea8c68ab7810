//! Workflows: rules over Oomnitza user data that decide which Dropbox
//! actions to run, for whom, with which parameters (the seed's Begin block
//! plus API blocks).
//!
//! A workflow has a trigger (conditions on Oomnitza user fields, sent as
//! the users API's `filter` and checked again here) and steps (actions
//! with parameters; a parameter may be `{field}` to take a value from the
//! user's record, e.g. the manager's email as transfer destination).
//! Running one first builds a plan; destructive steps need confirmation;
//! every action is written to the audit log, and a step that completed for
//! a user is never repeated by a re-run.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::bindings::{ActionInfo, ActionStatus, UserRef, Value, ValueType};
use crate::integration::{Integration, describe_error};
use crate::oomnitza::OomnitzaClient;
use crate::state::{AuditEntry, Outcome, StateDb};
use crate::term::{errput, outln};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// All must hold.
    pub trigger: Vec<ConditionConfig>,
    pub steps: Vec<StepConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// An Oomnitza user field (REST view), e.g. `offboarding_date`.
    pub field: String,
    pub op: Op,
    /// Text; `"today"` is today's date (UTC, `YYYY-MM-DD`). A list for `in`.
    pub value: toml::Value,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub action: String,
    /// Values are text, booleans or integers; text `{field}` takes the
    /// user's field.
    #[serde(default)]
    pub params: toml::Table,
}

impl WorkflowConfig {
    pub fn check(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("a workflow needs a name");
        }
        if self.trigger.is_empty() {
            bail!("a workflow needs at least one trigger condition (it would act on every user)");
        }
        if self.steps.is_empty() {
            bail!("a workflow needs at least one step");
        }
        for c in &self.trigger {
            match (c.op, &c.value) {
                (Op::In, toml::Value::Array(_)) => {}
                (Op::In, _) => bail!("condition on {}: `in` needs a list", c.field),
                (_, toml::Value::Array(_)) => {
                    bail!("condition on {}: only `in` takes a list", c.field)
                }
                _ => {}
            }
            if c.field.is_empty()
                || !c
                    .field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bail!(
                    "condition field {:?} must be an Oomnitza field name",
                    c.field
                );
            }
        }
        Ok(())
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    crate::clock::now()[..10].to_string()
}

fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) if s == "today" => today(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Lt => "lt",
        Op::Le => "le",
        Op::Gt => "gt",
        Op::Ge => "ge",
        Op::In => "in",
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The users API filter for a trigger: `field op 'value' and ...`.
pub fn filter_text(trigger: &[ConditionConfig]) -> String {
    trigger
        .iter()
        .map(|c| match &c.value {
            toml::Value::Array(items) => format!(
                "{} in ({})",
                c.field,
                items
                    .iter()
                    .map(|v| quote(&scalar(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            v => format!("{} {} {}", c.field, op_text(c.op), quote(&scalar(v))),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn field_text(user: &Json, field: &str) -> String {
    match &user[field] {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks a trigger against a user record here too: the filter is the
/// server's job, but acting on someone it let through by mistake is ours.
pub fn matches(trigger: &[ConditionConfig], user: &Json) -> bool {
    trigger.iter().all(|c| {
        let have = field_text(user, &c.field);
        match &c.value {
            toml::Value::Array(items) => {
                items.iter().any(|v| scalar(v).eq_ignore_ascii_case(&have))
            }
            v => {
                let want = scalar(v);
                match c.op {
                    Op::Eq => have.eq_ignore_ascii_case(&want),
                    Op::Ne => !have.eq_ignore_ascii_case(&want),
                    // Empty values never satisfy an ordering: a user with no
                    // offboarding date is not "before today".
                    Op::Lt => !have.is_empty() && have < want,
                    Op::Le => !have.is_empty() && have <= want,
                    Op::Gt => !have.is_empty() && have > want,
                    Op::Ge => !have.is_empty() && have >= want,
                    Op::In => false,
                }
            }
        }
    })
}

/// One action for one user, as planned.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub workflow: Option<String>,
    pub step: u32,
    pub user: String,
    pub action: String,
    pub params: Vec<(String, Value)>,
    /// Asks before running: the host's judgement (every action not listed
    /// in `[actions] safe`), never the component's `destructive` flag.
    pub destructive: bool,
    /// Completed by an earlier run: skipped.
    pub already_done: bool,
    /// Why this step cannot run (e.g. a `{field}` the user lacks).
    pub problem: Option<String>,
}

impl PlannedStep {
    fn params_text(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::bindings::to_json(v.clone())))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn params_json(&self) -> String {
        let map: serde_json::Map<String, Json> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), crate::bindings::to_json(v.clone())))
            .collect();
        Json::Object(map).to_string()
    }
}

/// Converts configured parameters to the action's declared types,
/// resolving `{field}` from the user. Unknown parameters are errors.
pub fn typed_params(
    info: &ActionInfo,
    raw: &[(String, String)],
    user: Option<&Json>,
) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for (name, text) in raw {
        let Some(p) = info.params.iter().find(|p| p.name == *name) else {
            return Err(format!(
                "action `{}` has no parameter `{name}` (it takes: {})",
                info.name,
                info.params
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let text = match (
            text.strip_prefix('{').and_then(|t| t.strip_suffix('}')),
            user,
        ) {
            (Some(field), Some(u)) => {
                let v = field_text(u, field);
                if v.is_empty() {
                    return Err(format!("the user has no `{field}` for parameter `{name}`"));
                }
                v
            }
            (Some(field), None) => return Err(format!("`{{{field}}}` needs a user record")),
            (None, _) => text.clone(),
        };
        let value = match p.type_ {
            ValueType::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Boolean(true),
                "false" | "no" | "0" => Value::Boolean(false),
                _ => {
                    return Err(format!(
                        "parameter `{name}` must be true or false, not {text:?}"
                    ));
                }
            },
            ValueType::Integer => Value::Integer(
                text.parse()
                    .map_err(|_| format!("parameter `{name}` must be an integer, not {text:?}"))?,
            ),
            ValueType::TextList => {
                Value::TextList(text.split(',').map(|s| s.trim().to_string()).collect())
            }
            ValueType::Timestamp => Value::Timestamp(text),
            ValueType::Text => Value::Text(text),
        };
        out.push((name.clone(), value));
    }
    for p in info.params.iter().filter(|p| p.required) {
        if !out.iter().any(|(n, _)| *n == p.name) {
            return Err(format!(
                "action `{}` needs parameter `{}`",
                info.name, p.name
            ));
        }
    }
    Ok(out)
}

fn toml_param_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn action_info<'a>(integration: &'a Integration, name: &str) -> Result<&'a ActionInfo> {
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

/// Builds the plan of a workflow: every matching user × step.
pub async fn plan_workflow(
    integration: &Integration,
    workflow: &WorkflowConfig,
    client: &OomnitzaClient,
    db: &StateDb,
) -> Result<Vec<PlannedStep>> {
    let filter = filter_text(&workflow.trigger);
    let mut users = Vec::new();
    let mut skip = 0u64;
    loop {
        let (page, total) = client
            .list_users(&filter, 100, skip)
            .await
            .with_context(|| format!("listing Oomnitza users for workflow `{}`", workflow.name))?;
        let n = page.len() as u64;
        users.extend(page.into_iter().filter(|u| matches(&workflow.trigger, u)));
        skip += n;
        if n == 0 || skip >= total {
            break;
        }
    }
    let mut plan = Vec::new();
    for user in &users {
        let email = field_text(user, "email");
        if email.is_empty() {
            continue;
        }
        for (i, step) in workflow.steps.iter().enumerate() {
            let info = action_info(integration, &step.action)?;
            let raw: Vec<(String, String)> = step
                .params
                .iter()
                .map(|(k, v)| (k.clone(), toml_param_text(v)))
                .collect();
            let (params, problem) = match typed_params(info, &raw, Some(user)) {
                Ok(p) => (p, None),
                Err(e) => (vec![], Some(e)),
            };
            plan.push(PlannedStep {
                workflow: Some(workflow.name.clone()),
                step: i as u32,
                user: email.clone(),
                action: step.action.clone(),
                params,
                destructive: integration.needs_confirmation(&step.action),
                already_done: db.step_completed(&workflow.name, i as u32, &email)?,
                problem,
            });
        }
    }
    Ok(plan)
}

/// Plans one action by hand.
pub fn plan_action(
    integration: &Integration,
    action: &str,
    user: &str,
    raw: &[(String, String)],
) -> Result<Vec<PlannedStep>> {
    let info = action_info(integration, action)?;
    let params = typed_params(info, raw, None).map_err(|e| anyhow!(e))?;
    Ok(vec![PlannedStep {
        workflow: None,
        step: 0,
        user: user.to_string(),
        action: action.to_string(),
        params,
        destructive: integration.needs_confirmation(action),
        already_done: false,
        problem: None,
    }])
}

pub fn print_plan(title: &str, plan: &[PlannedStep], out: &mut impl Write) -> Result<()> {
    writeln!(out, "{title}: {} step(s)", plan.len())?;
    for p in plan {
        let note = match (&p.problem, p.already_done) {
            (Some(e), _) => format!("   (cannot run: {e})"),
            (None, true) => "   (already done: skipped)".to_string(),
            _ if p.destructive => "   (needs confirmation)".to_string(),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:<36} {:<18} {}{note}",
            p.user,
            p.action,
            p.params_text()
        )?;
    }
    Ok(())
}

/// Asks before steps that need confirmation; `--yes` answers for the
/// operator.
pub fn confirm(plan: &[PlannedStep], yes: bool) -> Result<bool> {
    let destructive = plan
        .iter()
        .filter(|p| p.destructive && !p.already_done && p.problem.is_none())
        .count();
    if destructive == 0 || yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{destructive} step(s) need confirmation (actions not listed in [actions] safe): run on a terminal, or pass --yes"
        );
    }
    errput!("Run {destructive} step(s) that need confirmation? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Counts of what a run of a plan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Executed {
    pub done: u32,
    pub unchanged: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// Runs a plan, recording every action in the audit log. A user's later
/// steps are skipped once one of their steps fails.
pub async fn execute(
    integration: &Integration,
    plan: &[PlannedStep],
    db: &StateDb,
) -> Result<Executed> {
    let mut inst = integration.instance().await?;
    let mut totals = Executed::default();
    let mut failed_users: Vec<&str> = Vec::new();
    for p in plan {
        if p.already_done || p.problem.is_some() || failed_users.contains(&p.user.as_str()) {
            totals.skipped += 1;
            continue;
        }
        let targets = [UserRef::Email(p.user.clone())];
        let (outcome, vendor, detail) = match inst.action(&p.action, &targets, &p.params).await {
            Err(e) => {
                // The instance is gone after a host-side failure.
                inst = integration.instance().await?;
                (Outcome::Failed, String::new(), format!("{e:#}"))
            }
            Ok(Err(e)) => (Outcome::Failed, String::new(), describe_error(&e)),
            Ok(Ok(mut results)) => match results.pop() {
                Some(Ok(r)) => (
                    match r.status {
                        ActionStatus::Done => Outcome::Done,
                        ActionStatus::Unchanged => Outcome::Unchanged,
                    },
                    r.vendor_response,
                    r.detail,
                ),
                Some(Err(e)) => (Outcome::Failed, vendor_tag(&e), describe_error(&e)),
                None => (
                    Outcome::Failed,
                    String::new(),
                    "the connector returned no result".into(),
                ),
            },
        };
        match outcome {
            Outcome::Done => totals.done += 1,
            Outcome::Unchanged => totals.unchanged += 1,
            Outcome::Failed => {
                totals.failed += 1;
                failed_users.push(&p.user);
            }
        }
        outln!(
            "  {:<36} {:<18} {:<9} {detail}",
            p.user,
            p.action,
            outcome.as_str()
        );
        db.record_action(&AuditEntry {
            at: crate::clock::now(),
            workflow: p.workflow.clone(),
            step: Some(p.step),
            user: p.user.clone(),
            action: p.action.clone(),
            params: p.params_json(),
            vendor_response: vendor,
            outcome: outcome.as_str().into(),
            detail,
        })?;
    }
    Ok(totals)
}

fn vendor_tag(e: &crate::bindings::ConnectorError) -> String {
    match e {
        crate::bindings::ConnectorError::Conflict(c) => {
            serde_json::json!({"error": {".tag": c.tag}, "error_summary": c.summary}).to_string()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: &str, op: Op, value: toml::Value) -> ConditionConfig {
        ConditionConfig {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn filter_text_quotes_and_resolves_today() {
        let t = [
            cond("offboarding_date", Op::Le, "today".into()),
            cond(
                "status",
                Op::In,
                toml::Value::Array(vec!["Active".into(), "O'Brien".into()]),
            ),
        ];
        let f = filter_text(&t);
        assert!(
            f.starts_with(&format!("offboarding_date le '{}'", today())),
            "{f}"
        );
        assert!(f.ends_with("status in ('Active','O''Brien')"), "{f}");
    }

    #[test]
    fn empty_values_never_satisfy_an_ordering() {
        let t = [cond("offboarding_date", Op::Le, "2026-11-27".into())];
        assert!(matches(
            &t,
            &serde_json::json!({"offboarding_date": "2026-11-01"})
        ));
        assert!(!matches(
            &t,
            &serde_json::json!({"offboarding_date": "2026-12-01"})
        ));
        assert!(!matches(&t, &serde_json::json!({})));
        assert!(!matches(&t, &serde_json::json!({"offboarding_date": null})));
    }
}
