//! Retrying transient API errors with bounded exponential backoff and jitter.
//!
//! Transient: the API server is unreachable or restarting (connection
//! refused or reset, timeouts), overloaded (429) or failing (5xx, except a
//! 500 that the object itself causes, [`is_object_failure`]). A 4xx is
//! never retried: the request is wrong, and a sync that sent it stops at
//! once (409 on an update with a stale resourceVersion is not retried
//! either: server-side apply does not use resourceVersions).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max_delay: Duration,
    /// Attempts in total, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 200 ms doubling to 5 s, 16 attempts: rides out an API server that is
    /// away for 30 to 60 seconds (a restart or an upgrade).
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_attempts: 16,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based): exponential,
    /// capped, with "equal jitter" (half fixed, half random) so that many
    /// requests failing together do not retry together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// True when an error from the API may go away by itself.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) if is_object_failure(status) => false,
        kube::Error::Api(status) => {
            status.code == 429
                || status.code >= 500
                || matches!(
                    status.reason.as_str(),
                    "ServerTimeout" | "Timeout" | "TooManyRequests"
                )
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        kube::Error::ReadEvents(_) => true,
        // A response cut off by a restarting server fails to parse.
        kube::Error::SerdeError(e) => e.is_eof(),
        _ => false,
    }
}

/// A server error (500) that the object itself causes, which sending it
/// again cannot fix: server-side apply could not build a typed object from
/// it (a field its schema does not declare, a value of the wrong type).
/// The API server reports these as `InternalError`, with the field in the
/// message (`.spec.replicaz: field not declared in schema`).
pub fn is_object_failure(status: &kube::core::Status) -> bool {
    const OBJECT_FAILURES: [&str; 3] = [
        "failed to create typed patch object",
        "failed to create typed live object",
        "field not declared in schema",
    ];
    status.code == 500 && OBJECT_FAILURES.iter().any(|m| status.message.contains(m))
}

/// A request that has failed this many times in a row is worth telling the
/// user about (about a second of retries with the default backoff).
const WARN_AFTER_ATTEMPTS: u32 = 3;

/// At most one warning this often, however many requests are retrying.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Whether a retry warning may be logged now (throttled process-wide, so an
/// outage in the middle of a wave of 16 requests in flight is one line).
fn warn_now() -> bool {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let Ok(mut last) = LAST.lock() else {
        return false;
    };
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// Runs `op` until it succeeds, fails with a non-transient error, or the
/// attempts are used up; logs each retry.
pub async fn retry<T, F, Fut>(backoff: &Backoff, what: &str, mut op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(err) if attempt < backoff.max_attempts && is_transient(&err) => {
                let delay = backoff.delay(attempt);
                tracing::debug!(%what, attempt, ?delay, error = %err, "transient API error, retrying");
                if attempt >= WARN_AFTER_ATTEMPTS && warn_now() {
                    tracing::warn!(
                        "the API server has not answered for a while ({what}: {err}); \
                         retrying, {} attempts left",
                        backoff.max_attempts - attempt
                    );
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status {
                code,
                reason: reason.into(),
                ..Default::default()
            }
            .boxed(),
        )
    }

    #[test]
    fn classifies() {
        assert!(is_transient(&api(503, "ServiceUnavailable")));
        assert!(is_transient(&api(429, "TooManyRequests")));
        assert!(is_transient(&api(504, "Timeout")));
        assert!(!is_transient(&api(409, "Conflict")));
        assert!(!is_transient(&api(422, "Invalid")));
        assert!(!is_transient(&api(404, "NotFound")));
        let typed = kube::Error::Api(
            kube::core::Status {
                code: 500,
                reason: "InternalError".into(),
                message: "failed to create typed patch object (ns/x; apps/v1, Kind=Deployment): .spec.replicaz: field not declared in schema".into(),
                ..Default::default()
            }
            .boxed(),
        );
        assert!(
            !is_transient(&typed),
            "the object is wrong: retrying cannot help"
        );
        assert!(is_transient(&api(500, "InternalError")));
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let b = Backoff::default();
        for attempt in 1..20 {
            let d = b.delay(attempt);
            assert!(d <= b.max_delay, "{d:?}");
            let floor = b
                .initial
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(b.max_delay)
                / 2;
            assert!(d >= floor);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_then_gives_up() {
        let b = Backoff {
            max_attempts: 3,
            ..Backoff::default()
        };
        let mut calls = 0;
        let r: Result<(), _> = retry(&b, "test", || {
            calls += 1;
            async { Err(api(503, "")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), _> = retry(&b, "test", || {
            calls += 1;
            async { Err(api(400, "BadRequest")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
