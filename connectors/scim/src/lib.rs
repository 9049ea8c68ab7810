//! Slack users through Slack's SCIM 2.0 API: a WASI 0.2 component
//! implementing `oomnitza:connector` with the connector SDK, and the
//! SDK's proof that a new vendor is a few hundred lines.
//!
//! - [`client`]: the `Users` routes, their JSON, and errors as contract
//!   errors; [`catalog`]: fields, records, smart mapping, manifest.
//! - Listing: `GET /scim/v2/Users?startIndex=S&count=N`; the cursor is the
//!   next `startIndex` in decimal, checked strictly. Deactivated users are
//!   listed too (`status` = `deactivated`; the smart mapping sends it as
//!   `slack_status`); an operator who wants only active people filters on
//!   `status`. `count-hint` is `totalResults` of a one-user page.
//! - Actions: `deactivate-user` / `reactivate-user` find the user (by
//!   `filter=emails eq "…"`, `externalId eq "…"`, or `GET /Users/<id>`),
//!   report `unchanged` when `active` already says so, else send a PatchOp
//!   replacing `active`. After a target fails with `unauthorized`,
//!   `rate-limited` or `denied`, the rest are not attempted and carry the
//!   same error, marked so (the SDK's `actions::each_target`).
//!
//! **What this relies on from Slack's public documentation** (SCIM API
//! reference, v1.1 and v2.0; SCIM rate limits; the 2019 changelog "SCIM
//! API pagination changes"): the base `https://api.slack.com/scim/v2/`;
//! a bearer token with the `admin` scope; `GET /Users` paged by
//! `startIndex`/`count` with a `count` of at most 1000 (larger is served as
//! 1000; the default is 10, so `count` is always sent); `PATCH /Users/<id>`
//! and `DELETE /Users/<id>` (which deactivates); HTTP 429 with
//! `Retry-After` when rate limited (writes 180/min per user endpoint, reads
//! 1000/min org-wide). The error body is read as RFC 7644 §3.12 (`detail`)
//! or as Slack's SCIM 1.1 `{"Errors":{"description","code"}}`, whichever
//! comes: the stored documentation did not show v2's. That `emails eq`
//! filters by address and that the enterprise extension's `manager` is
//! `{value}` (or 1.1's `managerId`) follow RFC 7643/7644, not a Slack page.

pub mod catalog;
pub mod client;

use catalog::{MAX_PAGE_SIZE, REACTIVATE_USER};
use oomnitza_connector_sdk::Connector;
use oomnitza_connector_sdk::actions::each_target;
use oomnitza_connector_sdk::transport::Transport;
use oomnitza_connector_sdk::types::{
    ActionResult, ActionStatus, ConnectorError, FetchRequest, Manifest, Page, RecordKind, UserRef,
    Value,
};

/// The connector over a transport.
#[derive(Debug, Default)]
pub struct SlackScim<T> {
    transport: T,
}

impl<T: Transport> SlackScim<T> {
    pub fn new(transport: T) -> Self {
        SlackScim { transport }
    }

    /// The transport, for tests that inspect what was sent.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

fn invalid(message: String) -> ConnectorError {
    ConnectorError::InvalidInput(message)
}

/// The connector declares no fetch options.
fn check_options(options: &[(String, Value)]) -> Result<(), ConnectorError> {
    match options.first() {
        Some((name, _)) => Err(invalid(format!(
            "unknown fetch option `{name}` (this connector accepts none)"
        ))),
        None => Ok(()),
    }
}

/// The `startIndex` a cursor names: a decimal in 1..=2^32-1, no sign, no
/// leading zero. No cursor is the first page.
pub fn start_index(cursor: Option<&str>) -> Result<u64, ConnectorError> {
    let Some(c) = cursor else { return Ok(1) };
    let canonical = !c.is_empty() && !c.starts_with('0') && c.bytes().all(|b| b.is_ascii_digit());
    canonical
        .then(|| c.parse::<u32>().ok())
        .flatten()
        .map(u64::from)
        .ok_or_else(|| invalid(format!("cursor `{c}` is not a Slack SCIM start index")))
}

impl<T: Transport> Connector for SlackScim<T> {
    fn describe(&self) -> Manifest {
        catalog::manifest()
    }

    fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError> {
        if request.kind != RecordKind::Users {
            return Err(invalid("this connector lists users only".to_owned()));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&request.page_size) {
            return Err(invalid(format!(
                "page-size must be between 1 and {MAX_PAGE_SIZE}, got {}",
                request.page_size
            )));
        }
        check_options(&request.options)?;
        let start = start_index(request.cursor.as_deref())?;
        let page = client::list_users(
            &mut self.transport,
            start,
            request.page_size,
            request.read_ahead,
        )?;
        Ok(Page {
            records: page.users.into_iter().map(catalog::build_record).collect(),
            cursor: page.next.map(|n| n.to_string()),
            has_more: page.next.is_some(),
        })
    }

    fn field_names(&self) -> Vec<String> {
        catalog::field_names()
    }

    fn action(
        &mut self,
        name: &str,
        targets: Vec<UserRef>,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        self.check_action(name, params)?;
        let active = name == REACTIVATE_USER;
        Ok(each_target(&targets, |target| {
            set_active(&mut self.transport, target, active)
        }))
    }

    /// `totalResults` of a one-user page: exactly what a listing returns,
    /// give or take changes in between.
    fn count_hint(
        &mut self,
        _kind: RecordKind,
        options: &[(String, Value)],
    ) -> Result<Option<u64>, ConnectorError> {
        check_options(options)?;
        client::list_users(&mut self.transport, 1, 1, false).map(|p| Some(p.total_results))
    }
}

/// Deactivates (`active` false) or reactivates one target.
fn set_active<T: Transport>(
    transport: &mut T,
    target: &UserRef,
    active: bool,
) -> Result<ActionResult, ConnectorError> {
    let (user, found) = client::find_user(transport, target)?;
    let status = if active { "active" } else { "deactivated" };
    let who = match target {
        UserRef::Email(v) | UserRef::ExternalId(v) if *v != user.id => format!("{v} ({})", user.id),
        _ => user.id.clone(),
    };
    let values = vec![
        ("scim_id".to_owned(), Value::Text(user.id.clone())),
        ("status".to_owned(), Value::Text(status.to_owned())),
    ];
    if user.active == Some(active) {
        return Ok(ActionResult {
            status: ActionStatus::Unchanged,
            detail: format!("{who} is already {status} in Slack; nothing was changed."),
            vendor_response: found,
            values,
        });
    }
    let answer = client::set_active(transport, &user.id, active)?;
    let detail = if active {
        format!("Reactivated {who} in Slack.")
    } else {
        format!(
            "Deactivated {who} in Slack: signed out, and can no longer sign in; the account is kept."
        )
    };
    Ok(ActionResult {
        status: ActionStatus::Done,
        detail,
        vendor_response: answer,
        values,
    })
}

// The component: one connector per call, over the host's HTTP.
#[cfg(target_arch = "wasm32")]
oomnitza_connector_sdk::export_connector!(SlackScim<oomnitza_connector_sdk::WasiTransport>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{FakeTransport, USER};
    use oomnitza_connector_sdk::transport::Method;
    use oomnitza_connector_sdk::types::MapOutcome;

    fn request(cursor: Option<&str>, page_size: u32) -> FetchRequest {
        FetchRequest {
            kind: RecordKind::Users,
            cursor: cursor.map(str::to_owned),
            page_size,
            options: vec![],
            sync_time: "2026-03-01T10:00:00Z".to_owned(),
            read_ahead: true,
        }
    }

    const PAGE: &str = r#"{"totalResults":9,"itemsPerPage":2,"startIndex":1,"Resources":[
        {"id":"W1","userName":"ada","active":true,"emails":[{"value":"Ada@X.com","primary":true}],"name":{"givenName":"Ada","familyName":"L"}},
        {"id":"W2","userName":"bob","active":false,"emails":[]}]}"#;

    #[test]
    fn fetch_pages_by_start_index_and_maps() {
        let mut c = SlackScim::new(FakeTransport::answering(&[(200, PAGE)]));
        let spec = c.describe().default_mapping;
        let page = c.fetch_mapped(request(Some("4"), 2), &spec).expect("page");
        assert_eq!((page.cursor.as_deref(), page.has_more), (Some("6"), true));
        assert_eq!(
            c.transport().urls(),
            ["https://api.slack.com/scim/v2/Users?startIndex=4&count=2"]
        );
        assert_eq!(
            c.transport().prefetched,
            ["https://api.slack.com/scim/v2/Users?startIndex=6&count=2"]
        );
        let MapOutcome::Mapped(m) = &page.outcomes[0] else {
            panic!("{:?}", page.outcomes[0])
        };
        let t = |s: &str| Value::Text(s.to_owned());
        assert_eq!(
            m.values,
            [
                t("ada@x.com"),
                t("ada@x.com"),
                t("Ada"),
                t("L"),
                Value::Null,
                t("W1"),
                t("active")
            ]
        );
        assert!(
            matches!(&page.outcomes[1], MapOutcome::Failed(f) if f.reason.contains("EMAIL is empty"))
        );
    }

    #[test]
    fn fetch_validates_before_any_call() {
        let mut c = SlackScim::new(FakeTransport::default());
        let err = |c: &mut SlackScim<FakeTransport>, r| match c.fetch(r) {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        for cursor in ["", "0", "01", "-1", "+2", "1.5", " 2", "4294967296", "abc"] {
            assert_eq!(
                err(&mut c, request(Some(cursor), 10)),
                format!("cursor `{cursor}` is not a Slack SCIM start index")
            );
        }
        assert!(
            err(&mut c, request(None, 1001)).starts_with("page-size must be between 1 and 1000")
        );
        let mut r = request(None, 10);
        r.options = vec![("include_removed".into(), Value::Boolean(true))];
        assert_eq!(
            err(&mut c, r),
            "unknown fetch option `include_removed` (this connector accepts none)"
        );
        r = request(None, 10);
        r.kind = RecordKind::SaasUsers;
        assert_eq!(err(&mut c, r), "this connector lists users only");
        assert!(c.transport().requests.is_empty());
        assert_eq!(start_index(Some("4294967295")), Ok(4_294_967_295));
    }

    #[test]
    fn count_hint_is_total_results() {
        let mut c = SlackScim::new(FakeTransport::answering(&[(200, PAGE)]));
        assert_eq!(c.count_hint(RecordKind::Users, &[]), Ok(Some(9)));
        assert_eq!(
            c.transport().urls(),
            ["https://api.slack.com/scim/v2/Users?startIndex=1&count=1"]
        );
    }

    #[test]
    fn deactivate_patches_active_users_and_leaves_inactive_ones() {
        let inactive = USER.replace("\"active\":true", "\"active\":false");
        let list = |u: &str| format!(r#"{{"totalResults":1,"Resources":[{u}]}}"#);
        let mut c = SlackScim::new(FakeTransport::answering(&[
            (200, &list(USER)),
            (200, &inactive),
            (200, &list(&inactive)),
        ]));
        let out = c
            .action(
                "deactivate-user",
                vec![
                    UserRef::Email("ada@x.com".into()),
                    UserRef::Email("ada@x.com".into()),
                ],
                vec![],
            )
            .expect("call");
        let done = out[0].as_ref().expect("done");
        assert_eq!(done.status, ActionStatus::Done);
        assert!(
            done.detail
                .starts_with("Deactivated ada@x.com (W1) in Slack"),
            "{}",
            done.detail
        );
        assert_eq!(
            done.values[1],
            ("status".to_owned(), Value::Text("deactivated".into()))
        );
        let same = out[1].as_ref().expect("unchanged");
        assert_eq!(same.status, ActionStatus::Unchanged);
        let methods: Vec<_> = c.transport().requests.iter().map(|r| r.0).collect();
        assert_eq!(methods, [Method::Get, Method::Patch, Method::Get]);
    }

    #[test]
    fn actions_halt_on_call_errors_and_check_params() {
        let mut c = SlackScim::new(FakeTransport::answering(&[(
            401,
            r#"{"detail":"invalid_authentication"}"#,
        )]));
        let targets = vec![UserRef::Id("W1".into()), UserRef::Id("W2".into())];
        let out = c.action("reactivate-user", targets, vec![]).expect("call");
        assert!(
            out.iter()
                .all(|r| matches!(r, Err(ConnectorError::Unauthorized(_))))
        );
        assert_eq!(
            c.transport().requests.len(),
            1,
            "the second is not attempted"
        );
        assert!(
            matches!(&out[1], Err(ConnectorError::Unauthorized(u))
                if u.message.starts_with("not attempted after an earlier request failed: ")),
            "{out:?}"
        );
        assert!(matches!(
            c.action("delete-user", vec![], vec![]),
            Err(ConnectorError::InvalidInput(m)) if m.starts_with("unknown action `delete-user`")
        ));
        assert!(matches!(
            c.action(catalog::DEACTIVATE_USER, vec![], vec![("wipe".into(), Value::Boolean(true))]),
            Err(ConnectorError::InvalidInput(m)) if m.starts_with("unknown parameter `wipe`")
        ));
    }
}
