//! The management API client: blocking calls over hyper-util's client on a current-thread tokio
//! runtime, and the error whose kind becomes the exit code.

use std::fmt;
use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for an answer's headers, and then for each piece of its body.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// No answer: the connection failed or timed out.
    Unreachable(String),
    /// The server answered with an error status.
    Api { status: u16, message: String },
    /// The command line (or the URL it names) cannot be used.
    Usage(String),
    /// Anything else: a local file, an unexpected answer.
    Other(String),
}

impl Error {
    /// The process exit code for this failure (see the crate docs).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Error::Other(_) => 1,
            Error::Usage(_) => 2,
            Error::Unreachable(_) => 3,
            Error::Api { status: 401 | 403, .. } => 4,
            Error::Api { status: 404, .. } => 5,
            Error::Api { status: 400 | 409 | 413 | 422, .. } => 6,
            Error::Api { .. } => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable(m) | Error::Usage(m) | Error::Other(m) => f.write_str(m),
            Error::Api { message, .. } => f.write_str(message),
        }
    }
}

/// A request body.
pub(crate) enum Body {
    Empty,
    Json(Value),
    /// Raw bytes with their content type.
    Raw(&'static str, Bytes),
}

/// A connection to one server's management API.
pub(crate) struct Client {
    base: String,
    token: Option<HeaderValue>,
    /// Added to a 401's message when no token was sent.
    no_token_hint: Option<String>,
    runtime: tokio::runtime::Runtime,
    inner: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// A client for the server at `base` (`http://` or `https://`), sending `token` if given.
    pub(crate) fn new(base: &str, token: Option<&str>) -> Result<Self, Error> {
        let base = base_url(base)?;
        let token = token
            .map(|t| {
                let mut v = HeaderValue::try_from(format!("Bearer {t}")).map_err(|_| {
                    Error::Usage("the admin token has characters a header cannot carry".into())
                })?;
                v.set_sensitive(true);
                Ok::<_, Error>(v)
            })
            .transpose()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // Only the `ring` provider is compiled in (as in omniroute-providers), so rustls picks it
        // as the process default.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(Client { base, token, no_token_hint: None, runtime, inner })
    }

    /// Explains, on a 401 answered to a request without a token, where a token would come from.
    pub(crate) fn with_no_token_hint(mut self, hint: Option<String>) -> Self {
        self.no_token_hint = hint;
        self
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A call answering JSON; `Null` for an empty answer (`204`).
    pub(crate) fn json(&self, method: Method, path: &str, body: Body) -> Result<Value, Error> {
        let bytes = self.bytes(method, path, body)?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Other(format!("the server's answer is not JSON: {e}")))
    }

    /// A `GET` answering JSON.
    pub(crate) fn get(&self, path: &str) -> Result<Value, Error> {
        self.json(Method::GET, path, Body::Empty)
    }

    /// A call whose whole answer body is returned as is.
    pub(crate) fn bytes(&self, method: Method, path: &str, body: Body) -> Result<Bytes, Error> {
        let resp = self.send(method, path, body)?;
        self.collect(resp.into_body())
    }

    /// A `GET` whose answer body is read as it arrives.
    pub(crate) fn download(&self, path: &str) -> Result<Download<'_>, Error> {
        let resp = self.send(Method::GET, path, Body::Empty)?;
        Ok(Download { client: self, body: resp.into_body(), buf: Bytes::new() })
    }

    /// Sends a request; a non-2xx answer becomes [`Error::Api`].
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<http::Response<Incoming>, Error> {
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| Error::Usage(format!("cannot build a URL for {path}: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, concat!("omniroute-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, t.clone());
        }
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::Json(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            Body::Raw(content_type, b) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                b
            }
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| Error::Other(format!("cannot build the request: {e}")))?;
        let resp = match self.wait(self.inner.request(req)) {
            None => {
                return Err(Error::Unreachable(format!(
                    "{} did not answer within {} s",
                    self.base,
                    ANSWER_TIMEOUT.as_secs()
                )));
            }
            Some(Err(e)) => {
                return Err(Error::Unreachable(format!(
                    "cannot reach {}: {}",
                    self.base,
                    root_cause(&e)
                )));
            }
            Some(Ok(resp)) => resp,
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = self.collect(resp.into_body()).unwrap_or_default();
        let mut message = error_message(status, &body);
        if status == StatusCode::UNAUTHORIZED
            && self.token.is_none()
            && let Some(hint) = &self.no_token_hint
        {
            message = format!("{message} ({hint})");
        }
        Err(Error::Api { status: status.as_u16(), message })
    }

