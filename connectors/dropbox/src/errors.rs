//! Dropbox's error answers, as contract errors.
//!
//! | HTTP | contract error |
//! |---|---|
//! | 401 | `unauthorized{expired: tag == expired_access_token, tag, message: error_summary}` |
//! | 429 | `rate-limited`, seconds from `Retry-After`, else body `retry_after`, else [`DEFAULT_RETRY_AFTER_SECONDS`] |
//! | 409 | `conflict{tag, summary: error_summary, user_message.text}`; without `user_message`, [`plain_reason`] of the tag |
//! | 400 | `invalid-input` with the (plain-text) body |
//! | 403 | `other("access denied: ...")` |
//! | 404 | `not-found` |
//! | 5xx | `unavailable("Dropbox returned 503: ...")` |
//! | other | `other("Dropbox returned 418 for <route>: ...")` |

use serde_json::Value as Json;

use oomnitza_connector_sdk::transport::HttpResponse;
use oomnitza_connector_sdk::types::{ConnectorError, RateLimit, UnauthorizedError, VendorConflict};

/// The wait used when a 429 names none: Dropbox omits `retry_after` for
/// some limits (write-operation limits, per its spec) and a plain-text 429
/// carries none in the body; `Retry-After` is then the only hint, and
/// proxies may drop it.
pub use oomnitza_connector_sdk::errors::DEFAULT_RETRY_AFTER_SECONDS;
use oomnitza_connector_sdk::errors::{
    describe_body, quote_body, retry_after_seconds, seconds_from_f64,
};

/// The contract error for a non-2xx answer to `route`.
pub fn from_response(route: &str, response: &HttpResponse) -> ConnectorError {
    let status = response.status;
    let json = parse_json(&response.body);
    let body = || describe_body(&response.body);
    match status {
        401 => {
            let tag = json.as_ref().and_then(error_tag).unwrap_or_default();
            let message = json
                .as_ref()
                .and_then(error_summary)
                .map_or_else(body, str::to_owned);
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: tag == "expired_access_token",
                tag,
                message,
            })
        }
        429 => {
            let seconds = response
                .retry_after
                .as_deref()
                .and_then(retry_after_seconds)
                .or_else(|| json.as_ref().and_then(body_retry_after))
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS);
            let message = json
                .as_ref()
                .and_then(|j| {
                    error_summary(j).map(str::to_owned).or_else(|| {
                        j.get("error")
                            .and_then(|e| e.get("reason"))
                            .and_then(union_tag)
                    })
                })
                .unwrap_or_else(|| {
                    let text = quote_body(&response.body);
                    if text.is_empty() {
                        "too many requests".to_owned()
                    } else {
                        text
                    }
                });
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: seconds,
                message,
            })
        }
        409 => match json.as_ref().and_then(|j| error_tag(j).map(|t| (j, t))) {
            Some((j, tag)) => ConnectorError::Conflict(VendorConflict {
                summary: error_summary(j).unwrap_or(&tag).to_owned(),
                user_message: j
                    .get("user_message")
                    .and_then(|m| m.get("text"))
                    .and_then(Json::as_str)
                    .filter(|m| !m.trim().is_empty())
                    .or_else(|| plain_reason(&tag))
                    .map(str::to_owned),
                tag,
            }),
            None => ConnectorError::Other(format!(
                "Dropbox returned 409 for {route} without an error tag: {}",
                body()
            )),
        },
        400 => ConnectorError::InvalidInput(format!("Dropbox returned 400: {}", body())),
        403 => {
            let detail = json
                .as_ref()
                .and_then(error_summary)
                .map_or_else(body, str::to_owned);
            ConnectorError::Other(format!("access denied: {detail}"))
        }
        404 => ConnectorError::NotFound(format!("Dropbox returned 404 for {route}: {}", body())),
        500..=599 => ConnectorError::Unavailable(format!("Dropbox returned {status}: {}", body())),
        _ => ConnectorError::Other(format!("Dropbox returned {status} for {route}: {}", body())),
    }
}

