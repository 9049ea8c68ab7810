//! Removing members: the argument rules, transfers, no repeats, and
//! asynchronous removal jobs polled to completion. The team is
//! [`start_actions`]'s.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn remove_validates_every_argument_rule() {
    let server = start_actions(|_| {});
    let user = by_email(&server, 4);
    let dest = by_email(&server, 6);
    let admin = by_email(&server, 0);
    let not_admin = by_email(&server, 7);
    let removed = by_email(&server, 3);
    let invited = by_email(&server, 1);
    let snapshot = server.snapshot();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"user": nobody()}), "user_not_found"),
        (json!({"user": removed}), "user_not_in_team"),
        (
            json!({"user": user, "wipe_data": false, "transfer_dest_id": user, "transfer_admin_id": admin}),
            "removed_and_transfer_dest_should_differ",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": user}),
            "removed_and_transfer_admin_should_differ",
        ),
        (
            json!({"user": user, "transfer_dest_id": nobody(), "transfer_admin_id": admin}),
            "transfer_dest_user_not_found",
        ),
        (
            json!({"user": user, "transfer_dest_id": removed, "transfer_admin_id": admin}),
            "transfer_dest_user_not_in_team",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": nobody()}),
            "transfer_admin_user_not_found",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": removed}),
            "transfer_admin_user_not_in_team",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest}),
            "unspecified_transfer_admin_id",
        ),
        (
            json!({"user": user, "transfer_dest_id": dest, "transfer_admin_id": not_admin}),
            "transfer_admin_is_not_admin",
        ),
        (
            json!({"user": user, "transfer_dest_id": invited, "transfer_admin_id": admin}),
            "recipient_not_verified",
        ),
        (
            json!({"user": user, "wipe_data": false, "keep_account": true,
                   "transfer_dest_id": dest, "transfer_admin_id": admin}),
            "cannot_keep_account_and_transfer",
        ),
        (
            json!({"user": user, "keep_account": true}),
            "cannot_keep_account_and_delete_data",
        ),
        (
            json!({"user": user, "wipe_data": false, "keep_account": true,
                   "permanently_delete_files": true}),
            "cannot_keep_account_and_permanently_delete",
        ),
        (
            json!({"user": invited, "wipe_data": false, "keep_account": true}),
            "cannot_keep_invited_user_account",
        ),
        (
            json!({"user": user, "retain_team_shares": true}),
            "cannot_retain_shares_when_data_wiped",
        ),
        (
            json!({"user": user, "wipe_data": false, "retain_team_shares": true}),
            "cannot_retain_shares_when_no_account_kept",
        ),
        (
            json!({"user": user, "permanently_delete_files": true,
                   "transfer_dest_id": dest, "transfer_admin_id": admin}),
            "cannot_permanently_delete_and_transfer",
        ),
    ];
    for (body, tag) in &cases {
        assert_eq!(
            conflict(&server, REMOVE, body.clone()).await,
            *tag,
            "{body}"
        );
    }
    // Refusals change no member, but each is logged with its tag.
    let after: Value = serde_json::from_str(&server.snapshot()).unwrap();
    let before: Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(after["changed"], before["changed"]);
    assert_eq!(after["actions"], cases.len());
    let log = server.action_log();
    for (record, (_, tag)) in log.iter().zip(&cases) {
        assert_eq!(record.route, "team/members/remove");
        assert_eq!(record.outcome, *tag);
        assert_eq!(record.transfer_dest_id, None);
    }
    assert_eq!(log[0].team_member_id, None);
    assert_eq!(
        log[2].team_member_id,
        Some(member(&server, 4).team_member_id)
    );
    // Defaults are filled in.
    assert_eq!(
        log[0].args,
        json!({
            "user": nobody(),
            "wipe_data": true,
            "transfer_dest_id": null,
            "transfer_admin_id": null,
            "keep_account": false,
            "retain_team_shares": false,
            "permanently_delete_files": false,
        })
    );
}

