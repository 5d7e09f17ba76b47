//! The control plane of a gateway running elsewhere, over its HTTP control endpoint.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use omniroute_control::{ControlError, ControlPlane, ErrorCode};
use serde_json::Value;

use crate::server::Connector;

/// Connecting to the gateway, usually on this machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole call: `omniroute_route_request` and `omniroute_test_combo` wait for upstreams.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Answers are small JSON documents; anything bigger is refused.
const MAX_BODY: usize = 32 << 20;

/// Runs tools on a running gateway: `POST {url}/api/control/{tool}` with the arguments as the
/// JSON body and `Authorization: Bearer <api key>`.
///
/// Requests say `x-omniroute-transport: stdio`, so the gateway's audit trail names the
/// transport of the `omniroute-mcp` binary. As a [`Connector`] it hands every caller a clone of
/// itself: the key, not the caller, decides what may run. No error message it makes contains
/// the key.
#[derive(Clone)]
pub struct HttpControl {
    base: String,
    auth: Option<HeaderValue>,
    key: Option<String>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpControl")
            .field("url", &self.base)
            .field("api_key", &self.key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl HttpControl {
    /// A client of the gateway at `url` (`http://` or `https://`, e.g.
    /// `http://127.0.0.1:20128`), calling with `api_key` when one is given.
    pub fn new(url: &str, api_key: Option<&str>) -> Result<HttpControl, ControlError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let probe: Uri = format!("{base}/api/control").parse().map_err(|_| {
            ControlError::new(ErrorCode::InvalidArguments, format!("`{base}` is not a URL"))
        })?;
        if !matches!(probe.scheme_str(), Some("http" | "https")) || probe.authority().is_none() {
            return Err(ControlError::new(
                ErrorCode::InvalidArguments,
                format!("`{base}` is not an http:// or https:// URL"),
            ));
        }
        let key = api_key.filter(|k| !k.is_empty()).map(str::to_owned);
        let auth = match &key {
            Some(k) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {k}")).map_err(|_| {
                    ControlError::new(
                        ErrorCode::InvalidArguments,
                        "the API key contains characters an HTTP header cannot carry",
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(HttpControl { base, auth, key, client: client() })
    }

    /// The gateway's address, as given (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /api/control`: `{"key": name or null, "scopes": [...], "tools": [...]}`, the key's
    /// name, its scopes and the tools it may call.
    pub async fn whoami(&self) -> Result<Value, ControlError> {
        self.send(Method::GET, "/api/control".to_owned(), Bytes::new()).await
    }

    async fn send(&self, method: Method, path: String, body: Bytes) -> Result<Value, ControlError> {
        self.send_inner(method, path, body).await.map_err(|e| self.scrub(e))
    }

    async fn send_inner(
        &self,
        method: Method,
        path: String,
        body: Bytes,
    ) -> Result<Value, ControlError> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header("x-omniroute-transport", "stdio");
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let req = req.body(Full::new(body)).map_err(|_| {
            ControlError::new(ErrorCode::Internal, format!("cannot build a request to {path}"))
        })?;
        let resp = match tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req)).await {
            Err(_) => {
                return Err(self.unavailable(format!("did not answer within {REQUEST_TIMEOUT:?}")));
            }
            Ok(Err(e)) => return Err(self.unavailable(innermost(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let bytes = match tokio::time::timeout(
            REQUEST_TIMEOUT,
            Limited::new(resp.into_body(), MAX_BODY).collect(),
        )
        .await
        {
            Ok(Ok(c)) => c.to_bytes(),
            _ => return Err(self.unavailable("the answer could not be read".to_owned())),
        };
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                ControlError::new(
                    ErrorCode::Internal,
                    format!("the gateway's answer is not JSON: {e}"),
                )
            });
        }
        Err(error_from(status, &bytes))
    }

    fn unavailable(&self, why: String) -> ControlError {
        ControlError::new(
            ErrorCode::Unavailable,
            format!("cannot reach the omniroute gateway at {}: {why}", self.base),
        )
    }

    /// Whatever the gateway says, the key is not repeated to the MCP client.
    fn scrub(&self, mut e: ControlError) -> ControlError {
        if let Some(k) = &self.key
            && e.message.contains(k.as_str())
        {
            e.message = e.message.replace(k.as_str(), "[redacted]");
        }
        e
    }
}

impl ControlPlane for HttpControl {
    async fn call(&self, tool: &str, args: Value) -> Result<Value, ControlError> {
        if tool.is_empty() || !tool.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ControlError::new(ErrorCode::NotFound, format!("no tool named `{tool}`")));
        }
        let body = Bytes::from(args.to_string());
        self.send(Method::POST, format!("/api/control/{tool}"), body).await
    }
}

impl Connector for HttpControl {
    type Control = HttpControl;

    fn connect(&self, _parts: Option<&http::request::Parts>) -> Result<HttpControl, ControlError> {
        Ok(self.clone())
    }
}

/// The gateway's `{"error": {"code", "message"}}`, or a classification by status.
fn error_from(status: StatusCode, body: &[u8]) -> ControlError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    if let Some(message) = error.and_then(|e| e["message"].as_str()) {
        let code = error
            .and_then(|e| e["code"].as_str())
            .map_or_else(|| by_status(status), ErrorCode::parse);
        return ControlError::new(code, message);
    }
    ControlError::new(by_status(status), format!("the gateway answered HTTP {}", status.as_u16()))
}

fn by_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 | 403 => ErrorCode::Forbidden,
        400 | 422 => ErrorCode::InvalidArguments,
        404 => ErrorCode::NotFound,
        503 => ErrorCode::Unavailable,
        502 | 504 => ErrorCode::Upstream,
        _ => ErrorCode::Internal,
    }
}

/// The most specific reason in an error chain ("Connection refused (os error 111)").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn client() -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_webpki_roots().with_no_client_auth())
    .unwrap_or_else(|_| rustls::ClientConfig::builder().with_webpki_roots().with_no_client_auth());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https)
}

#[cfg(test)]
mod tests;
