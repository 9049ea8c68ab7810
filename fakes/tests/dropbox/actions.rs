//! Member actions other than removal: suspend and unsuspend, the last-admin
//! rules and admin roles, get_info_v2, the action routes' checks, snapshots,
//! team/get_info, and another team's account. The team is
//! [`start_actions`]'s.

use std::time::Duration;

use connector_fakes::team::Role;
use connector_fakes::{DropboxConfig, DropboxFault, FakeDropbox, MemberStatus, Team, WireStyle};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn suspend_and_unsuspend_change_the_listed_state() {
    let server = start_actions(|_| {});
    let m4 = member(&server, 4);
    let before = now_timestamp();
    // Email matches case-insensitively; the answer is `null`.
    let a = post(
        &server,
        SUSPEND,
        json!({"user": {".tag": "email", "email": m4.email.to_uppercase()}}),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "null"));
    let after = now_timestamp();
    let profile = listed(&server, 4).await["profile"].clone();
    assert_eq!(profile["status"], json!({".tag": "suspended"}));
    let suspended_on = profile["suspended_on"].as_str().unwrap();
    assert!(
        before.as_str() <= suspended_on && suspended_on <= after.as_str(),
        "{suspended_on}"
    );
    assert_eq!(
        server.member_by_email(&m4.email).unwrap().status,
        MemberStatus::Suspended
    );

    // Twice: the member is no longer active.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_id(&server, 4)})).await,
        "suspend_inactive_user"
    );
    let a = post(&server, UNSUSPEND, json!({"user": by_id(&server, 4)})).await;
    assert_eq!((a.status, a.body.as_str()), (200, "null"));
    let profile = listed(&server, 4).await["profile"].clone();
    assert_eq!(profile["status"], json!({".tag": "active"}));
    assert!(profile.get("suspended_on").is_none());
    assert_eq!(
        conflict(&server, UNSUSPEND, json!({"user": by_id(&server, 4)})).await,
        "unsuspend_non_suspended_member"
    );

    // wipe_data defaults to true and is logged as sent otherwise.
    ok(
        &server,
        SUSPEND,
        json!({"user": by_email(&server, 4), "wipe_data": false}),
    )
    .await;
    // By external id.
    let (k, external) = server.with_team(|t| {
        (0..t.len())
            .filter(|&i| t.status(i) == MemberStatus::Active && i != 0)
            .find_map(|i| t.member(i).external_id.map(|x| (i, x)))
            .unwrap()
    });
    ok(
        &server,
        SUSPEND,
        json!({"user": {".tag": "external_id", "external_id": external}}),
    )
    .await;
    assert_eq!(member(&server, k).status, MemberStatus::Suspended);

    // Everyone else who cannot be (un)suspended.
    let cases = [
        (SUSPEND, by_email(&server, 1), "suspend_inactive_user"),
        (SUSPEND, by_email(&server, 2), "suspend_inactive_user"),
        (SUSPEND, by_email(&server, 3), "user_not_in_team"),
        (SUSPEND, by_id(&server, 5), "user_not_in_team"),
        (SUSPEND, nobody(), "user_not_found"),
        (
            SUSPEND,
            json!({".tag": "team_member_id", "team_member_id": "dbmid:AAnope"}),
            "user_not_found",
        ),
        (
            SUSPEND,
            json!({".tag": "external_id", "external_id": "1"}),
            "user_not_found",
        ),
        (
            UNSUSPEND,
            by_email(&server, 0),
            "unsuspend_non_suspended_member",
        ),
        (
            UNSUSPEND,
            by_email(&server, 1),
            "unsuspend_non_suspended_member",
        ),
        (UNSUSPEND, by_email(&server, 3), "user_not_in_team"),
        (UNSUSPEND, nobody(), "user_not_found"),
    ];
    for (path, user, tag) in &cases {
        assert_eq!(
            conflict(&server, path, json!({ "user": user })).await,
            *tag,
            "{path} {user}"
        );
    }

    let log = server.action_log();
    assert_eq!(log.len(), 6 + cases.len());
    assert_eq!(log[0].route, "team/members/suspend");
    assert_eq!(
        log[0].team_member_id.as_deref(),
        Some(m4.team_member_id.as_str())
    );
    assert_eq!(log[0].outcome, "success");
    assert_eq!(log[0].args["wipe_data"], true);
    assert_eq!(log[0].args["user"][".tag"], "email");
    assert_eq!(log[1].outcome, "suspend_inactive_user");
    assert_eq!(log[2].route, "team/members/unsuspend");
    assert_eq!(log[2].args, json!({"user": by_id(&server, 4)}));
    assert_eq!(log[4].args["wipe_data"], false);
    let not_found = &log[6 + 4];
    assert_eq!(not_found.outcome, "user_not_found");
    assert_eq!(not_found.team_member_id, None);
    assert_eq!(
        log[6 + 2].team_member_id,
        Some(member(&server, 3).team_member_id)
    );
}

