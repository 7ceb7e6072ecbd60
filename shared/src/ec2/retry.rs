//! Which failed EC2 calls are tried again, and after how long: the SDK's standard retry
//! strategy, which the functions' other clients use (`RetryConfig::standard()`).

use std::time::Duration;

/// Tries in all, the first one included (aws-smithy-types `RetryConfig::standard`).
pub const MAX_ATTEMPTS: u32 = 3;

/// The first pause's ceiling, and the longest pause (aws-smithy-types `retry.rs`).
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Error codes of throttling, retried (aws-runtime `retries/classifiers.rs`, `THROTTLING_ERRORS`;
/// EC2 throttles with `RequestLimitExceeded`, "Request throttling for the Amazon EC2 API",
/// <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes of transient failures (the same file, `TRANSIENT_ERRORS`).
const TRANSIENT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// HTTP statuses retried whatever the body (aws-smithy-runtime `HttpStatusCodeClassifier`).
const TRANSIENT_STATUSES: &[u16] = &[500, 502, 503, 504];

/// What a failed try looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// An answer with this status and, when the body was EC2's error document, its code.
    Answer { status: u16, code: Option<&'a str> },
    /// No answer: the connection failed or timed out.
    NoAnswer,
    /// Something on this side (signing, credentials, an unreadable success answer): trying
    /// again cannot help.
    Local,
}

/// Whether a try that failed this way is worth another.
pub fn is_retryable(failure: Failure<'_>) -> bool {
    match failure {
        Failure::Answer { status, code } => {
            TRANSIENT_STATUSES.contains(&status)
                || code.is_some_and(|code| {
                    THROTTLING_CODES.contains(&code) || TRANSIENT_CODES.contains(&code)
                })
        }
        Failure::NoAnswer => true,
        Failure::Local => false,
    }
}

/// The pause before try `attempt + 1` after try `attempt` (1-based) failed: "full jitter",
/// `min(1 s * 2^(attempt - 1), 20 s)` scaled by `jitter` in `[0, 1)` (aws-smithy-runtime
/// `calculate_exponential_backoff`).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let ceiling = INITIAL_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_are_not() {
        let answer = |status, code| Failure::Answer { status, code };
        assert!(is_retryable(answer(503, Some("RequestLimitExceeded"))));
        assert!(is_retryable(answer(400, Some("RequestLimitExceeded"))));
        assert!(is_retryable(answer(502, None)));
        assert!(is_retryable(answer(500, Some("InternalError"))));
        assert!(is_retryable(Failure::NoAnswer));
        assert!(!is_retryable(answer(
            400,
            Some("InvalidInstanceID.NotFound")
        )));
        assert!(!is_retryable(answer(403, Some("UnauthorizedOperation"))));
        assert!(!is_retryable(answer(404, None)));
        assert!(!is_retryable(Failure::Local));
    }

    #[test]
    fn pauses_double_to_twenty_seconds_scaled_by_the_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(2, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(6, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(40, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
    }
}
