//! Running an action on several targets: one result per target, in order,
//! and after an error about the call rather than the target
//! (`unauthorized`, `rate-limited`, `denied`) the rest are not attempted:
//! they fail with the same error, marked so.

use crate::types::ConnectorError;

/// Whether `error` is about the call (its credential, its rate, the
/// sandbox), so no later target can fare better.
pub fn halts(error: &ConnectorError) -> bool {
    matches!(
        error,
        ConnectorError::Unauthorized(_)
            | ConnectorError::RateLimited(_)
            | ConnectorError::Denied(_)
    )
}

/// `error`, for a target skipped after it.
pub fn not_attempted(error: &ConnectorError) -> ConnectorError {
    const PREFIX: &str = "not attempted after an earlier request failed: ";
    match error.clone() {
        ConnectorError::Unauthorized(mut u) => {
            u.message = format!("{PREFIX}{}", u.message);
            ConnectorError::Unauthorized(u)
        }
        ConnectorError::RateLimited(mut r) => {
            r.message = format!("{PREFIX}{}", r.message);
            ConnectorError::RateLimited(r)
        }
        ConnectorError::Denied(m) => ConnectorError::Denied(format!("{PREFIX}{m}")),
        other => other,
    }
}

/// Runs `act` on each target in order; after a [`halts`] error the rest
/// are [`not_attempted`] and `act` is not called for them.
pub fn each_target<'t, T, R>(
    targets: &'t [T],
    mut act: impl FnMut(&'t T) -> Result<R, ConnectorError>,
) -> Vec<Result<R, ConnectorError>> {
    let mut halted: Option<ConnectorError> = None;
    targets
        .iter()
        .map(|target| {
            let result = match &halted {
                Some(e) => Err(not_attempted(e)),
                None => act(target),
            };
            if let Err(e) = &result
                && halted.is_none()
                && halts(e)
            {
                halted = Some(e.clone());
            }
            result
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RateLimit;

    #[test]
    fn a_call_error_stops_the_rest_and_a_target_error_does_not() {
        let mut called = Vec::new();
        let out = each_target(&[1, 2, 3, 4], |&t| {
            called.push(t);
            match t {
                1 => Err(ConnectorError::NotFound("no 1".into())),
                2 => Err(ConnectorError::RateLimited(RateLimit {
                    retry_after_seconds: 5,
                    message: "slow".into(),
                })),
                _ => Ok(t),
            }
        });
        assert_eq!(called, [1, 2], "nothing after the rate limit is attempted");
        assert!(matches!(&out[0], Err(ConnectorError::NotFound(_))));
        assert!(matches!(&out[2], Err(ConnectorError::RateLimited(r))
            if r.retry_after_seconds == 5
                && r.message == "not attempted after an earlier request failed: slow"));
        assert_eq!(out[2], out[3]);
        assert_eq!(out.len(), 4);
    }
}
