//! The same pipeline through the library API, for what the binary's
//! output cannot show: typed reports, the manifest, raw component calls.

use oomnitza_connect::bindings::{
    ConnectorError, FetchRequest, MapOutcome, MappingRule, RecordKind, RuleSource, Value,
};
use oomnitza_connect::config::Config;
use oomnitza_connect::integration::Integration;
use oomnitza_connect::sync::{self, SyncOptions};

use crate::support::World;

async fn prepare(world: &World) -> Integration {
    let config = Config::load(&world.write_config()).expect("config loads");
    Integration::prepare(config)
        .await
        .expect("integration prepares")
}

#[tokio::test(flavor = "multi_thread")]
async fn library_sync_reports_every_count() {
    let world = World::new(1234);
    let integration = prepare(&world).await;
    let report = sync::run(&integration, &SyncOptions::default())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.error);
    assert_eq!(
        (report.pages, report.fetched, report.mapped),
        (2, 1234, 1234)
    );
    assert_eq!((report.failed, report.filtered), (0, 0));
    assert_eq!(
        (report.sent, report.batches, report.created),
        (1234, 13, 1234)
    );
    // Two pages, then the seats (team/get_info).
    assert_eq!(
        (report.requests, report.denied, report.vendor_retries),
        (3, 0, 0)
    );
    assert_eq!(world.oomnitza.user_count(), 1234);
}

#[tokio::test(flavor = "multi_thread")]
async fn fetched_values_are_positional_to_the_catalog() {
    let world = World::new(30);
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    let fields = &integration.manifest.fields;
    let col = |name: &str| fields.iter().position(|f| f.name == name).unwrap();
    let page = inst
        .fetch(&FetchRequest {
            kind: RecordKind::Users,
            cursor: None,
            page_size: 10,
            options: vec![("include_removed".into(), Value::Boolean(true))],
            sync_time: "2026-11-27T00:00:00Z".into(),
            read_ahead: false,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.records.len(), 10);
    assert!(page.has_more && page.cursor.is_some());
    let team = world
        .dropbox
        .with_team(|t| t.members().take(10).collect::<Vec<_>>());
    for (r, m) in page.records.iter().zip(&team) {
        assert_eq!(r.id, m.team_member_id);
        assert_eq!(r.values.len(), fields.len());
        assert_eq!(r.values[col("email")], Value::Text(m.email.clone()));
        assert_eq!(r.values[col("status")], Value::Text(m.status.tag().into()));
        assert_eq!(
            r.values[col("connector_sync_time")],
            Value::Timestamp("2026-11-27T00:00:00Z".into())
        );
    }
    // Unique fields are flagged for sync keys.
    assert!(fields.iter().any(|f| f.name == "email" && f.unique));
    assert!(fields.iter().any(|f| f.name == "given_name" && !f.unique));

    // Mapping the page with the smart mapping: one outcome per record.
    let out = inst
        .map(&integration.spec, &page.records)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|o| matches!(o, MapOutcome::Mapped(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_spec_fails_the_whole_call_naming_the_rule() {
    let world = World::new(3);
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    let mut spec = integration.spec.clone();
    spec.rules.push(MappingRule {
        target: "nickname".into(),
        source: RuleSource::Field("nick".into()),
        transforms: vec![],
        required: false,
    });
    match inst.map(&spec, &[]).await.unwrap() {
        Err(ConnectorError::InvalidInput(m)) => assert!(m.contains("nick"), "{m}"),
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_page_size_is_invalid_input() {
    let world = World::new(3);
    let integration = prepare(&world).await;
    let mut inst = integration.instance().await.unwrap();
    let req = FetchRequest {
        kind: RecordKind::Users,
        cursor: None,
        page_size: 5000,
        options: vec![],
        sync_time: "2026-11-27T00:00:00Z".into(),
        read_ahead: false,
    };
    match inst.fetch(&req).await.unwrap() {
        Err(ConnectorError::InvalidInput(m)) => assert!(m.contains("1000"), "{m}"),
        other => panic!("expected invalid-input, got {other:?}"),
    }
    assert_eq!(world.dropbox.stats().requests, 0);
}
