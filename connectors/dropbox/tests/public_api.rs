//! The rlib's public surface, as a host crate would use it: parse a full
//! 1,000-member page, build records, map them with the default mapping, and
//! print how long each step took (timings are printed, not asserted).

use std::fmt::Write as _;
use std::time::Instant;

use dropbox_connector::DropboxConnector;
use dropbox_connector::catalog::{self, FIELD_NAMES};
use dropbox_connector::wire::{self, MembersListResult};
use oomnitza_connector_sdk::Connector;
use oomnitza_connector_sdk::mapping::{self, CompiledSpec};
use oomnitza_connector_sdk::transport::{HttpResponse, Request, Transport, TransportError};
use oomnitza_connector_sdk::types::{
    Condition, FetchRequest, Filter, FilterEffect, MapOutcome, MappingRule, RecordKind, RuleSource,
    Transform, Value,
};

/// A page of `n` members; every 10th is suspended with two roles, every
/// 50th has no email (so the default mapping fails it).
fn big_page(n: usize) -> String {
    let mut json = String::from(r#"{"members":["#);
    for i in 0..n {
        if i > 0 {
            json.push(',');
        }
        let email = if i % 50 == 49 {
            String::new()
        } else {
            format!("User.{i}@Example.com")
        };
        let (status, roles) = if i % 10 == 0 {
            (
                r#"{".tag":"suspended"}"#,
                r#","roles":[{"role_id":"pid_dbtmr:1","name":"Team admin","description":"all"},{"role_id":"pid_dbtmr:2","name":"Billing admin","description":"bills"}]"#,
            )
        } else {
            (r#"{".tag":"active"}"#, "")
        };
        let _ = write!(
            json,
            r#"{{"profile":{{"team_member_id":"dbmid:{i:08}","account_id":"dbid:A{i}","external_id":"{i}","email":"{email}","email_verified":true,"secondary_emails":[{{"email":"alt{i}@example.org","is_verified":false}}],"status":{status},"name":{{"given_name":"Given{i}","surname":"Sur{i}","familiar_name":"G{i}","display_name":"Given{i} Sur{i}","abbreviated_name":"GS"}},"membership_type":{{".tag":"full"}},"invited_on":"2015-05-11T10:00:00Z","joined_on":"2015-05-12T15:50:38Z","persistent_id":"p{i}","is_directory_restricted":false,"groups":["g:1","g:{i}"],"member_folder_id":"{i}0","root_folder_id":"{i}1"}}{roles}}}"#
        );
    }
    json.push_str(r#"],"cursor":"NEXT","has_more":true}"#);
    json
}

struct Canned(Vec<u8>);

impl Transport for Canned {
    fn send(&mut self, _request: &Request) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status: 200,
            retry_after: None,
            content_type: Some("application/json".into()),
            body: self.0.clone(),
        })
    }
}

#[test]
fn thousand_members_parse_build_and_map() {
    let json = big_page(1000);

    let t = Instant::now();
    let page = wire::parse::<MembersListResult>(json.as_bytes()).expect("page parses");
    let parse_time = t.elapsed();
    assert_eq!(page.members.len(), 1000);

    let t = Instant::now();
    let records: Vec<_> = page
        .members
        .into_iter()
        .map(|m| catalog::build_record(m, "2026-03-01T10:00:00Z"))
        .collect();
    let build_time = t.elapsed();

    let spec = catalog::default_mapping();
    let input = records.clone();
    let t = Instant::now();
    let outcomes = mapping::map_records(&spec, &FIELD_NAMES, input).expect("valid");
    let map_time = t.elapsed();

    // A heavier spec: templates, date formats, lookups, filters.
    let mut heavy = spec.clone();
    heavy.rules.push(MappingRule {
        target: "full_name".into(),
        source: RuleSource::Template("{given_name} {surname}".into()),
        transforms: vec![Transform::UpperCase],
        required: false,
    });
    heavy.rules.push(MappingRule {
        target: "joined".into(),
        source: RuleSource::Field("joined_on".into()),
        transforms: vec![Transform::DateFormat("%d/%m/%Y %H:%M".into())],
        required: false,
    });
    heavy.filters.push(Filter {
        field: "status".into(),
        condition: Condition::OneOf(vec!["active".into()]),
        effect: FilterEffect::Include,
    });
    let t = Instant::now();
    let compiled = CompiledSpec::compile(&heavy, &FIELD_NAMES).expect("valid");
    let heavy_outcomes = compiled.map_records(records);
    let heavy_time = t.elapsed();

    println!(
        "1,000 members: parse {parse_time:?}, build records {build_time:?}, \
         default map {map_time:?}, heavier map {heavy_time:?}"
    );

    let mapped = outcomes
        .iter()
        .filter(|o| matches!(o, MapOutcome::Mapped(_)))
        .count();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, MapOutcome::Failed(_)))
        .count();
    assert_eq!((mapped, failed), (980, 20));
    let MapOutcome::Mapped(first) = &outcomes[1] else {
        panic!("member 1 maps");
    };
    assert_eq!(
        first.values[0],
        Value::Text("user.1@example.com".into()),
        "rule 0 is USER"
    );
    assert_eq!(
        first.values[7],
        Value::Text("Member".into()),
        "rule 7 is saas.role"
    );
    let MapOutcome::Mapped(admin) = &outcomes[10] else {
        panic!("member 10 maps");
    };
    assert_eq!(admin.values[7], Value::Text("Team admin".into()));

    let filtered = heavy_outcomes
        .iter()
        .filter(|o| matches!(o, MapOutcome::Filtered(_)))
        .count();
    assert_eq!(filtered, 100);
    let MapOutcome::Mapped(one) = &heavy_outcomes[1] else {
        panic!("member 1 maps");
    };
    assert_eq!(one.values[8], Value::Text("GIVEN1 SUR1".into()));
    assert_eq!(one.values[9], Value::Text("12/05/2015 15:50".into()));
}

#[test]
fn connector_fetch_then_map_through_the_trait() {
    let mut connector = DropboxConnector::new(Canned(big_page(3).into_bytes()));
    let manifest = connector.describe();
    let page = connector
        .fetch(FetchRequest {
            kind: RecordKind::SaasUsers,
            cursor: None,
            page_size: 1000,
            options: vec![],
            sync_time: "2026-03-01T10:00:00Z".into(),
            read_ahead: false,
        })
        .expect("page");
    assert_eq!(page.records.len(), 3);
    assert_eq!(page.cursor.as_deref(), Some("NEXT"));
    assert!(page.has_more);
    let outcomes = connector
        .map_records(&manifest.default_mapping, page.records)
        .expect("valid");
    assert!(outcomes.iter().all(|o| matches!(o, MapOutcome::Mapped(_))));
}
