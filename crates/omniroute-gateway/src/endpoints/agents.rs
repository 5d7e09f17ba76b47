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
