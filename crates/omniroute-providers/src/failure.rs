//! Classifying upstream failures: which ones another target may fix, and which are the
//! request's own fault.

use std::time::Duration;

use bytes::Bytes;

/// What went wrong with an upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// No response headers within the request timeout.
    Timeout,
    /// The upstream answered with an error status.
    Status(u16),
    /// The upstream broke the HTTP exchange.
    Protocol,
    /// The request could not be built (configuration).
    Config,
}

/// An upstream failure, with the facts routing decides on. The message never contains
/// credentials: it is built from fixed text and the upstream's own response.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What happened.
    pub kind: FailureKind,
    /// `Retry-After`, when the upstream sent one.
    pub retry_after: Option<Duration>,
    /// The upstream's error body, for translating to the client.
    pub body: Option<Bytes>,
    /// Its rate-limit headers (`retry-after`, `x-ratelimit-*`, `anthropic-ratelimit-*`), names
    /// lowercase, for classifying the failure and learning limits.
    pub headers: Vec<(String, String)>,
    /// A short description for logs.
    pub message: String,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            retry_after: None,
            body: None,
            headers: Vec::new(),
            message: message.into(),
        }
    }

    /// Whether another target or connection may succeed: connect errors, timeouts, 408, 429
    /// and 5xx. A 4xx is the request's own fault and goes back to the client as it is.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            FailureKind::Connect | FailureKind::Timeout | FailureKind::Protocol => true,
            FailureKind::Status(s) => s == 408 || s == 429 || s >= 500,
            FailureKind::Config => true,
        }
    }

    /// The HTTP status to show the client when this failure is final.
    pub fn status(&self) -> u16 {
        match self.kind {
            FailureKind::Status(s) => s,
            FailureKind::Timeout => 504,
            FailureKind::Connect | FailureKind::Protocol | FailureKind::Config => 502,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self.kind {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Status(429) => "rate_limited",
            FailureKind::Status(s) if s >= 500 => "upstream_5xx",
            FailureKind::Status(_) => "upstream_4xx",
            FailureKind::Protocol => "protocol",
            FailureKind::Config => "config",
        }
    }
}

/// The rate-limit headers of a response (names are lowercase in `http`), for routing to learn
/// limits and resets from. Empty for upstreams that send none.
pub fn rate_limit_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "retry-after"
                || k.starts_with("x-ratelimit-")
                || k.starts_with("anthropic-ratelimit-")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// Parses `Retry-After` as seconds (the HTTP-date form is rare from LLM APIs and is ignored).
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for (s, r) in [
            (400, false),
            (401, false),
            (404, false),
            (408, true),
            (429, true),
            (500, true),
            (503, true),
        ] {
            assert_eq!(Failure::new(FailureKind::Status(s), "").is_retryable(), r, "{s}");
        }
        assert!(Failure::new(FailureKind::Connect, "").is_retryable());
        assert_eq!(Failure::new(FailureKind::Timeout, "").status(), 504);
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }
}
