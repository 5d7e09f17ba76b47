//! Client authentication: `Authorization: Bearer`, `x-api-key` (Anthropic SDK),
//! `x-goog-api-key` and `?key=` (Gemini SDK).

use std::sync::Arc;

use http::HeaderMap;

use crate::routes::{ClientKey, Routes};

/// The key a client presented, wherever its SDK puts it.
pub(crate) fn presented<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(k) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(k.trim());
        }
    }
    for h in ["x-api-key", "x-goog-api-key"] {
        if let Some(k) = headers.get(h).and_then(|v| v.to_str().ok()) {
            return Some(k.trim());
        }
    }
    query?.split('&').find_map(|kv| kv.strip_prefix("key="))
}

/// The outcome of checking a request's key.
pub(crate) enum Access {
    /// No key is needed (loopback, none configured).
    Open,
    /// A configured key matched.
    Key(Arc<ClientKey>),
    /// A key was needed and none, or a wrong one, was given.
    Denied,
}

/// Finds the key by the SHA-256 of what was presented: only hashes are kept, and the lookup
/// compares digests, so its timing says nothing about the key itself.
pub(crate) fn check(routes: &Routes, headers: &HeaderMap, query: Option<&str>) -> Access {
    let given = presented(headers, query);
    if let Some(given) = given
        && let Some(k) = routes.keys.get(&omniroute_storage::hash_client_key(given))
    {
        return Access::Key(k.clone());
    }
    if routes.require_key { Access::Denied } else { Access::Open }
}

/// Whether a key may use a model: `*` matches any run of characters.
pub(crate) fn allows(key: &ClientKey, model: &str) -> bool {
    match &key.models {
        None => true,
        Some(patterns) => patterns.iter().any(|p| glob(p, model)),
    }
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "anything/at-all"));
        assert!(glob("openai/*", "openai/gpt-4o"));
        assert!(!glob("openai/*", "anthropic/claude"));
        assert!(glob("*-mini", "openai/gpt-4o-mini"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exact2"));
    }

    #[test]
    fn keys_come_from_every_sdk_header() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k1".parse().unwrap());
        assert_eq!(presented(&h, None), Some("k1"));
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer k2".parse().unwrap());
        assert_eq!(presented(&h, None), Some("k2"));
        assert_eq!(presented(&HeaderMap::new(), Some("alt=sse&key=k3")), Some("k3"));
    }
}
