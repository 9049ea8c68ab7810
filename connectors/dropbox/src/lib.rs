//! The Dropbox team connector: a WASI 0.2 component implementing
//! `oomnitza:connector` with the connector SDK (`oomnitza-connector-sdk`).
//!
//! It lists a Dropbox team's members (`team/members/list_v2`, then
//! `list/continue_v2` with the cursor) and turns each into a positional
//! [`SourceRecord`](oomnitza_connector_sdk::SourceRecord) of the
//! [field catalog](catalog); the SDK's mapping engine maps them. Its
//! actions (suspend, unsuspend, remove, read and set admin roles) are in
//! [`actions`].
//!
//! Layout (everything here is Dropbox knowledge; the SDK holds the rest):
//! - [`wire`]: the API's types and their parser; [`peek`]: a quick scan
//!   of a page for its cursor (read-ahead);
//! - [`client`]: the RPC routes over a [`Transport`]; [`errors`]: Dropbox's
//!   error answers as contract errors;
//! - [`catalog`]: the fields, records and smart mapping; [`actions`]: the
//!   member actions; [`roles`]: admin roles as both report them;
//!   [`manifest`]: the manifest, assembled from the catalog and the
//!   actions' declarations (so neither of those depends on the other).
//!
//! The component is stateless: every call stands alone, and the cursor is
//! the only state between pages. It holds no credential: the host attaches
//! the team token to requests for the origin it binds.
//!
//! Natively this crate is an ordinary library (the `rlib`), so the wire
//! parser, the client and the catalog are tested and benchmarked without a
//! component runtime.

pub mod actions;
pub mod catalog;
pub mod client;
pub mod errors;
pub mod manifest;
pub mod peek;
pub mod roles;
pub mod wire;

use catalog::{FIELD_NAMES, MAX_PAGE_SIZE, OPTION_INCLUDE_REMOVED};
use oomnitza_connector_sdk::Connector;
#[cfg(target_arch = "wasm32")]
use oomnitza_connector_sdk::export_connector;
use oomnitza_connector_sdk::transport::{Sleeper, StdSleeper, Transport};
use oomnitza_connector_sdk::types::{
    ActionResult, ConnectorError, FetchRequest, Manifest, Page, RecordKind, SeatCounts, UserRef,
    Value,
};

/// The Dropbox connector over a transport, and a sleeper for the waits
/// between polls of an asynchronous removal.
#[derive(Debug, Default)]
pub struct DropboxConnector<T, S = StdSleeper> {
    transport: T,
    sleeper: S,
}

impl<T: Transport> DropboxConnector<T> {
    /// Over `transport`, waiting with `std` (native use).
    pub fn new(transport: T) -> Self {
        DropboxConnector::with_sleeper(transport, StdSleeper::default())
    }
}

impl<T: Transport, S: Sleeper> DropboxConnector<T, S> {
    pub fn with_sleeper(transport: T, sleeper: S) -> Self {
        DropboxConnector { transport, sleeper }
    }

    /// The transport, for tests that inspect what was sent.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The sleeper, for tests that inspect the waits.
    pub fn sleeper(&self) -> &S {
        &self.sleeper
    }
}

/// The checked options of a `fetch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FetchOptions {
    include_removed: bool,
}

fn fetch_options(options: &[(String, Value)]) -> Result<FetchOptions, ConnectorError> {
    let mut parsed = FetchOptions {
        include_removed: false,
    };
    for (i, (name, value)) in options.iter().enumerate() {
        if options[..i].iter().any(|(n, _)| n == name) {
            return Err(ConnectorError::InvalidInput(format!(
                "fetch option `{name}` is given more than once"
            )));
        }
        match name.as_str() {
            OPTION_INCLUDE_REMOVED => match value {
                Value::Boolean(b) => parsed.include_removed = *b,
                // Null means "the default".
                Value::Null => {}
                other => {
                    return Err(ConnectorError::InvalidInput(format!(
                        "fetch option `{name}` must be a boolean, not {}",
                        other.kind_name()
                    )));
                }
            },
            _ => {
                return Err(ConnectorError::InvalidInput(format!(
                    "unknown fetch option `{name}` (this connector accepts: {OPTION_INCLUDE_REMOVED})"
                )));
            }
        }
    }
    Ok(parsed)
}

