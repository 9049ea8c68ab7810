//! Mapping through the component: every field against its source,
//! transforms, filters, required rules and failed records.

use std::collections::BTreeMap;

use connector_fakes::{MemberStatus, Team};

use crate::support::World;

/// A mapping that copies every catalog field into a custom field.
const EVERY_FIELD: &str = r#"
[mapping]
sync_key = ["EMAIL"]
[[mapping.rules]]
target = "USER"
field = "email"
required = true
[[mapping.rules]]
target = "EMAIL"
field = "email"
transforms = ["lower-case"]
required = true
[[mapping.rules]]
target = "PERMISSIONS_ID"
constant = 25
[[mapping.rules]]
target = "FIRST_NAME"
field = "given_name"
[[mapping.rules]]
target = "LAST_NAME"
field = "surname"
[[mapping.rules]]
target = "full_name"
field = "display_name"
[[mapping.rules]]
target = "dropbox_user_id"
field = "team_member_id"
[[mapping.rules]]
target = "dropbox_account_id"
field = "account_id"
[[mapping.rules]]
target = "external_id"
field = "external_id"
[[mapping.rules]]
target = "status"
field = "status"
[[mapping.rules]]
target = "membership"
field = "membership_type"
[[mapping.rules]]
target = "joined"
field = "joined_on"
[[mapping.rules]]
target = "joined_day"
field = "joined_on"
transforms = [{ date-format = "%d/%m/%Y" }]
[[mapping.rules]]
target = "invited"
field = "invited_on"
[[mapping.rules]]
target = "suspended"
field = "suspended_on"
[[mapping.rules]]
target = "verified"
field = "email_verified"
[[mapping.rules]]
target = "groups"
field = "groups"
transforms = [{ join = ";" }]
[[mapping.rules]]
target = "roles"
field = "role_names"
[[mapping.rules]]
target = "role"
field = "role"
[[mapping.rules]]
target = "domain"
field = "email"
transforms = [{ split = { separator = "@", index = -1 } }]
[[mapping.rules]]
target = "greeting"
template = "{given_name} {surname} <{email}>"
[[mapping.rules]]
target = "synced_at"
field = "connector_sync_time"
[[mapping.rules]]
target = "kind"
field = "membership_type"
transforms = [{ lookup = { full = "Full seat", limited = "Limited seat" } }]
"#;

fn opt(s: &Option<String>) -> serde_json::Value {
    s.as_ref()
        .map_or(serde_json::Value::Null, |v| v.as_str().into())
}

#[test]
fn every_mapped_field_matches_its_source() {
    let mut world = World::new(80);
    world.append(EVERY_FIELD);
    world.run(&["sync"]).assert_ok();
    let team = Team::generate(80, 42);
    let mut statuses = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for m in team.members() {
        let u = world.oomnitza.user_by("EMAIL", &m.email).expect("held");
        assert_eq!(u["USER"], m.email.as_str());
        assert_eq!(u["PERMISSIONS_ID"], 25);
        assert_eq!(u["FIRST_NAME"], m.name.given_name.as_str());
        assert_eq!(u["LAST_NAME"], m.name.surname.as_str());
        assert_eq!(u["full_name"], m.name.display_name.as_str());
        assert_eq!(u["dropbox_user_id"], m.team_member_id.as_str());
        assert_eq!(u["dropbox_account_id"], opt(&m.account_id));
        assert_eq!(u["external_id"], opt(&m.external_id));
        assert_eq!(u["status"], m.status.tag());
        assert_eq!(u["membership"], m.membership_type.tag());
        assert_eq!(u["joined"], opt(&m.joined_on));
        assert_eq!(u["invited"], opt(&m.invited_on));
        assert_eq!(u["suspended"], opt(&m.suspended_on));
        assert_eq!(u["verified"], m.email_verified);
        assert_eq!(u["groups"], m.groups.join(";"));
        let roles: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(u["roles"], serde_json::json!(roles));
        assert_eq!(u["role"], roles.first().copied().unwrap_or("Member"));
        assert_eq!(u["domain"], m.email.rsplit('@').next().unwrap());
        assert_eq!(
            u["greeting"],
            format!("{} {} <{}>", m.name.given_name, m.name.surname, m.email)
        );
        assert!(u["synced_at"].as_str().unwrap().ends_with('Z'));
        let want_kind = if m.membership_type.tag() == "full" {
            "Full seat"
        } else {
            "Limited seat"
        };
        assert_eq!(u["kind"], want_kind);
        match &m.joined_on {
            Some(j) => {
                let (y, mo, d) = (&j[0..4], &j[5..7], &j[8..10]);
                assert_eq!(u["joined_day"], format!("{d}/{mo}/{y}"));
            }
            None => assert!(u["joined_day"].is_null()),
        }
        *statuses.entry(m.status.tag()).or_insert(0) += 1;
        *kinds.entry(m.membership_type.tag()).or_insert(0) += 1;
    }
    for s in ["active", "invited", "suspended", "removed"] {
        assert!(
            statuses.contains_key(s),
            "team covers status {s}: {statuses:?}"
        );
    }
    for k in ["full", "limited"] {
        assert!(kinds.contains_key(k), "team covers membership {k}");
    }
}

#[test]
fn filters_include_and_exclude_records() {
    let mut world = World::new(300);
    world.append(
        r#"
[mapping]
sync_key = ["EMAIL"]
[[mapping.rules]]
target = "USER"
field = "email"
[[mapping.rules]]
target = "EMAIL"
field = "email"
[[mapping.rules]]
target = "PERMISSIONS_ID"
constant = 25
[[mapping.filters]]
field = "status"
effect = "include"
one_of = ["active", "suspended"]
[[mapping.filters]]
field = "membership_type"
effect = "exclude"
one_of = ["limited"]
"#,
    );
    let run = world.run(&["sync"]);
    run.assert_ok();
    let team = Team::generate(300, 42);
    let kept = team
        .members()
        .filter(|m| matches!(m.status, MemberStatus::Active | MemberStatus::Suspended))
        .filter(|m| m.membership_type.tag() != "limited")
        .count();
    assert!(kept > 0 && kept < 300);
    assert_eq!(world.oomnitza.user_count(), kept);
    assert!(
        run.stderr
            .contains(&format!("filtered out   {}\n", 300 - kept)),
        "{}",
        run.stderr
    );
}

#[test]
fn records_failing_a_required_rule_are_sent_raw_with_the_reason() {
    let mut world = World::new(120);
    world.append(
        r#"
[mapping]
sync_key = ["EMAIL"]
[[mapping.rules]]
target = "USER"
field = "email"
[[mapping.rules]]
target = "EMAIL"
field = "email"
[[mapping.rules]]
target = "PERMISSIONS_ID"
constant = 25
[[mapping.rules]]
target = "dropbox_status"
field = "status"
[[mapping.rules]]
target = "external_id"
field = "external_id"
required = true
"#,
    );
    let run = world.run(&["sync"]);
    run.assert_ok();
    let team = Team::generate(120, 42);
    let missing = team.members().filter(|m| m.external_id.is_none()).count();
    assert!(missing > 0, "some members lack an external id");
    let p = world.oomnitza.portions().pop().unwrap();
    assert_eq!(p.records, 120, "failed records are still sent");
    assert_eq!(p.failed, missing);
    assert!(
        p.errors.iter().any(|e| e.contains("external_id")),
        "{:?}",
        p.errors
    );
    assert_eq!(world.oomnitza.user_count(), 120 - missing);
    assert!(
        run.stderr.contains(&format!("failed         {missing}\n")),
        "{}",
        run.stderr
    );
}
