//! Test support: a control plane that records its calls, and a tiny HTTP server on loopback.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::request::Parts;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use omniroute_control::{ControlError, ControlPlane, ErrorCode};
use serde_json::{Value, json};

/// One call as the fake control plane saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) tool: String,
    pub(crate) args: Value,
    /// The `Authorization` header of the HTTP request that carried the call, if any.
    pub(crate) auth: Option<String>,
    /// Whether the connector got request parts at all.
    pub(crate) had_parts: bool,
}

/// Answers `{"tool", "args"}`; refuses `omniroute_switch_combo` as a read-only key would.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fake {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

pub(crate) struct FakeCall {
    seen: Arc<Mutex<Vec<Seen>>>,
    auth: Option<String>,
    had_parts: bool,
}

impl Fake {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl crate::Connector for Fake {
    type Control = FakeCall;

    fn connect(&self, parts: Option<&Parts>) -> Result<FakeCall, ControlError> {
        let auth = parts
            .and_then(|p| p.headers.get(http::header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if auth.as_deref() == Some("Bearer refused") {
            return Err(ControlError::new(ErrorCode::Forbidden, "unknown API key"));
        }
        Ok(FakeCall { seen: self.seen.clone(), auth, had_parts: parts.is_some() })
    }
}

impl ControlPlane for FakeCall {
    async fn call(&self, tool: &str, args: Value) -> Result<Value, ControlError> {
        self.seen.lock().unwrap().push(Seen {
            tool: tool.to_owned(),
            args: args.clone(),
            auth: self.auth.clone(),
            had_parts: self.had_parts,
        });
        if tool == "omniroute_switch_combo" {
            return Err(ControlError::new(
                ErrorCode::Forbidden,
                "this API key lacks the scope write:combos",
            ));
        }
        Ok(json!({"tool": tool, "args": args}))
    }
}

/// Serves `handler` over HTTP/1.1 on a fresh loopback port until the test ends.
pub(crate) async fn loopback<F, Fut, B>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}