impl<T: Transport, S: Sleeper> Connector for DropboxConnector<T, S> {
    fn describe(&self) -> Manifest {
        manifest::manifest()
    }

    /// Both record kinds fetch the same members. The first page is asked
    /// for with `page_size` and `include_removed`; a continuation's cursor
    /// carries both, so they are not sent again.
    fn fetch(&mut self, request: FetchRequest) -> Result<Page, ConnectorError> {
        if !(1..=MAX_PAGE_SIZE).contains(&request.page_size) {
            return Err(ConnectorError::InvalidInput(format!(
                "page-size must be between 1 and {MAX_PAGE_SIZE}, got {}",
                request.page_size
            )));
        }
        let options = fetch_options(&request.options)?;
        if request.cursor.as_deref() == Some("") {
            return Err(ConnectorError::InvalidInput(
                "cursor is empty: pass none for the first page".to_owned(),
            ));
        }
        let result = client::list_members(
            &mut self.transport,
            request.cursor.as_deref(),
            request.page_size,
            options.include_removed,
            request.read_ahead,
        )?;
        let sync_time = request.sync_time.as_str();
        let records = result
            .members
            .into_iter()
            .map(|m| catalog::build_record(m, sync_time))
            .collect();
        Ok(Page {
            records,
            cursor: Some(result.cursor).filter(|c| !c.is_empty()),
            has_more: result.has_more,
        })
    }

    /// The catalog is constant: no manifest is built per page.
    fn field_names(&self) -> Vec<String> {
        FIELD_NAMES.iter().map(|&n| n.to_owned()).collect()
    }

    /// Runs one of [`actions::action_infos`]; see [`actions`].
    fn action(
        &mut self,
        name: &str,
        targets: Vec<UserRef>,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        actions::run(
            &mut self.transport,
            &mut self.sleeper,
            name,
            &targets,
            params,
        )
    }

    /// See [`actions::check`].
    fn check_action(
        &self,
        name: &str,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
        actions::check(name, params)
    }

    /// `team/get_info`'s `num_provisioned_users`: the members a listing
    /// without removed ones returns. With `include_removed` the listing
    /// also returns removed members, which Dropbox does not count: no hint.
    fn count_hint(
        &mut self,
        _kind: RecordKind,
        options: &[(String, Value)],
    ) -> Result<Option<u64>, ConnectorError> {
        if fetch_options(options)?.include_removed {
            return Ok(None);
        }
        client::team_counts(&mut self.transport).map(|c| Some(c.num_provisioned_users))
    }

    /// `team/get_info`'s `num_licensed_users` and `num_provisioned_users`
    /// (the same call as the count hint).
    fn seats(&mut self) -> Result<Option<SeatCounts>, ConnectorError> {
        let counts = client::team_counts(&mut self.transport)?;
        Ok(Some(SeatCounts {
            licensed: Some(counts.num_licensed_users),
            provisioned: Some(counts.num_provisioned_users),
        }))
    }
}

