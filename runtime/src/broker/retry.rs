//! When to try a request again, and how long to wait first.
//!
//! - 429, and 503 with `Retry-After`: the upstream did not process the
//!   request and said when to come back, so any method is retried.
//! - Other 5xx and transport errors: only GET, HEAD and DELETE, since a POST,
//!   PUT or PATCH that failed with a 500 may have been applied (Paycor warns
//!   it can double-post).
//! - Waits follow `Retry-After` (seconds or an HTTP date), then vendor reset
//!   headers (`x-rate-limit-reset`, `x-ratelimit-reset`: seconds), else a
//!   jittered exponential backoff. The caller keeps all of it inside the
//!   invocation deadline.

use crate::bindings::http::HttpError;
use crate::bindings::types::Method;
use crate::config::NetworkPolicy;
use std::time::{Duration, SystemTime};

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff base.
    pub base: Duration,
    /// Longest wait honoured from a header.
    pub max_wait: Duration,
}

impl From<&NetworkPolicy> for RetryPolicy {
    fn from(p: &NetworkPolicy) -> Self {
        Self {
            max_retries: p.max_retries,
            base: Duration::from_millis(p.backoff_base_ms),
            max_wait: Duration::from_millis(p.max_retry_wait_ms),
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The wait a response asks for: `Retry-After` seconds or date, else a vendor
/// reset header in seconds.
pub fn requested_wait(headers: &[(String, String)], now: SystemTime) -> Option<Duration> {
    if let Some(value) = header(headers, "retry-after") {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(date.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    for name in ["x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"] {
        if let Some(secs) = header(headers, name).and_then(|v| v.parse::<u64>().ok()) {
            // Some vendors send an epoch timestamp rather than seconds left.
            let now_secs = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let secs = if secs > 1_000_000_000 {
                secs.saturating_sub(now_secs)
            } else {
                secs
            };
            return Some(Duration::from_secs(secs));
        }
    }
    None
}

fn safe_to_repeat(method: Method) -> bool {
    matches!(method, Method::Get | Method::Head | Method::Delete)
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(10));
        // Full jitter between half and the whole backoff.
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        exp.mul_f64(jitter)
    }

    /// How long to wait before retrying after `status`, or `None` for no retry.
    pub fn wait_for_response(
        &self,
        method: Method,
        status: u16,
        headers: &[(String, String)],
        attempt: u32,
    ) -> Option<Duration> {
        if attempt > self.max_retries {
            return None;
        }
        let asked = requested_wait(headers, SystemTime::now());
        let retry = match status {
            429 => true,
            503 if asked.is_some() => true,
            500..=599 => safe_to_repeat(method),
            _ => false,
        };
        if !retry {
            return None;
        }
        match asked {
            Some(wait) if wait > self.max_wait => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }

    /// How long to wait before retrying after a transport error.
    pub fn wait_for_error(
        &self,
        method: Method,
        error: &HttpError,
        attempt: u32,
    ) -> Option<Duration> {
        let transient = matches!(error, HttpError::Transport(_) | HttpError::Timeout(_));
        (attempt <= self.max_retries && transient && safe_to_repeat(method))
            .then(|| self.backoff(attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(30),
        }
    }

    fn h(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.into(), value.into())]
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            requested_wait(&h("Retry-After", "1"), now),
            Some(Duration::from_secs(1))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
        assert_eq!(
            requested_wait(&h("retry-after", &date), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            requested_wait(&h("x-rate-limit-reset", "3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            requested_wait(&h("x-ratelimit-reset", "1700000004"), now),
            Some(Duration::from_secs(4))
        );
        assert_eq!(requested_wait(&[], now), None);
    }

    #[test]
    fn posts_that_got_a_500_are_never_retried() {
        let p = policy();
        assert!(p.wait_for_response(Method::Post, 500, &[], 1).is_none());
        assert!(p.wait_for_response(Method::Put, 502, &[], 1).is_none());
        assert!(p.wait_for_response(Method::Get, 500, &[], 1).is_some());
        assert!(
            p.wait_for_response(Method::Post, 429, &h("retry-after", "1"), 1)
                .is_some()
        );
        assert!(
            p.wait_for_response(Method::Post, 503, &h("retry-after", "1"), 1)
                .is_some()
        );
        assert!(p.wait_for_response(Method::Post, 503, &[], 1).is_none());
        assert!(p.wait_for_response(Method::Get, 404, &[], 1).is_none());
    }

    #[test]
    fn attempts_and_waits_are_bounded() {
        let p = policy();
        assert!(p.wait_for_response(Method::Get, 503, &[], 3).is_none());
        assert!(
            p.wait_for_response(Method::Get, 429, &h("retry-after", "3600"), 1)
                .is_none()
        );
        let w = p.wait_for_response(Method::Get, 500, &[], 2).unwrap();
        assert!(
            w >= Duration::from_millis(100) && w <= Duration::from_millis(200),
            "{w:?}"
        );
        let transport = HttpError::Transport("reset".into());
        assert!(p.wait_for_error(Method::Get, &transport, 1).is_some());
        assert!(p.wait_for_error(Method::Post, &transport, 1).is_none());
    }
}
