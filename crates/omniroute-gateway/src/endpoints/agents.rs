//! Where agents come in: the control plane over HTTP (`/api/control`, used by the stdio
//! `omniroute-mcp` binary), MCP over HTTP, and the A2A agent. All take the client API keys of
//! `/v1`; what a key may do is bounded by its scopes.

use std::sync::Arc;

use http::request::Parts;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use omniroute_control::{ControlError, ControlPlane, ErrorCode, Tool};
use serde_json::{Value, json};

use crate::app::App;
use crate::auth;
use crate::control::{Caller, InProcess};
use crate::reply::{self, Reply};

/// Control-plane requests carry small JSON bodies.
const MAX_CONTROL_BODY: usize = 4 << 20;

fn control_error(e: &ControlError) -> Reply {
    let status = match e.code {
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::InvalidArguments => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Upstream => StatusCode::BAD_GATEWAY,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply::json(status, e.to_json().to_string())
}

/// The caller of an agent request, from its client key.
pub(crate) fn caller(app: &App, parts: &Parts, transport: &'static str) -> Option<Caller> {
    Caller::from_access(auth::check(&app.routes(), &parts.headers, parts.uri.query()), transport)
}

fn unauthorized() -> Reply {
    let e = ControlError::new(
        ErrorCode::Forbidden,
        "a valid client API key is required (Authorization: Bearer)",
    );
    let mut r = reply::json(StatusCode::UNAUTHORIZED, e.to_json().to_string());
    r.headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    r
}

/// `GET /api/control` (who am I, what may I call) and `POST /api/control/{tool}`.
pub(super) async fn control(app: &Arc<App>, parts: Parts, body: Incoming) -> Reply {
    // The stdio MCP binary says so, for the audit trail.
    let transport =
        match parts.headers.get("x-omniroute-transport").map(http::HeaderValue::as_bytes) {
            Some(b"stdio") => "stdio",
            _ => "http",
        };
    let Some(caller) = caller(app, &parts, transport) else { return unauthorized() };
    let path = parts.uri.path();
    if parts.method == Method::GET && path == "/api/control" {
        let tools: Vec<&str> = omniroute_control::TOOLS
            .iter()
            .filter(|t| t.missing_scope(&caller.scopes).is_none())
            .map(|t| t.name)
            .collect();
        let scopes: Vec<&str> = caller.scopes.iter().map(|s| s.id()).collect();
        let v = json!({"key": caller.key, "scopes": scopes, "tools": tools});
        return reply::json(StatusCode::OK, v.to_string());
    }
    let Some(tool) = path.strip_prefix("/api/control/").filter(|_| parts.method == Method::POST)
    else {
        let e = ControlError::new(
            ErrorCode::NotFound,
            "use GET /api/control or POST /api/control/{tool}",
        );
        return control_error(&e);
    };
    if Tool::find(tool).is_none() {
        return control_error(&ControlError::new(
            ErrorCode::NotFound,
            format!("no tool named `{tool}`"),
        ));
    }
    let tool = tool.to_owned();
    let bytes = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return control_error(&ControlError::new(
                ErrorCode::InvalidArguments,
                "the body could not be read or is too large",
            ));
        }
    };
    let args: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return control_error(&ControlError::new(
                    ErrorCode::InvalidArguments,
                    format!("the body is not JSON: {e}"),
                ));
            }
        }
    };
    let cp = InProcess { app: app.clone(), caller };
    match cp.call(&tool, args).await {
        Ok(v) => reply::json(StatusCode::OK, v.to_string()),
        Err(e) => control_error(&e),
    }
}

/// The gateway's MCP connector: each call's caller comes from its request's client key.
struct Connector {
    app: std::sync::Weak<App>,
}

impl omniroute_mcp::Connector for Connector {
    type Control = InProcess;

    fn connect(&self, parts: Option<&Parts>) -> Result<InProcess, ControlError> {
        let app = self.app.upgrade().ok_or_else(|| {
            ControlError::new(ErrorCode::Unavailable, "the gateway is shutting down")
        })?;
        let parts = parts.ok_or_else(|| {
            ControlError::new(ErrorCode::Forbidden, "no HTTP request to take a key from")
        })?;
        let transport =
            if parts.uri.path().starts_with("/api/mcp/stream") { "mcp-http" } else { "mcp-sse" };
        let caller = caller(&app, parts, transport).ok_or_else(|| {
            ControlError::new(ErrorCode::Forbidden, "a valid client API key is required")
        })?;
        Ok(InProcess { app, caller })
    }
}

/// The MCP transports, made on first use.
pub(crate) struct Mcp {
    http: omniroute_mcp::McpHttp,
    sse: omniroute_mcp::McpSse,
}

impl std::fmt::Debug for Mcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mcp")
    }
}

fn mcp(app: &Arc<App>) -> &Mcp {
    app.mcp.get_or_init(|| {
        let connector = Arc::new(Connector { app: Arc::downgrade(app) });
        Mcp {
            http: omniroute_mcp::streamable_http(connector.clone()),
            sse: omniroute_mcp::McpSse::new(connector),
        }
    })
}