// The component: one connector per call, over the host's HTTP and clock.
#[cfg(target_arch = "wasm32")]
export_connector!(
    DropboxConnector<oomnitza_connector_sdk::WasiTransport, oomnitza_connector_sdk::WasiSleeper>
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::FakeTransport;
    use oomnitza_connector_sdk::types::{self, MapOutcome, RecordKind, RuleSource};

    fn request(
        cursor: Option<&str>,
        page_size: u32,
        options: Vec<(String, Value)>,
    ) -> FetchRequest {
        FetchRequest {
            kind: RecordKind::Users,
            cursor: cursor.map(str::to_owned),
            page_size,
            options,
            sync_time: "2026-03-01T10:00:00Z".to_owned(),
            read_ahead: false,
        }
    }

    fn opt(name: &str, value: Value) -> Vec<(String, Value)> {
        vec![(name.to_owned(), value)]
    }

    const PAGE: &str = r#"{"members":[
        {"profile":{"team_member_id":"dbmid:1","email":"a@x.com","status":"active"}},
        {"profile":{"team_member_id":"dbmid:2","email":"b@x.com","status":{".tag":"removed","is_recoverable":false}}}],
        "cursor":"CUR2","has_more":true}"#;

    #[test]
    fn fetch_first_page() {
        let mut c = DropboxConnector::new(FakeTransport::answering(200, PAGE));
        let page = c
            .fetch(request(
                None,
                500,
                opt("include_removed", Value::Boolean(true)),
            ))
            .expect("page");
        assert_eq!(
            c.transport().requests,
            vec![(
                "https://api.dropboxapi.com/2/team/members/list_v2".to_owned(),
                r#"{"limit":500,"include_removed":true}"#.to_owned()
            )]
        );
        assert_eq!(page.cursor.as_deref(), Some("CUR2"));
        assert!(page.has_more);
        let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["dbmid:1", "dbmid:2"]);
        assert_eq!(
            page.records[0].values[0],
            Value::Timestamp("2026-03-01T10:00:00Z".into())
        );
        assert!(
            page.records
                .iter()
                .all(|r| r.values.len() == FIELD_NAMES.len())
        );
    }

    #[test]
    fn fetch_continues_with_the_cursor() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            200,
            r#"{"members":[],"cursor":"","has_more":false}"#,
        ));
        let page = c.fetch(request(Some("CUR2"), 1000, vec![])).expect("page");
        assert_eq!(
            c.transport().requests,
            vec![(
                "https://api.dropboxapi.com/2/team/members/list/continue_v2".to_owned(),
                r#"{"cursor":"CUR2"}"#.to_owned()
            )]
        );
        assert_eq!(page.records, vec![]);
        assert_eq!(page.cursor, None);
        assert!(!page.has_more);
    }

    #[test]
    fn fetch_defaults_and_null_option() {
        let mut c = DropboxConnector::new(FakeTransport::answering(200, PAGE));
        c.fetch(request(None, 1, opt("include_removed", Value::Null)))
            .expect("page");
        assert_eq!(
            c.transport().requests[0].1,
            r#"{"limit":1,"include_removed":false}"#
        );
    }

    #[test]
    fn fetch_validates_its_request() {
        let mut c = DropboxConnector::new(FakeTransport::default());
        let invalid = |r: Result<Page, ConnectorError>| match r {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        assert_eq!(
            invalid(c.fetch(request(None, 0, vec![]))),
            "page-size must be between 1 and 1000, got 0"
        );
        assert_eq!(
            invalid(c.fetch(request(None, 1001, vec![]))),
            "page-size must be between 1 and 1000, got 1001"
        );
        assert_eq!(
            invalid(c.fetch(request(
                None,
                10,
                opt("include_removed", Value::Text("yes".into()))
            ))),
            "fetch option `include_removed` must be a boolean, not text"
        );
        assert_eq!(
            invalid(c.fetch(request(None, 10, opt("team_folder", Value::Boolean(true))))),
            "unknown fetch option `team_folder` (this connector accepts: include_removed)"
        );
        let twice = vec![
            ("include_removed".to_owned(), Value::Boolean(true)),
            ("include_removed".to_owned(), Value::Boolean(false)),
        ];
        assert_eq!(
            invalid(c.fetch(request(None, 10, twice))),
            "fetch option `include_removed` is given more than once"
        );
        assert_eq!(
            invalid(c.fetch(request(Some(""), 10, vec![]))),
            "cursor is empty: pass none for the first page"
        );
        assert!(c.transport().requests.is_empty(), "nothing was sent");
    }

    #[test]
    fn fetch_passes_vendor_errors_through() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            401,
            r#"{"error_summary":"expired_access_token/","error":{".tag":"expired_access_token"}}"#,
        ));
        assert!(matches!(
            c.fetch(request(None, 10, vec![])),
            Err(ConnectorError::Unauthorized(u)) if u.expired
        ));
    }

    #[test]
    fn actions_run_through_the_trait() {
        let mut c = DropboxConnector::new(FakeTransport::answering(200, "null"));
        let out = c
            .action(
                "deactivate-user",
                vec![UserRef::Email("a@x.com".into())],
                vec![],
            )
            .expect("call");
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Ok(r) if r.status == types::ActionStatus::Done));
        assert_eq!(
            c.transport().requests,
            vec![(
                "https://api.dropboxapi.com/2/team/members/suspend".to_owned(),
                r#"{"user":{".tag":"email","email":"a@x.com"},"wipe_data":false}"#.to_owned()
            )]
        );
        assert!(matches!(
            c.action("deactivate", vec![], vec![]),
            Err(ConnectorError::InvalidInput(m)) if m.starts_with("unknown action `deactivate`")
        ));
        let declared: Vec<String> = c.describe().actions.into_iter().map(|a| a.name).collect();
        assert_eq!(
            declared,
            [
                "deactivate-user",
                "reactivate-user",
                "delete-user",
                "get-user-role",
                "set-user-role"
            ]
        );
    }

    #[test]
    fn check_action_gives_effective_parameters_without_a_call() {
        let c = DropboxConnector::new(FakeTransport::default());
        assert_eq!(
            c.check_action("deactivate-user", vec![]),
            Ok(vec![("wipe-data".to_owned(), Value::Boolean(false))])
        );
        let given = vec![
            (
                "transfer-admin-email".to_owned(),
                Value::Text(" it@x.com ".into()),
            ),
            (
                "transfer-destination-email".to_owned(),
                Value::Text("m@x.com".into()),
            ),
        ];
        assert_eq!(
            c.check_action("delete-user", given),
            Ok(vec![
                ("wipe-data".to_owned(), Value::Boolean(false)),
                (
                    "transfer-destination-email".to_owned(),
                    Value::Text("m@x.com".into())
                ),
                (
                    "transfer-admin-email".to_owned(),
                    Value::Text("it@x.com".into())
                ),
                ("keep-account".to_owned(), Value::Boolean(false)),
                ("retain-team-shares".to_owned(), Value::Boolean(false)),
            ])
        );
        let rule = |params: Vec<(&str, Value)>| match c.check_action(
            "delete-user",
            params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ) {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("expected invalid-input, got {other:?}"),
        };
        assert_eq!(
            rule(vec![
                ("keep-account", Value::Boolean(true)),
                ("wipe-data", Value::Boolean(true))
            ]),
            "keep-account requires wipe-data to be false"
        );
        assert!(
            rule(vec![("retain-team-shares", Value::Boolean(true))])
                .starts_with("retain-team-shares requires")
        );
        assert_eq!(
            rule(vec![(
                "transfer-destination-email",
                Value::Text("m@x.com".into())
            )]),
            "transfer-destination-email requires transfer-admin-email"
        );
        assert!(matches!(
            c.check_action("set-user-role", vec![]),
            Err(ConnectorError::InvalidInput(m)) if m == "parameter `role` is required"
        ));
        assert!(matches!(
            c.check_action("wipe-everything", vec![]),
            Err(ConnectorError::InvalidInput(m)) if m.starts_with("unknown action")
        ));
        assert!(c.transport().requests.is_empty(), "no HTTP call");
    }

    #[test]
    fn count_hint_reads_the_team_size() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            200,
            r#"{"name":"T","team_id":"dbtid:1","num_licensed_users":9,"num_provisioned_users":7,"policies":{}}"#,
        ));
        assert_eq!(c.count_hint(RecordKind::Users, &[]), Ok(Some(7)));
        // Removed members are listed but not counted: no hint, no call.
        let mut c = DropboxConnector::new(FakeTransport::default());
        assert_eq!(
            c.count_hint(
                RecordKind::SaasUsers,
                &opt("include_removed", Value::Boolean(true))
            ),
            Ok(None)
        );
        assert!(c.transport().requests.is_empty());
    }

    #[test]
    fn seats_are_the_licensed_and_provisioned_counts() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            200,
            r#"{"name":"T","team_id":"dbtid:1","num_licensed_users":9,"num_provisioned_users":7,"policies":{}}"#,
        ));
        assert_eq!(
            c.seats(),
            Ok(Some(SeatCounts {
                licensed: Some(9),
                provisioned: Some(7)
            }))
        );
        assert_eq!(c.transport().requests.len(), 1, "one call");
        let mut c = DropboxConnector::new(FakeTransport::answering(
            401,
            r#"{"error_summary":"missing_scope/..","error":{".tag":"missing_scope","required_scope":"team_info.read"}}"#,
        ));
        assert!(matches!(c.seats(), Err(ConnectorError::Unauthorized(_))));
    }

    #[test]
    fn an_expired_cursor_is_cursor_expired_through_fetch_mapped() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            409,
            r#"{"error_summary":"invalid_cursor/...","error":{".tag":"invalid_cursor"}}"#,
        ));
        assert!(matches!(
            c.fetch_mapped(
                request(Some("ZtkX9"), 10, vec![]),
                &catalog::default_mapping()
            ),
            Err(ConnectorError::CursorExpired(_))
        ));
    }

    #[test]
    fn fetch_mapped_is_fetch_then_map() {
        let spec = catalog::default_mapping();
        let mut apart = DropboxConnector::new(FakeTransport::answering(200, PAGE));
        let page = apart.fetch(request(None, 500, vec![])).expect("page");
        let expected = apart.map_records(&spec, page.records).expect("valid");
        let mut together = DropboxConnector::new(FakeTransport::answering(200, PAGE));
        let mapped = together
            .fetch_mapped(request(None, 500, vec![]), &spec)
            .expect("page");
        assert_eq!(mapped.outcomes, expected);
        assert_eq!(
            (mapped.cursor.as_deref(), mapped.has_more),
            (Some("CUR2"), true)
        );
        assert_eq!(together.transport().requests, apart.transport().requests);
    }

    #[test]
    fn fetch_mapped_checks_the_spec_before_any_call() {
        let mut spec = catalog::default_mapping();
        spec.rules[0].source = RuleSource::Field("no_such_field".to_owned());
        let mut c = DropboxConnector::new(FakeTransport::answering(200, PAGE));
        let err = c
            .fetch_mapped(request(None, 500, vec![]), &spec)
            .expect_err("invalid spec");
        assert!(
            matches!(&err, ConnectorError::InvalidInput(m) if m.contains("no_such_field")),
            "{err:?}"
        );
        assert!(c.transport().requests.is_empty(), "no HTTP call");
    }

    #[test]
    fn default_mapping_maps_a_fetched_page() {
        let mut c = DropboxConnector::new(FakeTransport::answering(
            200,
            r#"{"members":[{"profile":{"team_member_id":"dbmid:AAA","email":"Tami@Seagull.com","status":"active",
               "name":{"given_name":"Tami","surname":"Gull"}},"roles":[{"role_id":"pid_dbtmr:1","name":"Team admin"}]},
               {"profile":{"team_member_id":"dbmid:BBB","email":"","status":"invited"}}],
               "cursor":"c","has_more":false}"#,
        ));
        let manifest = c.describe();
        let page = c.fetch(request(None, 10, vec![])).expect("page");
        let out = c
            .map_records(&manifest.default_mapping, page.records)
            .expect("valid");
        let MapOutcome::Mapped(m) = &out[0] else {
            panic!("expected mapped: {:?}", out[0]);
        };
        assert_eq!(m.source_id, "dbmid:AAA");
        let t = |s: &str| Value::Text(s.to_owned());
        let named: Vec<(String, Value)> = manifest
            .default_mapping
            .rules
            .iter()
            .map(|r| r.target.clone())
            .zip(m.values.clone())
            .collect();
        assert_eq!(
            named,
            vec![
                ("USER".to_owned(), t("tami@seagull.com")),
                ("EMAIL".to_owned(), t("tami@seagull.com")),
                ("FIRST_NAME".to_owned(), t("Tami")),
                ("LAST_NAME".to_owned(), t("Gull")),
                ("dropbox_user_id".to_owned(), t("dbmid:AAA")),
                ("dropbox_status".to_owned(), t("active")),
                ("saas.sync_key".to_owned(), t("tami@seagull.com")),
                ("saas.role".to_owned(), t("Team admin")),
            ]
        );
        let MapOutcome::Failed(f) = &out[1] else {
            panic!("expected failed: {:?}", out[1]);
        };
        assert_eq!(
            f.reason,
            "required field USER is empty (source: email); required field EMAIL is empty (source: email)"
        );
        assert_eq!(f.raw.len(), FIELD_NAMES.len());
    }
}
