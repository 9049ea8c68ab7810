//! Listing members: paging, the member wire shape, bare union tags, the
//! token and argument checks, cursors, overlays and a 100k team.

use std::collections::HashSet;
use std::time::Instant;

use connector_fakes::team::Role;
use connector_fakes::{DropboxConfig, FakeDropbox, MemberStatus, Team, WireStyle};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn pages_a_2501_team_exactly_once() {
    let server = start(2501);
    let (members, pages) = list_all(&server, 1000, true).await;
    assert_eq!(pages, vec![(1000, true), (1000, true), (501, false)]);
    let got = ids(&members);
    let expected: Vec<String> =
        server.with_team(|t| t.members().map(|m| m.team_member_id).collect());
    assert_eq!(got, expected);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 2501);
    let stats = server.stats();
    assert_eq!(stats.pages_served, 3);
    assert_eq!(stats.members_served, 2501);
    assert_eq!(stats.by_status.get(&200), Some(&3));

    // Without include_removed (the default) removed members are left out.
    let (listed, pages) = list_all(&server, 1000, false).await;
    let removed = server.with_team(|t| (0..t.len()).filter(|&i| t.status(i).is_removed()).count());
    assert!(removed > 50);
    assert_eq!(listed.len(), 2501 - removed);
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0], (1000, true));
    assert_eq!(pages[1], (1000, true));
    assert_eq!(pages[2], (2501 - removed - 2000, false));
    assert!(
        listed
            .iter()
            .all(|m| m["profile"]["status"][".tag"] != "removed")
    );
    assert_eq!(
        ids(&listed).iter().collect::<HashSet<_>>().len(),
        listed.len()
    );
}

#[tokio::test]
async fn default_limit_and_cursor_remembers_flags() {
    let server = start(1500);
    // `{}` takes the defaults: limit 1000, include_removed false.
    let page = post(&server, LIST, json!({})).await.json();
    assert_eq!(page["members"].as_array().unwrap().len(), 1000);
    assert_eq!(page["has_more"], true);

    // include_removed and limit carry over through the cursor.
    let first = post(&server, LIST, json!({"limit": 4, "include_removed": true}))
        .await
        .json();
    let statuses: Vec<&str> = first["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["profile"]["status"][".tag"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "invited", "suspended", "removed"]);
    let second = post(&server, CONTINUE, json!({"cursor": first["cursor"]}))
        .await
        .json();
    let second = second["members"].as_array().unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(second[1]["profile"]["status"][".tag"], "removed");
    assert_eq!(
        second[1]["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": true})
    );

    let plain = post(&server, LIST, json!({"limit": 4})).await.json();
    let plain_ids = ids(plain["members"].as_array().unwrap());
    let expected: Vec<String> = server.with_team(|t| {
        [0, 1, 2, 4]
            .iter()
            .map(|&i| t.member(i).team_member_id)
            .collect()
    });
    assert_eq!(plain_ids, expected);
}