/// A browser page may only reach the MCP endpoints from this machine (DNS rebinding) or from
/// the configured public URL.
fn origin_allowed(app: &App, parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = origin.split("://").nth(1).unwrap_or("");
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        || app
            .routes()
            .settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.trim_end_matches('/').starts_with(origin.trim_end_matches('/')))
}

fn jsonrpc_unauthorized() -> Reply {
    let mut r = jsonrpc_error(
        StatusCode::UNAUTHORIZED,
        -32000,
        "a valid client API key is required (Authorization: Bearer)",
    );
    r.headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    r
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Reply {
    let v = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    reply::json(status, v.to_string())
}

/// `/api/mcp/stream` (Streamable HTTP), `/api/mcp/sse` and `/api/mcp/message` (HTTP+SSE).
pub(super) async fn mcp_http(app: &Arc<App>, req: http::Request<Incoming>) -> Reply {
    if !app.routes().settings.mcp_http {
        return jsonrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32000,
            "MCP over HTTP is switched off (setting mcp_http_enabled)",
        );
    }
    let (parts, body) = req.into_parts();
    if !origin_allowed(app, &parts) {
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            -32000,
            "this Origin may not use the MCP endpoint",
        );
    }
    if caller(app, &parts, "mcp-http").is_none() {
        return jsonrpc_unauthorized();
    }
    let m = mcp(app);
    match (parts.method.clone(), parts.uri.path()) {
        (_, "/api/mcp/stream") => {
            reply::other(m.http.handle(http::Request::from_parts(parts, body)).await)
        }
        (Method::GET, "/api/mcp/sse") => reply::other(m.sse.open(parts, "/api/mcp/message").await),
        (Method::POST, "/api/mcp/message") => {
            let session = parts
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("sessionId=")))
                .unwrap_or_default()
                .to_owned();
            let bytes = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => return jsonrpc_error(StatusCode::BAD_REQUEST, -32700, "unreadable body"),
            };
            let status = m.sse.post(&session, bytes).await;
            let mut r = reply::json(status, "");
            r.headers_mut().remove(http::header::CONTENT_TYPE);
            r
        }
        _ => jsonrpc_error(StatusCode::NOT_FOUND, -32601, "use /api/mcp/stream or /api/mcp/sse"),
    }
}

/// A2A tasks in the database.
pub(crate) struct DbTasks(pub(crate) omniroute_storage::Db);

impl omniroute_a2a::TaskStore for DbTasks {
    fn save(&self, t: &omniroute_a2a::StoredTask) {
        let state = serde_json::to_value(t.task.status.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = self.0.save_task(
            &t.task.id,
            &state,
            t.key_name.as_deref(),
            &t.to_json(),
            t.created_ms,
            t.updated_ms,
        );
    }

    fn load(&self, id: &str) -> Option<omniroute_a2a::StoredTask> {
        let text = self.0.task(id).ok().flatten()?;
        omniroute_a2a::StoredTask::from_json(&text).ok()
    }

    fn list(&self, limit: usize) -> Vec<omniroute_a2a::StoredTask> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.0
            .tasks(limit)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| omniroute_a2a::StoredTask::from_json(t).ok())
            .collect()
    }

    fn expire(&self, before_ms: i64) {
        let _ = self.0.expire_tasks(before_ms);
    }
}

/// The base URL as the client reached this server (`Host`, `X-Forwarded-Proto`).
fn base_url(parts: &Parts) -> String {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("127.0.0.1:20128");
    let scheme = match parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The agent card (`/.well-known/agent-card.json`, `/.well-known/agent.json`), public.
pub(super) fn agent_card(app: &App, parts: &Parts) -> Reply {
    if !app.routes().settings.a2a {
        return jsonrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32000,
            "the A2A agent is switched off (setting a2a_enabled)",
        );
    }
    let card = app.a2a.agent_card(&base_url(parts));
    reply::json(StatusCode::OK, serde_json::to_string(&card).unwrap_or_default())
}

/// `POST /a2a`: JSON-RPC for callers with a client key.
pub(super) async fn a2a(app: &Arc<App>, parts: Parts, body: Incoming) -> Reply {
    if !app.routes().settings.a2a {
        return jsonrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            -32000,
            "the A2A agent is switched off (setting a2a_enabled)",
        );
    }
    let Some(caller) = caller(app, &parts, "a2a") else {
        return jsonrpc_unauthorized();
    };
    let bytes = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return jsonrpc_error(
                StatusCode::OK,
                -32600,
                "the request body could not be read or is too large",
            );
        }
    };
    let key = caller.key.clone();
    let control = InProcess { app: app.clone(), caller };
    match app.a2a.handle_as(control, key.as_deref(), &bytes).await {
        omniroute_a2a::A2aReply::Json(v) => reply::json(StatusCode::OK, v.to_string()),
        omniroute_a2a::A2aReply::Stream(rx) => {
            let body = http_body_util::combinators::BoxBody::new(Frames(rx));
            let mut r = reply::other(http::Response::new(body));
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/event-stream"),
            );
            h.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
            r
        }
    }
}

/// SSE frames from the agent, as a response body.
struct Frames(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for Frames {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|f| f.map(|b| Ok(http_body::Frame::data(b))))
    }
}
