//! What a failed upstream call means, as data: from its status, headers and body text, whether
//! to try another target, whom to cool down (nobody, the account, one model on the account)
//! and until when, and whether it counts against the provider's circuit breaker.
//!
//! | observed | class | fall back | cools | breaker |
//! |---|---|---|---|---|
//! | connect error, timeout | `Transient` | yes | the connection, backoff or hint | yes |
//! | 408, 5xx | `Transient` | yes | that model on the connection, backoff or hint | yes |
//! | 429 rate limit | `RateLimited` | yes | that model on the connection, until the stated reset or backoff | no |
//! | 429/402/403 with quota text, 402 | `Quota` | yes | the connection, until the reset (daily quota: next UTC midnight) | no |
//! | 401, 403 | `Account` | yes | the connection, long | no |
//! | 404, 403 "no access to model" | `ModelUnavailable` | yes | that model on the connection | no |
//! | 400 context overflow | `ContextOverflow` | yes (a larger model may fit) | nobody | no |
//! | other 400, 413, 422, other 4xx | `Request` | **no** | nobody | no |

/// The kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// The upstream or the network is unwell.
    Transient,
    /// The account hit a rate limit.
    RateLimited,
    /// The account's quota or credit is used up.
    Quota,
    /// The account's credentials were refused.
    Account,
    /// This model is not available on this account.
    ModelUnavailable,
    /// The prompt does not fit the model's context window.
    ContextOverflow,
    /// The request itself is wrong; another target would refuse it too.
    Request,
}

impl Class {
    /// A short label for logs and usage rows.
    pub fn label(self) -> &'static str {
        match self {
            Class::Transient => "transient",
            Class::RateLimited => "rate_limited",
            Class::Quota => "quota_exhausted",
            Class::Account => "account_refused",
            Class::ModelUnavailable => "model_unavailable",
            Class::ContextOverflow => "context_overflow",
            Class::Request => "bad_request",
        }
    }
}

/// How long to cool something down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cool {
    /// Exponential backoff by the connection's failure level, or the upstream's hint when it
    /// gave one (`Some(until_ms)`).
    Backoff(Option<u64>),
    /// Until this Unix time in ms.
    Until(u64),
}

/// The decision for one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub class: Class,
    /// Try the next candidate.
    pub fallback: bool,
    /// Cool the connection down.
    pub cool_connection: Option<Cool>,
    /// Lock this model out on the connection.
    pub lock_model: Option<Cool>,
    /// Counts against the provider's circuit breaker.
    pub breaker: bool,
}

/// What was observed of a failed call. Header names are lowercase.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// `None`: no response (connect error, timeout, cut-off body).
    pub status: Option<u16>,
    pub headers: &'a [(String, String)],
    pub body: &'a str,
}

const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;
/// How long a refused credential keeps its account out of rotation.
const ACCOUNT_COOL: u64 = 10 * 60_000;
/// How long a missing model stays locked on an account.
const MODEL_LOCK: u64 = 2 * 60_000;

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

const CONTEXT_OVERFLOW: &[&str] = &[
    "context length",
    "context_length_exceeded",
    "maximum context",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "reduce the length",
    "exceeds the maximum number of tokens",
];

const DAILY_QUOTA: &[&str] = &["per day", "perday", "daily", "requests per day", "rpd"];

const QUOTA: &[&str] = &[
    "insufficient_quota",
    "exceeded your current quota",
    "quota exceeded",
    "quota_exceeded",
    "resource_exhausted",
    "credit balance",
    "credits",
    "billing",
    "payment required",
    "usage limit",
];

const MODEL_ACCESS: &[&str] = &[
    "does not have access to model",
    "do not have access to",
    "model_not_found",
    "not found for api version",
    "is not supported",
    "not available for your account",
];