#[tokio::test]
async fn suspend_uses_the_fakes_clock() {
    let server = start_actions(|_| {});
    server.advance_clock(Duration::from_secs(400 * 86_400));
    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let suspended_on = member(&server, 4).suspended_on.unwrap();
    assert!(suspended_on > now_timestamp(), "{suspended_on}");
}

#[tokio::test]
async fn last_admin_rules_and_admin_roles() {
    let server = start_actions(|_| {});
    let team_admin = Role::team_admin().role_id;
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 0)})).await,
        "suspend_last_admin"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 0)})).await,
        "remove_last_admin"
    );
    assert_eq!(
        conflict(
            &server,
            SET_ROLES,
            json!({"user": by_email(&server, 0), "new_roles": []})
        )
        .await,
        "last_admin"
    );
    // Keeping the Team admin role is fine.
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_email(&server, 0), "new_roles": [team_admin]}),
    )
    .await;
    assert_eq!(v["roles"][0]["role_id"], team_admin);

    // A second Team admin lets the first go.
    let m6 = member(&server, 6);
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_id(&server, 6), "new_roles": [team_admin]}),
    )
    .await;
    assert_eq!(
        v,
        json!({
            "team_member_id": m6.team_member_id,
            "roles": [{
                "role_id": team_admin,
                "name": "Team admin",
                "description": Role::team_admin().description,
            }],
        })
    );
    assert_eq!(listed(&server, 6).await["roles"], v["roles"]);
    ok(&server, SUSPEND, json!({"user": by_email(&server, 0)})).await;
    // Now 6 is the only active one; a suspended admin does not count.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 6)})).await,
        "suspend_last_admin"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 6)})).await,
        "remove_last_admin"
    );
    let support = Role::support_admin().role_id;
    assert_eq!(
        conflict(
            &server,
            SET_ROLES,
            json!({"user": by_email(&server, 6), "new_roles": [support]})
        )
        .await,
        "last_admin"
    );
    ok(&server, UNSUSPEND, json!({"user": by_email(&server, 0)})).await;
    let v = ok(
        &server,
        SET_ROLES,
        json!({"user": by_email(&server, 6), "new_roles": []}),
    )
    .await;
    assert_eq!(v["roles"], json!([]));
    assert_eq!(listed(&server, 6).await["roles"], json!([]));
    // A missing or null new_roles is an empty list too.
    let v = ok(&server, SET_ROLES, json!({"user": by_email(&server, 7)})).await;
    assert_eq!(v["roles"], json!([]));

    for (user, roles, tag) in [
        (
            by_email(&server, 8),
            json!(["pid_dbtmr:9999"]),
            "role_not_found",
        ),
        (nobody(), json!([]), "user_not_found"),
        (by_email(&server, 3), json!([]), "user_not_in_team"),
        (
            by_email(&server, 2),
            json!([support]),
            "cannot_set_permissions",
        ),
        (
            by_email(&server, 1),
            json!([support]),
            "cannot_set_permissions",
        ),
    ] {
        assert_eq!(
            conflict(
                &server,
                SET_ROLES,
                json!({"user": user, "new_roles": roles})
            )
            .await,
            tag
        );
    }
    let log = server.action_log();
    assert!(
        log.iter()
            .filter(|r| r.route == "team/members/set_admin_permissions_v2")
            .count()
            >= 9
    );
    assert_eq!(log.last().unwrap().outcome, "cannot_set_permissions");

    let roles = ok(&server, ROLES, Value::Null).await;
    let expected: Vec<Value> = Role::standard()
        .iter()
        .map(|r| json!({"role_id": r.role_id, "name": r.name, "description": r.description}))
        .collect();
    assert_eq!(roles, json!({ "roles": expected }));
    assert_eq!(roles["roles"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn bare_union_tags_in_action_answers() {
    let server = start_actions(|c| {
        c.remove_async_polls = 1;
        c.style = WireStyle {
            bare_union_tags: true,
            unknown_fields: false,
        };
    });
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 4)})).await;
    let poll = json!({"async_job_id": v["async_job_id"]});
    assert_eq!(ok(&server, JOB_STATUS, poll.clone()).await, "in_progress");
    assert_eq!(ok(&server, JOB_STATUS, poll).await, "complete");
    server.set_remove_async_polls(0);
    assert_eq!(
        ok(&server, REMOVE, json!({"user": by_email(&server, 7)})).await,
        "complete"
    );
    let info = ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 0)]}),
    )
    .await;
    assert_eq!(info["members_info"][0]["profile"]["status"], "active");
}