    fn collect(&self, body: Incoming) -> Result<Bytes, Error> {
        match self.wait(body.collect()) {
            Some(Ok(c)) => Ok(c.to_bytes()),
            Some(Err(e)) => Err(Error::Unreachable(format!(
                "the answer from {} broke off: {}",
                self.base,
                root_cause(&e)
            ))),
            None => Err(Error::Unreachable(format!("{} stopped answering", self.base))),
        }
    }

    /// Runs `f` to completion on the runtime; `None` if it takes longer than [`ANSWER_TIMEOUT`].
    fn wait<F: Future>(&self, f: F) -> Option<F::Output> {
        // The timer must be made inside the runtime, hence the `async` block.
        self.runtime.block_on(async { tokio::time::timeout(ANSWER_TIMEOUT, f).await.ok() })
    }
}

/// An answer body being read.
pub(crate) struct Download<'a> {
    client: &'a Client,
    body: Incoming,
    buf: Bytes,
}

impl Read for Download<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.client.wait(self.body.frame()) {
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server stopped sending",
                    ));
                }
                Some(None) => return Ok(0),
                Some(Some(Err(e))) => return Err(io::Error::other(root_cause(&e))),
                Some(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf = data;
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// Checks a base URL and drops its trailing slashes.
pub(crate) fn base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim_end_matches('/');
    let bad = || Error::Usage(format!("`{url}` is not an http:// or https:// URL"));
    let uri: Uri = trimmed.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(trimmed.to_owned()),
        _ => Err(bad()),
    }
}

/// One path segment: what RFC 3986 allows in one (`pchar`) is left as is, the rest (`/`, `?`,
/// `#`, `%`, spaces, non-ASCII) percent-encoded. The server matches segments without decoding
/// them, so names are best kept to the characters that pass unchanged.
pub(crate) fn segment(s: &str) -> String {
    encode(s, b"-._~!$&'()*+,;=:@")
}

/// Percent-encodes all but ASCII letters, digits and `keep`.
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string (`?a=1&b=2`, or nothing) from the pairs that have a value.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v, b"-._~"))))
        .collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// The message of an error answer: `{"error": {"message"}}` when the body has it.
pub(crate) fn error_message(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        e.get("message").and_then(Value::as_str).or_else(|| e.as_str()).map(str::to_owned)
    });
    message.unwrap_or_else(|| format!("the server answered HTTP {status}"))
}

/// The innermost cause of an error, which is the one that says what happened
/// (`Connection refused (os error 111)` rather than `client error (Connect)`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_status() {
        let api = |status| Error::Api { status, message: String::new() }.exit_code();
        assert_eq!(api(401), 4);
        assert_eq!(api(403), 4);
        assert_eq!(api(404), 5);
        for s in [400, 409, 413, 422] {
            assert_eq!(api(s), 6);
        }
        assert_eq!(api(429), 1);
        assert_eq!(api(500), 1);
        assert_eq!(Error::Unreachable(String::new()).exit_code(), 3);
        assert_eq!(Error::Usage(String::new()).exit_code(), 2);
        assert_eq!(Error::Other(String::new()).exit_code(), 1);
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let body = br#"{"error": {"type": "not_found", "message": "no combo named `fast`"}}"#;
        assert_eq!(error_message(StatusCode::NOT_FOUND, body), "no combo named `fast`");
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>"),
            "the server answered HTTP 502 Bad Gateway"
        );
        assert_eq!(error_message(StatusCode::BAD_REQUEST, br#"{"error": "bad"}"#), "bad");
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(base_url("http://127.0.0.1:20128/").unwrap(), "http://127.0.0.1:20128");
        assert_eq!(base_url("https://gw.example/omni").unwrap(), "https://gw.example/omni");
        assert!(base_url("127.0.0.1:20128").is_err());
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("http://x/?a=b").is_err());
        assert_eq!(base_url("nope").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(segment("fast-1.0_x~:@+"), "fast-1.0_x~:@+");
        assert_eq!(segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("group_by", Some("key".into())),
                ("x", None),
                ("since", Some("2024-01-01".into()))
            ]),
            "?group_by=key&since=2024-01-01"
        );
        assert_eq!(
            query(&[("model", Some("mo/gpt+mock &".into()))]),
            "?model=mo%2Fgpt%2Bmock%20%26"
        );
    }

    #[test]
    fn the_token_is_never_in_debug_output() {
        let c = Client::new("http://127.0.0.1:1", Some("secret-token")).unwrap();
        assert!(!format!("{:?}", c.token).contains("secret-token"));
    }

    #[test]
    fn an_unreachable_server_is_exit_code_3() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let c = Client::new("http://127.0.0.1:1", None).unwrap();
        let e = c.get("/api/health").unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().starts_with("cannot reach http://127.0.0.1:1"), "{e}");
    }
}