/// Classifies a failure observed at `now_ms`.
pub fn classify(o: &Observed<'_>, now_ms: u64) -> Verdict {
    let body = o.body.to_ascii_lowercase();
    let hint = reset_hint(o.headers, now_ms);
    let verdict = |class, fallback, cool_connection, lock_model, breaker| Verdict {
        class,
        fallback,
        cool_connection,
        lock_model,
        breaker,
    };
    let Some(status) = o.status else {
        return verdict(Class::Transient, true, Some(Cool::Backoff(hint)), None, true);
    };
    let quota_until = || {
        if contains_any(&body, DAILY_QUOTA) {
            hint.unwrap_or_else(|| next_utc_midnight(now_ms))
        } else {
            hint.unwrap_or(now_ms + HOUR)
        }
    };
    match status {
        429 | 402 | 403 if contains_any(&body, QUOTA) || status == 402 => {
            verdict(Class::Quota, true, Some(Cool::Until(quota_until())), None, false)
        }
        // Upstreams limit rates per model (OpenAI, Anthropic, Gemini all do).
        429 => verdict(Class::RateLimited, true, None, Some(Cool::Backoff(hint)), false),
        403 | 400 | 404 if contains_any(&body, MODEL_ACCESS) => {
            let until = hint.unwrap_or(now_ms + MODEL_LOCK);
            verdict(Class::ModelUnavailable, true, None, Some(Cool::Until(until)), false)
        }
        404 => {
            let until = hint.unwrap_or(now_ms + MODEL_LOCK);
            verdict(Class::ModelUnavailable, true, None, Some(Cool::Until(until)), false)
        }
        401 | 403 => verdict(
            Class::Account,
            true,
            Some(Cool::Until(hint.unwrap_or(now_ms + ACCOUNT_COOL))),
            None,
            false,
        ),
        400 | 422 if contains_any(&body, CONTEXT_OVERFLOW) => {
            verdict(Class::ContextOverflow, true, None, None, false)
        }
        // An overloaded or failing model says little about the account's other models.
        408 | 500..=599 => verdict(Class::Transient, true, None, Some(Cool::Backoff(hint)), true),
        _ => verdict(Class::Request, false, None, None, false),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
}

/// When the upstream says the limit resets, as Unix ms: `retry-after` (seconds or HTTP date),
/// OpenAI's `x-ratelimit-reset-{requests,tokens}` (durations such as `6m0s`, for the exhausted
/// limit), `x-ratelimit-reset` (seconds, or a Unix time), and Anthropic's
/// `anthropic-ratelimit-*-reset` (RFC 3339).
pub fn reset_hint(headers: &[(String, String)], now_ms: u64) -> Option<u64> {
    if let Some(v) = header(headers, "retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            return Some(now_ms + (secs.max(0.0) * 1000.0) as u64);
        }
        if let Ok(t) = httpdate::parse_http_date(v)
            && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
        {
            return Some((d.as_millis() as u64).max(now_ms));
        }
    }
    let mut resets: Vec<u64> = Vec::new();
    let mut consider = |until: u64| resets.push(until);
    for kind in ["requests", "tokens"] {
        let exhausted = header(headers, &format!("x-ratelimit-remaining-{kind}"))
            .and_then(|v| v.parse::<f64>().ok())
            .is_none_or(|r| r <= 0.0);
        if exhausted
            && let Some(d) =
                header(headers, &format!("x-ratelimit-reset-{kind}")).and_then(parse_duration_ms)
        {
            consider(now_ms + d);
        }
    }
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        let exhausted = header(headers, &format!("anthropic-ratelimit-{kind}-remaining"))
            .and_then(|v| v.parse::<f64>().ok())
            .is_none_or(|r| r <= 0.0);
        if exhausted
            && let Some(t) = header(headers, &format!("anthropic-ratelimit-{kind}-reset"))
                .and_then(parse_rfc3339_ms)
        {
            consider(t.max(now_ms));
        }
    }
    if resets.is_empty()
        && let Some(v) = header(headers, "x-ratelimit-reset").and_then(|v| v.parse::<f64>().ok())
    {
        // Large values are a Unix time (seconds), small ones a delay.
        resets.push(if v > 1e9 { (v * 1000.0) as u64 } else { now_ms + (v * 1000.0) as u64 });
    }
    resets.into_iter().max()
}