/// A plain-language reason for a common route-error tag of the member
/// routes, used as a conflict's `user-message` when Dropbox sends none. The
/// tag itself always passes verbatim.
pub fn plain_reason(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "user_not_found" => "No member of the Dropbox team matches this user.",
        "user_not_in_team" => "This user is not a member of the Dropbox team.",
        "suspend_last_admin" => {
            "This user is the team's last admin, and Dropbox cannot suspend the last admin. Make another member an admin first."
        }
        "remove_last_admin" => {
            "This user is the team's last admin, and Dropbox cannot remove the last admin. Make another member an admin first."
        }
        "last_admin" => {
            "This user is the team's last admin, and Dropbox cannot take the admin role from the last admin. Make another member an admin first."
        }
        "team_license_limit" => "The Dropbox team has no license left for this user.",
        "removed_and_transfer_dest_should_differ" => {
            "The transfer destination is the user being removed; choose another member to receive the files."
        }
        "removed_and_transfer_admin_should_differ" => {
            "The transfer admin is the user being removed; choose another admin."
        }
        "transfer_dest_user_not_found" => {
            "No member of the Dropbox team matches the transfer destination."
        }
        "transfer_dest_user_not_in_team" => {
            "The transfer destination is not a member of the Dropbox team."
        }
        "transfer_admin_user_not_found" => {
            "No member of the Dropbox team matches the transfer admin."
        }
        "transfer_admin_user_not_in_team" => {
            "The transfer admin is not a member of the Dropbox team."
        }
        "unspecified_transfer_admin_id" => {
            "A transfer destination was given without a transfer admin."
        }
        "transfer_admin_is_not_admin" => "The transfer admin is not a Dropbox team admin.",
        "recipient_not_verified" => {
            "The transfer destination has not verified their email address yet."
        }
        "cannot_keep_account_and_transfer" => {
            "Keeping the account and transferring its files cannot be combined."
        }
        "cannot_keep_account_and_delete_data" => {
            "The account cannot be kept when its linked devices are wiped; turn wipe-data off."
        }
        "cannot_keep_account_and_permanently_delete" => {
            "The account cannot be kept when its files are permanently deleted."
        }
        "cannot_keep_invited_user_account" => {
            "This user was invited but never joined the team, so there is no account to keep; remove them without keep-account."
        }
        "cannot_retain_shares_when_data_wiped" => {
            "Team shares cannot be retained when the linked devices are wiped."
        }
        "cannot_retain_shares_when_no_account_kept" => {
            "Team shares can be retained only when the account is kept."
        }
        "cannot_retain_shares_when_team_external_sharing_off" => {
            "Team shares cannot be retained: the team does not allow sharing outside the team."
        }
        "cannot_keep_account" => "Dropbox does not allow this user to keep their account.",
        "cannot_keep_account_under_legal_hold" => {
            "This user is under a legal hold, so their account cannot be kept."
        }
        "cannot_keep_account_required_to_sign_tos" => {
            "This user must accept Dropbox's terms of service before their account can be kept."
        }
        "cannot_permanently_delete_and_transfer" => {
            "Files cannot be both permanently deleted and transferred."
        }
        "member_is_transfer_destination" => {
            "This user is receiving another removed member's files; wait until that transfer finishes."
        }
        "email_address_too_long_to_be_disabled" => {
            "This user's email address is too long for Dropbox to disable it."
        }
        "transfer_in_progress" => "A transfer of this user's files is already in progress.",
        "already_transferred" | "already_transferred_or_deleted" => {
            "This user's files were already transferred or deleted."
        }
        "suspend_inactive_user" => "This user is already suspended or is not an active member.",
        "unsuspend_non_suspended_member" => "This user is not suspended.",
        "cannot_set_permissions" => "Dropbox does not allow changing this user's admin role.",
        "role_not_found" => "The Dropbox team has no such admin role.",
        "invalid_async_job_id" => "Dropbox no longer knows this removal job.",
        "internal_error" => {
            "Dropbox had an internal error while processing the removal; check the Dropbox admin console."
        }
        _ => return None,
    })
}

fn parse_json(body: &[u8]) -> Option<Json> {
    serde_json::from_slice::<Json>(body)
        .ok()
        .filter(Json::is_object)
}

/// `error[".tag"]`, or `error` itself when it is a bare-string union.
fn error_tag(json: &Json) -> Option<String> {
    json.get("error").and_then(union_tag)
}

fn union_tag(union: &Json) -> Option<String> {
    match union {
        Json::String(tag) => Some(tag.clone()),
        Json::Object(map) => map.get(".tag").and_then(Json::as_str).map(str::to_owned),
        _ => None,
    }
}

