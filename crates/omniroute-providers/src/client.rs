//! The pooled HTTPS client to upstreams (hyper-util over rustls, HTTP/1.1 and HTTP/2).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::failure::{Failure, FailureKind, rate_limit_headers, retry_after};
use crate::upstream::UpstreamRequest;

/// Upstream response bodies, streamed.
pub type ResponseBody = Incoming;

/// Client settings.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Until response headers arrive.
    pub request_timeout: Duration,
    /// Idle pooled connections are closed after this.
    pub pool_idle_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// A cheap-to-clone handle on the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    config: ClientConfig,
}

/// Error bodies are read whole to translate them, but never more than this.
const MAX_ERROR_BODY: usize = 1 << 20;

impl Client {
    /// A client with its own pool.
    pub fn new(config: ClientConfig) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        let tls = rustls_config();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(256)
            .build(https);
        Client { inner, config }
    }

    /// Sends a request. A 2xx response comes back with its body unread (streams stay streams);
    /// anything else is a classified [`Failure`] carrying the upstream's error body.
    pub async fn send(
        &self,
        req: UpstreamRequest,
    ) -> Result<http::Response<ResponseBody>, Failure> {
        let fut = self.inner.request(req);
        let resp = match tokio::time::timeout(self.config.request_timeout, fut).await {
            Err(_) => {
                return Err(Failure::new(FailureKind::Timeout, "upstream did not answer in time"));
            }
            Ok(Err(e)) if e.is_connect() => {
                return Err(Failure::new(
                    FailureKind::Connect,
                    "could not connect to the upstream",
                ));
            }
            Ok(Err(_)) => {
                return Err(Failure::new(FailureKind::Protocol, "the upstream connection failed"));
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry = retry_after(resp.headers());
        let headers = rate_limit_headers(resp.headers());
        let body = tokio::time::timeout(
            self.config.request_timeout,
            Limited::new(resp.into_body(), MAX_ERROR_BODY).collect(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|c| c.to_bytes());
        let mut f =
            Failure::new(FailureKind::Status(status), format!("upstream returned HTTP {status}"));
        f.retry_after = retry;
        f.body = body;
        f.headers = headers;
        Err(f)
    }
}

fn rustls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots.clone()).with_no_client_auth())
    .unwrap_or_else(|_| {
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
    })
}
