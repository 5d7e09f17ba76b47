//! Building the upstream request: URL, credentials and headers for one provider connection.

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::Full;
use omniroute_core::Secret;
use omniroute_translate::Format;

use crate::registry::{Auth, Provider};

/// One account or key of a provider.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The provider's id.
    pub provider: String,
    /// A name for logs and the dashboard.
    pub name: String,
    /// The upstream credential, if the provider needs one.
    pub api_key: Option<Secret>,
    /// Overrides the provider's base URL.
    pub base_url: Option<String>,
    /// Fills `{account_id}` in base URLs that need it (Cloudflare).
    pub account_id: Option<String>,
    /// Lower is tried first.
    pub priority: i64,
}

/// What the upstream call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Chat / messages / generateContent / responses.
    Generate {
        /// Ask for a stream.
        stream: bool,
    },
    /// Anthropic `count_tokens` (or Gemini `countTokens`).
    CountTokens,
    /// OpenAI-shaped embeddings.
    Embeddings,
}

/// A request ready for the client.
pub type UpstreamRequest = http::Request<Full<Bytes>>;

/// Why a request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The provider's base URL needs an account id the connection does not have.
    #[error("provider `{0}` needs an account id on its connection")]
    MissingAccountId(String),
    /// The URL or a header is not valid.
    #[error("invalid upstream request for `{provider}`: {reason}")]
    Invalid { provider: String, reason: String },
}

fn url(
    provider: &Provider,
    conn: &Connection,
    endpoint: Endpoint,
    model: &str,
) -> Result<String, BuildError> {
    let mut base = conn.base_url.clone().unwrap_or_else(|| provider.base_url.clone());
    if base.contains("{account_id}") {
        let id = conn
            .account_id
            .as_deref()
            .ok_or_else(|| BuildError::MissingAccountId(provider.id.clone()))?;
        base = base.replace("{account_id}", id);
    }
    let base = base.trim_end_matches('/');
    Ok(match (provider.format, endpoint) {
        (Format::OpenAiChat, Endpoint::Embeddings) | (Format::Responses, Endpoint::Embeddings) => {
            format!("{base}/embeddings")
        }
        (Format::OpenAiChat, _) => format!("{base}/chat/completions"),
        (Format::Responses, _) => format!("{base}/responses"),
        (Format::Anthropic, Endpoint::CountTokens) => format!("{base}/v1/messages/count_tokens"),
        (Format::Anthropic, _) => format!("{base}/v1/messages"),
        (Format::Gemini, Endpoint::Generate { stream: true }) => {
            format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
        }
        (Format::Gemini, Endpoint::CountTokens) => {
            format!("{base}/v1beta/models/{model}:countTokens")
        }
        (Format::Gemini, Endpoint::Embeddings) => {
            format!("{base}/v1beta/models/{model}:embedContent")
        }
        (Format::Gemini, Endpoint::Generate { stream: false }) => {
            format!("{base}/v1beta/models/{model}:generateContent")
        }
    })
}

/// Builds the upstream request for one connection of a provider.
pub fn build_request(
    provider: &Provider,
    conn: &Connection,
    endpoint: Endpoint,
    model: &str,
    body: Bytes,
) -> Result<UpstreamRequest, BuildError> {
    let invalid = |reason: String| BuildError::Invalid { provider: provider.id.clone(), reason };
    let uri = url(provider, conn, endpoint, model)?;
    let mut req =
        http::Request::post(uri).body(Full::new(body)).map_err(|e| invalid(e.to_string()))?;
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("omniroute/", env!("CARGO_PKG_VERSION"))),
    );
    if matches!(endpoint, Endpoint::Generate { stream: true }) {
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    } else {
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    }
    if let Some(key) = &conn.api_key {
        // Never format the key into the error: `invalid` gets a fixed reason.
        let value = |prefix: &str| {
            HeaderValue::from_str(&format!("{prefix}{}", key.expose()))
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| {
                    invalid("the API key contains characters not allowed in a header".into())
                })
        };
        match provider.auth {
            Auth::Bearer => {
                h.insert(AUTHORIZATION, value("Bearer ")?);
            }
            Auth::XApiKey => {
                h.insert(HeaderName::from_static("x-api-key"), value("")?);
            }
            Auth::XGoogApiKey => {
                h.insert(HeaderName::from_static("x-goog-api-key"), value("")?);
            }
            Auth::None => {}
        }
    }
    for (k, v) in &provider.extra_headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let value = HeaderValue::from_str(v).map_err(|e| invalid(e.to_string()))?;
        h.insert(name, value);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    fn conn(provider: &str) -> Connection {
        Connection {
            provider: provider.into(),
            name: "a".into(),
            api_key: Some(Secret::new("k-123")),
            base_url: None,
            account_id: None,
            priority: 0,
        }
    }

    #[test]
    fn urls_and_auth_follow_each_format() {
        let r = Registry::builtin().unwrap();
        let gen_ = Endpoint::Generate { stream: true };
        let a = r.get("anthropic").unwrap();
        let req = build_request(a, &conn("anthropic"), gen_, "claude-x", Bytes::new()).unwrap();
        assert_eq!(req.uri(), "https://api.anthropic.com/v1/messages");
        assert_eq!(req.headers()["x-api-key"], "k-123");
        assert_eq!(req.headers()["anthropic-version"], "2023-06-01");
        let g = r.get("gemini").unwrap();
        let req = build_request(g, &conn("gemini"), gen_, "gemini-2.5-pro", Bytes::new()).unwrap();
        assert_eq!(
            req.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.headers()["x-goog-api-key"], "k-123");
        let o = r.get("openai").unwrap();
        let mut c = conn("openai");
        c.base_url = Some("http://127.0.0.1:9/v1/".into());
        let req =
            build_request(o, &c, Endpoint::Generate { stream: false }, "gpt-4o", Bytes::new())
                .unwrap();
        assert_eq!(req.uri(), "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(req.headers()["authorization"], "Bearer k-123");
        assert!(req.headers()["authorization"].is_sensitive());
    }

    #[test]
    fn account_ids_fill_the_base_url() {
        let r = Registry::builtin().unwrap();
        let cf = r.get("cloudflare").unwrap();
        let err = build_request(
            cf,
            &conn("cloudflare"),
            Endpoint::Generate { stream: false },
            "m",
            Bytes::new(),
        );
        assert!(matches!(err, Err(BuildError::MissingAccountId(_))));
        let mut c = conn("cloudflare");
        c.account_id = Some("acc1".into());
        let req =
            build_request(cf, &c, Endpoint::Generate { stream: false }, "m", Bytes::new()).unwrap();
        assert!(req.uri().to_string().contains("/accounts/acc1/"));
    }
}