/// Parses OpenAI's reset durations: `20ms`, `1s`, `6m0s`, `1h2m3.5s`.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1.0
            }
            'm' => 60_000.0,
            's' => 1000.0,
            _ => return None,
        };
        total += n * unit;
        any = true;
    }
    if !num.is_empty() {
        // A bare number is seconds.
        total += num.parse::<f64>().ok()? * 1000.0;
        any = true;
    }
    any.then_some(total as u64)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `2026-11-25T06:10:16Z` / `...16.5+02:00` into Unix ms.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if s.get(4..5)? != "-" || !matches!(s.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut frac_ms = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
        rest = &r[digits.len()..];
        let padded = format!("{digits:0<3}");
        frac_ms = padded.get(..3)?.parse().ok()?;
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo, d);
    let ms = ((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + frac_ms;
    u64::try_from(ms).ok()
}

/// The next 00:00 UTC after `now_ms`.
pub fn next_utc_midnight(now_ms: u64) -> u64 {
    (now_ms / DAY + 1) * DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_600_000_000;

    fn obs(status: Option<u16>, headers: &[(&str, &str)], body: &str) -> Verdict {
        let headers: Vec<(String, String)> =
            headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        classify(&Observed { status, headers: &headers, body }, NOW)
    }

    #[test]
    fn request_errors_neither_fall_back_nor_cool() {
        for (status, body) in [(400, "invalid 'messages'"), (413, "too big"), (422, "bad enum")] {
            let v = obs(Some(status), &[], body);
            assert_eq!(v.class, Class::Request, "{status}");
            assert!(!v.fallback && v.cool_connection.is_none() && v.lock_model.is_none());
            assert!(!v.breaker);
        }
    }

    #[test]
    fn context_overflow_falls_back_without_blame() {
        let v = obs(Some(400), &[], r#"{"error":{"code":"context_length_exceeded"}}"#);
        assert_eq!(
            (v.class, v.fallback, v.cool_connection, v.breaker),
            (Class::ContextOverflow, true, None, false)
        );
        let v = obs(Some(400), &[], "prompt is too long: 210000 tokens > 200000 maximum");
        assert_eq!(v.class, Class::ContextOverflow);
    }

    #[test]
    fn transient_failures_trip_breakers() {
        let v = obs(None, &[], "");
        assert_eq!((v.class, v.fallback, v.breaker), (Class::Transient, true, true));
        assert_eq!(v.cool_connection, Some(Cool::Backoff(None)), "the network: the account");
        for s in [Some(408), Some(500), Some(502), Some(503), Some(529)] {
            let v = obs(s, &[], "");
            assert_eq!((v.class, v.fallback, v.breaker), (Class::Transient, true, true), "{s:?}");
            assert_eq!((v.cool_connection, v.lock_model), (None, Some(Cool::Backoff(None))));
        }
        let v = obs(Some(503), &[("retry-after", "7")], "");
        assert_eq!(v.lock_model, Some(Cool::Backoff(Some(NOW + 7000))));
    }

    #[test]
    fn rate_limits_and_quotas() {
        let v = obs(Some(429), &[("retry-after", "2")], "rate limit reached");
        assert_eq!((v.class, v.breaker), (Class::RateLimited, false));
        assert_eq!(v.lock_model, Some(Cool::Backoff(Some(NOW + 2000))));
        let v = obs(Some(429), &[], r#"{"error":{"type":"insufficient_quota"}}"#);
        assert_eq!((v.class, v.cool_connection), (Class::Quota, Some(Cool::Until(NOW + HOUR))));
        let v =
            obs(Some(429), &[], "Quota exceeded for metric generate_requests_per_day (per day)");
        assert_eq!(v.cool_connection, Some(Cool::Until(next_utc_midnight(NOW))));
        let v = obs(Some(402), &[], "");
        assert_eq!(v.class, Class::Quota);
    }

    #[test]
    fn accounts_and_models() {
        let v = obs(Some(401), &[], "invalid api key");
        assert_eq!((v.class, v.fallback), (Class::Account, true));
        assert_eq!(v.cool_connection, Some(Cool::Until(NOW + ACCOUNT_COOL)));
        let v = obs(Some(404), &[], "model not found");
        assert_eq!(v.class, Class::ModelUnavailable);
        assert!(v.cool_connection.is_none() && v.lock_model.is_some());
        let v = obs(Some(403), &[], "The caller does not have access to model gpt-9");
        assert_eq!(v.class, Class::ModelUnavailable);
    }

    #[test]
    fn reset_headers() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert_eq!(
            reset_hint(
                &h(&[
                    ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "6m0s"),
                    ("x-ratelimit-remaining-tokens", "100"),
                    ("x-ratelimit-reset-tokens", "1s")
                ]),
                NOW
            ),
            Some(NOW + 360_000),
            "the exhausted limit's reset"
        );
        assert_eq!(
            reset_hint(
                &h(&[
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", "2026-11-25T10:00:00Z")
                ]),
                1_795_564_800_000
            ),
            Some(parse_rfc3339_ms("2026-11-25T10:00:00Z").unwrap())
        );
        assert_eq!(reset_hint(&h(&[("x-ratelimit-reset", "30")]), NOW), Some(NOW + 30_000));
        assert_eq!(
            reset_hint(&h(&[("x-ratelimit-reset", "1795600100")]), NOW),
            Some(1_795_600_100_000)
        );
        assert_eq!(
            reset_hint(&h(&[("retry-after", "Wed, 25 Nov 2026 12:00:00 GMT")]), 1_795_564_800_000),
            Some(parse_rfc3339_ms("2026-11-25T12:00:00Z").unwrap())
        );
        assert_eq!(reset_hint(&[], NOW), None);
    }

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(parse_duration_ms("20ms"), Some(20));
        assert_eq!(parse_duration_ms("1h2m3.5s"), Some(3_723_500));
        assert_eq!(parse_duration_ms("6m0s"), Some(360_000));
        assert_eq!(parse_duration_ms("7"), Some(7000));
        assert_eq!(parse_duration_ms("soon"), None);
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2026-11-25T00:00:00Z"), Some(1_795_564_800_000));
        assert_eq!(parse_rfc3339_ms("2026-11-25T02:00:00.250+02:00"), Some(1_795_564_800_250));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(next_utc_midnight(1_795_564_800_000 + 5), 1_795_564_800_000 + DAY);
    }
}