#[tokio::test]
async fn get_info_mixes_found_and_not_found() {
    let server = start_actions(|_| {});
    let (x, external) = server.with_team(|t| {
        (0..t.len())
            .find_map(|i| t.member(i).external_id.map(|x| (i, x)))
            .unwrap()
    });
    let m0 = member(&server, 0);
    let selectors = json!([
        {".tag": "email", "email": m0.email.to_uppercase()},
        {".tag": "team_member_id", "team_member_id": member(&server, 3).team_member_id},
        {".tag": "email", "email": "Nobody@Example.com"},
        {".tag": "external_id", "external_id": external},
        {".tag": "team_member_id", "team_member_id": "dbmid:AAbogus"},
        {".tag": "external_id", "external_id": "1"},
    ]);
    let v = ok(&server, GET_INFO, json!({ "members": selectors })).await;
    let info = v["members_info"].as_array().unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(info.len(), 6);
    let page = ok(&server, LIST, json!({"include_removed": true})).await;
    for (k, i) in [(0, 0), (1, 3), (3, x)] {
        let mut expected = page["members"][i].clone();
        expected[".tag"] = json!("member_info");
        assert_eq!(info[k], expected, "{k}");
    }
    // Removed members are found, status removed.
    assert_eq!(info[1]["profile"]["status"][".tag"], "removed");
    assert_eq!(
        info[2],
        json!({".tag": "id_not_found", "id_not_found": "Nobody@Example.com"})
    );
    assert_eq!(
        info[4],
        json!({".tag": "id_not_found", "id_not_found": "dbmid:AAbogus"})
    );
    assert_eq!(
        info[5],
        json!({".tag": "id_not_found", "id_not_found": "1"})
    );
    // Changes show at once; an empty list gives an empty answer.
    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let v = ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 4)]}),
    )
    .await;
    assert_eq!(
        v["members_info"][0]["profile"]["status"],
        json!({".tag": "suspended"})
    );
    assert_eq!(
        ok(&server, GET_INFO, json!({"members": []})).await,
        json!({"members_info": []})
    );
    // Reads are not actions.
    assert_eq!(server.action_log().len(), 1);
}