#[tokio::test]
async fn remove_transfers_and_is_not_repeatable() {
    let server = start_actions(|_| {});
    let m4 = member(&server, 4);
    let v = ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "wipe_data": false,
               "transfer_dest_id": by_email(&server, 6), "transfer_admin_id": by_id(&server, 0)}),
    )
    .await;
    assert_eq!(v, json!({".tag": "complete"}));
    let record = server.action_log().pop().unwrap();
    assert_eq!(record.outcome, "complete");
    assert_eq!(record.team_member_id, Some(m4.team_member_id.clone()));
    assert_eq!(
        record.transfer_dest_id,
        Some(member(&server, 6).team_member_id)
    );
    assert_eq!(
        record.transfer_admin_id,
        Some(member(&server, 0).team_member_id)
    );
    assert_eq!(record.args["wipe_data"], false);
    assert_eq!(record.args["transfer_dest_id"], by_email(&server, 6));

    assert_eq!(
        listed(&server, 4).await["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": true, "is_disconnected": false})
    );
    let (active, _) = list_all(&server, 1000, false).await;
    assert!(!ids(&active).contains(&m4.team_member_id));
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 4)})).await,
        "user_not_in_team"
    );
    assert_eq!(
        conflict(&server, SUSPEND, json!({"user": by_email(&server, 4)})).await,
        "user_not_in_team"
    );

    // Kept as a Basic account: disconnected and not recoverable; admin
    // roles go with the membership.
    ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 8), "wipe_data": false, "keep_account": true,
               "retain_team_shares": true}),
    )
    .await;
    let m8 = listed(&server, 8).await;
    assert_eq!(
        m8["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": true})
    );
    assert_eq!(m8["roles"], json!([]));
    // Files deleted for good: not recoverable.
    ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 7), "permanently_delete_files": true}),
    )
    .await;
    assert_eq!(
        listed(&server, 7).await["profile"]["status"],
        json!({".tag": "removed", "is_recoverable": false, "is_disconnected": false})
    );
    // An invited member can be removed (the invitation is withdrawn).
    ok(&server, REMOVE, json!({"user": by_email(&server, 9)})).await;
    assert!(member(&server, 9).status.is_removed());
}

#[tokio::test]
async fn async_remove_is_polled_to_completion() {
    let server = start_actions(|c| c.remove_async_polls = 2);
    let v = ok(
        &server,
        REMOVE,
        json!({"user": by_email(&server, 4), "wipe_data": false,
               "transfer_dest_id": by_email(&server, 6), "transfer_admin_id": by_email(&server, 0)}),
    )
    .await;
    assert_eq!(v[".tag"], "async_job_id");
    let job = v["async_job_id"].as_str().unwrap().to_string();
    assert!(job.starts_with("dbjid:") && job.len() > 20, "{job}");
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(server.action_log()[0].outcome, "async_job_id");
    // The member is gone at once.
    assert!(member(&server, 4).status.is_removed());

    let poll = json!({ "async_job_id": job });
    assert_eq!(
        ok(&server, JOB_STATUS, poll.clone()).await,
        json!({".tag": "in_progress"})
    );
    // The destination of a transfer in progress cannot be removed.
    assert_eq!(
        conflict(&server, REMOVE, json!({"user": by_email(&server, 6)})).await,
        "member_is_transfer_destination"
    );
    assert_eq!(
        ok(&server, JOB_STATUS, poll.clone()).await,
        json!({".tag": "in_progress"})
    );
    for _ in 0..2 {
        assert_eq!(
            ok(&server, JOB_STATUS, poll.clone()).await,
            json!({".tag": "complete"})
        );
    }
    // Done: the destination is free again. Another job gets another id.
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 6)})).await;
    assert_eq!(v[".tag"], "async_job_id");
    assert_ne!(v["async_job_id"], job.as_str());

    assert_eq!(
        conflict(
            &server,
            JOB_STATUS,
            json!({"async_job_id": "dbjid:unknown"})
        )
        .await,
        "invalid_async_job_id"
    );
    // Back to synchronous answers.
    server.set_remove_async_polls(0);
    let v = ok(&server, REMOVE, json!({"user": by_email(&server, 7)})).await;
    assert_eq!(v, json!({".tag": "complete"}));
    // Polls are not actions.
    assert_eq!(server.action_log().len(), 4);
}