fn error_summary(json: &Json) -> Option<&str> {
    json.get("error_summary")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// `error.retry_after` (or a top-level `retry_after`), in seconds.
fn body_retry_after(json: &Json) -> Option<u32> {
    json.get("error")
        .and_then(|e| e.get("retry_after"))
        .or_else(|| json.get("retry_after"))
        .and_then(|v| {
            v.as_u64()
                .map(|s| u32::try_from(s).unwrap_or(u32::MAX))
                .or_else(|| v.as_f64().and_then(seconds_from_f64))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oomnitza_connector_sdk::errors::MAX_QUOTED_BODY;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            retry_after: None,
            content_type: Some("application/json".to_owned()),
            body: body.as_bytes().to_vec(),
        }
    }

    fn map(status: u16, body: &str) -> ConnectorError {
        from_response("team/members/list_v2", &response(status, body))
    }

    #[test]
    fn unauthorized_expired_and_other_tags() {
        let e = map(
            401,
            r#"{"error_summary":"expired_access_token/..","error":{".tag":"expired_access_token"}}"#,
        );
        assert_eq!(
            e,
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: true,
                tag: "expired_access_token".into(),
                message: "expired_access_token/..".into(),
            })
        );
        let e = map(
            401,
            r#"{"error_summary":"missing_scope/...","error":{".tag":"missing_scope","required_scope":"members.read"}}"#,
        );
        assert_eq!(
            e,
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: false,
                tag: "missing_scope".into(),
                message: "missing_scope/...".into(),
            })
        );
        // Bare-string union, no summary.
        let e = map(401, r#"{"error":"invalid_access_token"}"#);
        assert_eq!(
            e,
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: false,
                tag: "invalid_access_token".into(),
                message: r#"{"error":"invalid_access_token"}"#.into(),
            })
        );
        // Not JSON at all.
        let e = map(401, "Unauthorized");
        assert_eq!(
            e,
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: false,
                tag: String::new(),
                message: "Unauthorized".into(),
            })
        );
    }

    #[test]
    fn rate_limit_prefers_the_header() {
        let mut r = response(
            429,
            r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":300}}"#,
        );
        r.retry_after = Some(" 7 ".into());
        assert_eq!(
            from_response("r", &r),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 7,
                message: "too_many_requests/..".into(),
            })
        );
    }

    #[test]
    fn rate_limit_falls_back_to_the_body_then_the_default() {
        assert_eq!(
            map(
                429,
                r#"{"error":{"reason":{".tag":"too_many_write_operations"},"retry_after":300}}"#
            ),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 300,
                message: "too_many_write_operations".into(),
            })
        );
        // Write limits may omit retry_after.
        assert_eq!(
            map(
                429,
                r#"{"error_summary":"too_many_write_operations/","error":{"reason":"too_many_write_operations"}}"#
            ),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: DEFAULT_RETRY_AFTER_SECONDS,
                message: "too_many_write_operations/".into(),
            })
        );
        // Plain text, and a header in a form we do not read.
        let mut r = response(429, "Too many requests, slow down");
        r.retry_after = Some("Wed, 21 Oct 2015 07:28:00 GMT".into());
        assert_eq!(
            from_response("r", &r),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 60,
                message: "Too many requests, slow down".into(),
            })
        );
        assert_eq!(
            map(429, ""),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 60,
                message: "too many requests".into(),
            })
        );
        // Fractions round up; huge values saturate.
        let mut r = response(429, "");
        r.retry_after = Some("1.2".into());
        assert!(matches!(
            from_response("r", &r),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 2,
                ..
            })
        ));
        r.retry_after = Some("99999999999".into());
        assert!(matches!(
            from_response("r", &r),
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: u32::MAX,
                ..
            })
        ));
    }

    #[test]
    fn conflict_keeps_tag_summary_and_user_message() {
        assert_eq!(
            map(
                409,
                r#"{"error_summary":"invalid_cursor/..","error":{".tag":"invalid_cursor"}}"#
            ),
            ConnectorError::Conflict(VendorConflict {
                tag: "invalid_cursor".into(),
                summary: "invalid_cursor/..".into(),
                user_message: None,
            })
        );
        assert_eq!(
            map(
                409,
                r#"{"error_summary":"suspend_last_admin/...","error":{".tag":"suspend_last_admin"},"user_message":{"text":"You can't suspend the last admin.","locale":"en"}}"#
            ),
            ConnectorError::Conflict(VendorConflict {
                tag: "suspend_last_admin".into(),
                summary: "suspend_last_admin/...".into(),
                user_message: Some("You can't suspend the last admin.".into()),
            })
        );
        // An unknown tag passes verbatim; a missing summary falls back to it.
        assert_eq!(
            map(409, r#"{"error":{".tag":"brand_new_error","x":1}}"#),
            ConnectorError::Conflict(VendorConflict {
                tag: "brand_new_error".into(),
                summary: "brand_new_error".into(),
                user_message: None,
            })
        );
        assert_eq!(
            map(409, "conflict!"),
            ConnectorError::Other(
                "Dropbox returned 409 for team/members/list_v2 without an error tag: conflict!"
                    .into()
            )
        );
    }

    #[test]
    fn conflict_explains_common_tags_dropbox_left_unexplained() {
        assert_eq!(
            map(
                409,
                r#"{"error_summary":"remove_last_admin/..","error":{".tag":"remove_last_admin"}}"#
            ),
            ConnectorError::Conflict(VendorConflict {
                tag: "remove_last_admin".into(),
                summary: "remove_last_admin/..".into(),
                user_message: plain_reason("remove_last_admin").map(str::to_owned),
            })
        );
        // An empty vendor message counts as none.
        let e = map(
            409,
            r#"{"error_summary":"user_not_found/","error":"user_not_found","user_message":{"text":" ","locale":"en"}}"#,
        );
        assert!(
            matches!(&e, ConnectorError::Conflict(c) if c.tag == "user_not_found"
                && c.user_message.as_deref() == Some("No member of the Dropbox team matches this user.")),
            "{e:?}"
        );
        assert_eq!(plain_reason("invalid_cursor"), None);
        for tag in [
            "user_not_in_team",
            "suspend_last_admin",
            "last_admin",
            "removed_and_transfer_dest_should_differ",
            "cannot_keep_invited_user_account",
            "transfer_admin_is_not_admin",
        ] {
            assert!(plain_reason(tag).is_some(), "{tag}");
        }
    }

    #[test]
    fn bad_request_quotes_the_text_body() {
        assert_eq!(
            map(
                400,
                "Error in call to API function \"team/members/list_v2\": request body: limit: 0 is less than 1\n"
            ),
            ConnectorError::InvalidInput(
                "Dropbox returned 400: Error in call to API function \"team/members/list_v2\": request body: limit: 0 is less than 1".into()
            )
        );
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        // 'é' is two bytes: 1023 ASCII bytes then 'é' straddles the limit.
        let body = format!("{}é{}", "a".repeat(1023), "b".repeat(5000));
        let e = map(400, &body);
        let ConnectorError::InvalidInput(message) = e else {
            panic!("expected invalid-input, got {e:?}");
        };
        let quoted = message
            .strip_prefix("Dropbox returned 400: ")
            .expect("prefix");
        assert!(quoted.starts_with(&"a".repeat(1023)));
        assert!(quoted.ends_with(&format!("… ({} bytes in all)", body.len())));
        assert!(!quoted.contains('é'));
        assert!(quoted.len() < MAX_QUOTED_BODY + 40);
    }

    #[test]
    fn forbidden_not_found_server_errors_and_others() {
        assert_eq!(
            map(
                403,
                r#"{"error_summary":"team_access_denied/...","error":{".tag":"invalid_account_type"}}"#
            ),
            ConnectorError::Other("access denied: team_access_denied/...".into())
        );
        assert_eq!(
            map(403, "Forbidden"),
            ConnectorError::Other("access denied: Forbidden".into())
        );
        assert_eq!(
            map(404, "no such route"),
            ConnectorError::NotFound(
                "Dropbox returned 404 for team/members/list_v2: no such route".into()
            )
        );
        assert_eq!(
            map(503, "upstream unavailable"),
            ConnectorError::Unavailable("Dropbox returned 503: upstream unavailable".into())
        );
        assert_eq!(
            map(500, ""),
            ConnectorError::Unavailable("Dropbox returned 500: (empty body)".into())
        );
        assert_eq!(
            map(418, "teapot"),
            ConnectorError::Other("Dropbox returned 418 for team/members/list_v2: teapot".into())
        );
    }
}