#[tokio::test]
async fn member_wire_shape() {
    let server = start(200);
    let page = post(
        &server,
        LIST,
        json!({"limit": 200, "include_removed": true}),
    )
    .await
    .json();
    let members = page["members"].as_array().unwrap();
    for m in members {
        let p = &m["profile"];
        assert!(
            p["team_member_id"]
                .as_str()
                .unwrap()
                .starts_with("dbmid:AA")
        );
        assert!(p["email"].as_str().unwrap().contains('@'));
        assert!(p["email_verified"].is_boolean());
        assert!(p["name"]["display_name"].is_string());
        assert!(p["name"]["abbreviated_name"].is_string());
        assert!(p["groups"].is_array());
        assert!(
            p["member_folder_id"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .is_ok()
        );
        assert!(p["root_folder_id"].as_str().unwrap().parse::<u64>().is_ok());
        let tag = p["status"][".tag"].as_str().unwrap();
        assert!(["active", "invited", "suspended", "removed"].contains(&tag));
        assert!(["full", "limited"].contains(&p["membership_type"][".tag"].as_str().unwrap()));
        for ts in ["invited_on", "joined_on", "suspended_on"] {
            if let Some(v) = p.get(ts) {
                let s = v.as_str().unwrap();
                assert_eq!(s.len(), 20, "{s}");
                assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T');
            }
        }
        if tag == "invited" {
            assert!(p.get("account_id").is_none() && p.get("joined_on").is_none());
        } else {
            assert!(p["account_id"].as_str().unwrap().starts_with("dbid:"));
        }
        assert!(m["roles"].is_array());
    }
    let admin = &members[0];
    assert_eq!(
        admin["roles"],
        json!([{
            "role_id": Role::team_admin().role_id,
            "name": "Team admin",
            "description": Role::team_admin().description,
        }])
    );
}

#[tokio::test]
async fn bare_union_tags_and_unknown_fields() {
    let mut config = DropboxConfig::new(Team::generate(3000, 9), TOKEN);
    config.style = WireStyle {
        bare_union_tags: true,
        unknown_fields: true,
    };
    let server = FakeDropbox::start(config).unwrap();
    let (members, _) = list_all(&server, 1000, true).await;
    assert_eq!(members.len(), 3000);
    assert_eq!(members[0]["profile"]["status"], "active");
    assert_eq!(members[0]["profile"]["membership_type"], "full");
    assert_eq!(members[0]["profile"]["future_field"], json!({"x": 1}));
    // Removed keeps its payload, so it stays an object.
    assert_eq!(members[3]["profile"]["status"][".tag"], "removed");
    let unknown = members
        .iter()
        .filter(|m| m["profile"]["status"] == "pending_verification")
        .count();
    assert!((10..=60).contains(&unknown), "{unknown}");
    let page = post(&server, LIST, json!({"limit": 1})).await.json();
    assert_eq!(page["future_field"], json!({"x": 1}));
}

#[tokio::test]
async fn rejects_bad_or_missing_tokens() {
    let server = start(10);
    for auth in [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("bearer {TOKEN}")),
        Some(TOKEN.to_string()),
    ] {
        let a = post_raw(
            &server,
            LIST,
            auth.as_deref(),
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(a.status, 401, "{auth:?}");
        assert_eq!(a.content_type, "application/json");
        assert_eq!(a.error_tag(), "invalid_access_token");
    }
    // Rotation: the old token stops working, the new one works.
    server.set_access_token("sl.rotated");
    assert_eq!(post(&server, LIST, json!({})).await.status, 401);
    let a = post_raw(
        &server,
        LIST,
        Some("Bearer sl.rotated"),
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(a.status, 200);
    let recorded = server.requests();
    assert_eq!(recorded.len(), 6);
    assert_eq!(
        recorded[5].authorization.as_deref(),
        Some("Bearer sl.rotated")
    );
    assert_eq!(recorded[5].path, LIST);
    assert_eq!(recorded[5].body, "{}");
    assert_eq!(recorded[5].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn rejects_bad_arguments_with_plain_text_400() {
    let server = start(10);
    let cases: Vec<(&str, &str, &str)> = vec![
        (LIST, r#"{"limit": 0}"#, "limit"),
        (LIST, r#"{"limit": 1001}"#, "limit"),
        (LIST, r#"{"limit": "x"}"#, "limit"),
        (LIST, r#"{"limit": -1}"#, "limit"),
        (LIST, r#"{"limit": 1.5}"#, "limit"),
        (LIST, r#"{"limit": null}"#, "limit"),
        (LIST, r#"{"include_removed": "yes"}"#, "include_removed"),
        (LIST, r#"{"limit": 10, "page_size": 5}"#, "page_size"),
        (LIST, "null", "expected object"),
        (LIST, "", "could not decode input as JSON"),
        (LIST, "{limit: 5}", "could not decode input as JSON"),
        (CONTINUE, "{}", "cursor"),
        (CONTINUE, r#"{"cursor": 5}"#, "cursor"),
        (CONTINUE, r#"{"cursor": "abc", "limit": 5}"#, "limit"),
    ];
    for (path, body, needle) in cases {
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(
            a.content_type.starts_with("text/plain"),
            "{}",
            a.content_type
        );
        let function = path.trim_start_matches("/2/");
        assert!(
            a.body
                .starts_with(&format!("Error in call to API function \"{function}\": ")),
            "{}",
            a.body
        );
        assert!(a.body.contains(needle), "{body}: {}", a.body);
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let a = post_raw(&server, LIST, Some(&format!("Bearer {TOKEN}")), ct, "{}").await;
        assert_eq!(a.status, 400);
        assert!(a.body.contains("Content-Type"), "{}", a.body);
    }
    let a = post_raw(
        &server,
        LIST,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json; charset=utf-8"),
        r#"{"limit": 1000}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    // Unknown routes and wrong methods.
    let a = post(&server, "/2/team/members/list", json!({})).await;
    assert_eq!(a.status, 404);
    let resp = reqwest::get(format!("{}{LIST}", server.url()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn rejects_forged_tampered_and_foreign_cursors() {
    let server = start(50);
    let other = start(50);
    let page = post(&server, LIST, json!({"limit": 5})).await.json();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    assert!(
        post(&server, CONTINUE, json!({ "cursor": cursor }))
            .await
            .status
            == 200
    );

    let mut tampered: Vec<char> = cursor.chars().collect();
    tampered[12] = if tampered[12] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let foreign = post(&other, LIST, json!({"limit": 5})).await.json()["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    for bad in [
        "",
        "ZtkX9",
        "not a cursor!",
        &tampered,
        &foreign,
        &format!("{cursor}AA"),
    ] {
        let a = post(&server, CONTINUE, json!({ "cursor": bad })).await;
        assert_eq!(a.status, 409, "{bad}: {}", a.body);
        assert_eq!(a.error_tag(), "invalid_cursor");
    }
}

#[tokio::test]
async fn overlay_changes_are_served() {
    let server = start(20);
    let mut m = server.with_team(|t| t.member(10));
    assert_eq!(m.status, MemberStatus::Active);
    m.status = MemberStatus::Removed {
        is_recoverable: true,
        is_disconnected: false,
    };
    server.update_team(|t| t.set_member(10, m.clone()));
    let (listed, _) = list_all(&server, 1000, false).await;
    assert!(!ids(&listed).contains(&m.team_member_id));
    let (all, _) = list_all(&server, 1000, true).await;
    assert_eq!(all[10]["profile"]["status"][".tag"], "removed");
}

#[tokio::test]
async fn serves_a_100k_team_quickly() {
    let server = start(100_000);
    let t = Instant::now();
    let (members, pages) = list_all(&server, 1000, true).await;
    let elapsed = t.elapsed();
    assert_eq!(members.len(), 100_000);
    assert_eq!(pages.len(), 100);
    assert!(pages[..99].iter().all(|&(n, more)| n == 1000 && more));
    assert_eq!(pages[99], (1000, false));
    let unique: HashSet<&str> = members
        .iter()
        .map(|m| m["profile"]["team_member_id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 100_000);
    let emails: HashSet<&str> = members
        .iter()
        .map(|m| m["profile"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 100_000);
    println!(
        "100 pages of 1000 over HTTP (client parsing included): {elapsed:?}, {:?} a page",
        elapsed / 100
    );
}