#[tokio::test]
async fn action_routes_check_auth_content_type_and_arguments() {
    let server = start_actions(|_| {});
    let user = by_email(&server, 4);
    let cases: Vec<(&str, String, &str)> = vec![
        (SUSPEND, "{}".into(), "missing required field 'user'"),
        (SUSPEND, json!({"user": user, "x": 1}).to_string(), "unknown field 'x'"),
        (SUSPEND, json!({"user": user, "wipe_data": "yes"}).to_string(), "wipe_data: expected boolean"),
        (SUSPEND, json!({"user": user, "wipe_data": null}).to_string(), "wipe_data: expected boolean, got null"),
        (SUSPEND, json!({"user": "email"}).to_string(), "user: tag 'email' requires a value"),
        (SUSPEND, json!({"user": {".tag": "account_id", "account_id": "x"}}).to_string(), "unknown tag 'account_id'"),
        (SUSPEND, json!({"user": {"email": "a@b.co"}}).to_string(), "missing '.tag'"),
        (SUSPEND, json!({"user": {".tag": "email", "email": "not-an-email"}}).to_string(), "not a valid email"),
        (SUSPEND, json!({"user": {".tag": "external_id", "external_id": "7".repeat(65)}}).to_string(), "64"),
        (SUSPEND, "[]".into(), "expected object"),
        (SUSPEND, "{".into(), "could not decode input as JSON"),
        (UNSUSPEND, json!({"user": user, "wipe_data": true}).to_string(), "unknown field 'wipe_data'"),
        (REMOVE, json!({"user": user, "transfer_dest_id": 5}).to_string(), "transfer_dest_id: expected object"),
        (REMOVE, json!({"user": user, "keep_account": 1}).to_string(), "keep_account: expected boolean"),
        (REMOVE, json!({"user": user, "transfer": true}).to_string(), "unknown field 'transfer'"),
        (JOB_STATUS, "{}".into(), "missing required field 'async_job_id'"),
        (JOB_STATUS, json!({"async_job_id": ""}).to_string(), "async_job_id"),
        (JOB_STATUS, json!({"async_job_id": 5}).to_string(), "expected string"),
        (GET_INFO, json!({"members": user}).to_string(), "members: expected list"),
        (GET_INFO, json!({"members": [user, 5]}).to_string(), "members: [1]: expected object"),
        (GET_INFO, "{}".into(), "missing required field 'members'"),
        (ROLES, "{}".into(), "expected null, got object"),
        (ROLES, "".into(), "could not decode input as JSON"),
        (
            SET_ROLES,
            json!({"user": user, "new_roles": [Role::team_admin().role_id, Role::support_admin().role_id]}).to_string(),
            "more than the maximum of 1",
        ),
        (SET_ROLES, json!({"user": user, "new_roles": ["team_admin"]}).to_string(), "pattern"),
        (SET_ROLES, json!({"user": user, "new_roles": "pid_dbtmr:3451"}).to_string(), "expected list"),
        (SET_ROLES, json!({"user": user, "new_role": "team_admin"}).to_string(), "unknown field 'new_role'"),
    ];
    for (path, body, needle) in &cases {
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.body);
        assert!(a.content_type.starts_with("text/plain"));
        let function = path.trim_start_matches("/2/");
        assert!(
            a.body.starts_with(&format!(
                "Error in call to API function \"{function}\": request body: "
            )),
            "{}",
            a.body
        );
        assert!(a.body.contains(needle), "{path} {body}: {}", a.body);
    }
    for path in [
        SUSPEND, UNSUSPEND, REMOVE, JOB_STATUS, GET_INFO, ROLES, SET_ROLES,
    ] {
        let a = post_raw(
            &server,
            path,
            Some("Bearer wrong"),
            Some("application/json"),
            "null",
        )
        .await;
        assert_eq!(
            (a.status, a.error_tag()),
            (401, "invalid_access_token".into()),
            "{path}"
        );
        let a = post_raw(
            &server,
            path,
            Some(&format!("Bearer {TOKEN}")),
            Some("text/plain"),
            "null",
        )
        .await;
        assert_eq!(a.status, 400, "{path}");
        assert!(a.body.contains("Content-Type"));
        let resp = reqwest::get(format!("{}{path}", server.url()))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{path}");
    }
    // None of that reached the team.
    assert!(server.action_log().is_empty());
    assert_eq!(member(&server, 4).status, MemberStatus::Active);
    // A charset parameter is fine, as on the list routes.
    let a = post_raw(
        &server,
        ROLES,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json; charset=utf-8"),
        "null",
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn snapshot_tells_whether_anything_changed() {
    let server = start_actions(|_| {});
    let before = server.snapshot();
    // Reads change nothing.
    list_all(&server, 3, true).await;
    ok(
        &server,
        GET_INFO,
        json!({"members": [by_email(&server, 4)]}),
    )
    .await;
    ok(&server, ROLES, Value::Null).await;
    assert_eq!(server.snapshot(), before);
    // Neither does a refused action's state, but it counts as an action.
    conflict(&server, SUSPEND, json!({"user": by_email(&server, 1)})).await;
    let refused: Value = serde_json::from_str(&server.snapshot()).unwrap();
    let start: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(refused["changed"], start["changed"]);
    assert_eq!(
        (start["actions"].clone(), refused["actions"].clone()),
        (json!(0), json!(1))
    );

    ok(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await;
    let after: Value = serde_json::from_str(&server.snapshot()).unwrap();
    assert_eq!(after["actions"], 2);
    let changed = after["changed"].as_array().unwrap();
    let entry = changed.iter().find(|c| c["index"] == 4).unwrap();
    assert_eq!(
        entry["member"]["profile"]["status"],
        json!({".tag": "suspended"})
    );
    // Sorted by index, and stable.
    let indices: Vec<u64> = changed
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    assert_eq!(indices, sorted);
    assert_eq!(server.snapshot(), server.snapshot());

    let m = server
        .member_by_email(&member(&server, 4).email.to_uppercase())
        .unwrap();
    assert_eq!(m.status, MemberStatus::Suspended);
    assert!(server.member_by_email("nobody@example.com").is_none());
}

#[tokio::test]
async fn team_get_info_counts_the_members_not_removed() {
    const TEAM_INFO: &str = "/2/team/get_info";
    let server = start(2_345);
    let provisioned =
        server.with_team(|t| (0..t.len()).filter(|&i| !t.status(i).is_removed()).count());
    assert!(
        provisioned < 2_345,
        "the generated team has removed members"
    );
    let answer = post_raw(
        &server,
        TEAM_INFO,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json"),
        "null",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let info = answer.json();
    // TeamGetInfoResult, as the reference lists it: every field, no other.
    let mut keys: Vec<&str> = info
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "name",
            "num_licensed_users",
            "num_provisioned_users",
            "num_used_licenses",
            "policies",
            "team_id"
        ]
    );
    assert_eq!(info["num_provisioned_users"], provisioned);
    assert!(info["num_licensed_users"].as_u64().unwrap() >= provisioned as u64);
    assert!(info["name"].is_string() && info["team_id"].as_str().unwrap().starts_with("dbtid:"));
    assert_eq!(info["policies"]["emm_state"][".tag"], "disabled");
    assert_eq!(
        info["policies"]["sharing"]["shared_folder_member_policy"][".tag"],
        "team"
    );

    // Strict like Dropbox: the argument is `null`, the token and the
    // content type are checked, and it is a POST.
    for (body, needle) in [
        ("{}", "expected null, got object"),
        ("", "could not decode input as JSON"),
    ] {
        let a = post_raw(
            &server,
            TEAM_INFO,
            Some(&format!("Bearer {TOKEN}")),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.body.contains(needle), "{body}: {}", a.body);
        assert!(a.body.contains("team/get_info"), "{}", a.body);
    }
    let a = post_raw(
        &server,
        TEAM_INFO,
        Some("Bearer wrong"),
        Some("application/json"),
        "null",
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error_tag(), "invalid_access_token");
    let a = post_raw(
        &server,
        TEAM_INFO,
        Some(&format!("Bearer {TOKEN}")),
        Some("text/plain"),
        "null",
    )
    .await;
    assert_eq!(a.status, 400);

    // A removal shows in the count.
    let email = server.with_team(|t| {
        (0..t.len())
            .map(|i| t.member(i))
            .find(|m| {
                matches!(m.status, connector_fakes::MemberStatus::Active) && m.roles.is_empty()
            })
            .expect("a plain active member")
            .email
    });
    let removed = post(
        &server,
        "/2/team/members/remove",
        json!({"user": {".tag": "email", "email": email}}),
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    let after = post(&server, TEAM_INFO, Value::Null).await.json();
    assert_eq!(after["num_provisioned_users"], provisioned - 1);

    // Bare union tags, and unknown fields for clients to tolerate.
    let mut cfg = DropboxConfig::new(Team::generate(5, 1), TOKEN);
    cfg.style = connector_fakes::WireStyle {
        bare_union_tags: true,
        unknown_fields: true,
    };
    let bare = FakeDropbox::start(cfg).expect("start");
    let info = post(&bare, TEAM_INFO, Value::Null).await.json();
    assert_eq!(info["policies"]["emm_state"], "disabled");
    assert!(info.get("future_field").is_some());
}

#[tokio::test]
async fn team_get_info_licensed_seats_are_configurable_and_it_can_fail() {
    const TEAM_INFO: &str = "/2/team/get_info";
    let mut cfg = DropboxConfig::new(Team::generate(40, 3), TOKEN);
    cfg.licensed_users = Some(75);
    let server = FakeDropbox::start(cfg).expect("start");
    let info = post(&server, TEAM_INFO, Value::Null).await.json();
    assert_eq!(info["num_licensed_users"], 75);
    server.set_licensed_users(Some(41));
    let info = post(&server, TEAM_INFO, Value::Null).await.json();
    assert_eq!(info["num_licensed_users"], 41);
    // Unset: the provisioned members and 10% more.
    server.set_licensed_users(None);
    let info = post(&server, TEAM_INFO, Value::Null).await.json();
    let provisioned = info["num_provisioned_users"].as_u64().unwrap();
    assert_eq!(
        info["num_licensed_users"].as_u64().unwrap(),
        provisioned + provisioned.div_ceil(10)
    );

    // Failing: every team/get_info until cleared, and no other route; a
    // malformed request is still refused as such first.
    server.fail_team_info(Some(DropboxFault::ServerError(503)));
    for _ in 0..2 {
        assert_eq!(post(&server, TEAM_INFO, Value::Null).await.status, 503);
    }
    let a = post_raw(
        &server,
        TEAM_INFO,
        Some(&format!("Bearer {TOKEN}")),
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let roles = post(
        &server,
        "/2/team/members/get_available_team_member_roles",
        Value::Null,
    )
    .await;
    assert_eq!(roles.status, 200, "{}", roles.body);
    server.fail_team_info(Some(DropboxFault::Conflict("other".into())));
    let a = post(&server, TEAM_INFO, Value::Null).await;
    assert_eq!((a.status, a.error_tag()), (409, "other".to_owned()));
    server.fail_team_info(None);
    assert_eq!(post(&server, TEAM_INFO, Value::Null).await.status, 200);
}

#[tokio::test]
async fn another_teams_account_is_not_in_the_team() {
    let server = start_actions(|_| {});
    server.add_outsider("Someone@Elsewhere.example");
    let outsider = json!({".tag": "email", "email": "someone@elsewhere.example"});
    // Dropbox knows the address, but not as a member here.
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": outsider})).await,
        "user_not_in_team"
    );
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": outsider})).await,
        "user_not_in_team"
    );
    // An unknown address is still not found.
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": nobody()})).await,
        "user_not_found"
    );
    // get_info_v2 finds no member for it.
    let info = ok(&server, GET_INFO, json!({"members": [outsider]})).await;
    assert_eq!(info["members_info"][0][".tag"], "id_not_found");
    // As a transfer destination.
    let tag = conflict(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "transfer_dest_id": outsider,
               "transfer_admin_id": by_email(&server, 0), "wipe_data": false}),
    )
    .await;
    assert_eq!(tag, "transfer_dest_user_not_in_team");
}
