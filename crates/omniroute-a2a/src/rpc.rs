//! JSON-RPC 2.0 framing: reading one request object, writing response objects and SSE frames,
//! and the error codes of the JSON-RPC and A2A specifications.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::types::TaskState;

/// Why a call failed, with its JSON-RPC error code ([`A2aError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum A2aError {
    /// -32700: the body is not JSON.
    #[error("Invalid JSON payload: {0}")]
    Parse(String),
    /// -32600: JSON, but not a JSON-RPC 2.0 request object.
    #[error("Invalid JSON-RPC request: {0}")]
    InvalidRequest(String),
    /// -32601.
    #[error("Method not found: {0}")]
    MethodNotFound(String),
    /// -32602.
    #[error("Invalid params: {0}")]
    InvalidParams(String),
    /// -32603.
    #[error("Internal error: {0}")]
    Internal(String),
    /// -32001: no such task (or it expired, or another key created it).
    #[error("Task not found: {0}")]
    TaskNotFound(String),
    /// -32002: the task is already in a terminal state.
    #[error("Task cannot be canceled: task {id} is already {}", .state.as_str())]
    TaskNotCancelable { id: String, state: TaskState },
    /// -32003: push notifications were asked for; the card says they are not offered.
    #[error("Push Notification is not supported")]
    PushNotificationNotSupported,
    /// -32007: the card offers no authenticated extended card.
    #[error("Authenticated Extended Card is not configured")]
    ExtendedCardNotConfigured,
}

impl A2aError {
    /// Its JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            A2aError::Parse(_) => -32700,
            A2aError::InvalidRequest(_) => -32600,
            A2aError::MethodNotFound(_) => -32601,
            A2aError::InvalidParams(_) => -32602,
            A2aError::Internal(_) => -32603,
            A2aError::TaskNotFound(_) => -32001,
            A2aError::TaskNotCancelable { .. } => -32002,
            A2aError::PushNotificationNotSupported => -32003,
            A2aError::ExtendedCardNotConfigured => -32007,
        }
    }

    /// The JSON-RPC error object `{"code", "message"}`.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code(), "message": self.to_string()})
    }
}

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    /// A string, an integer or null; echoed in every response.
    pub(crate) id: Value,
    pub(crate) method: String,
    pub(crate) params: Option<Value>,
}

/// Reads one request object; on failure, the id to answer with (null when unknown) and the
/// error. Batches are not part of A2A and are refused as invalid requests.
pub(crate) fn parse(body: &[u8]) -> Result<Request, (Value, A2aError)> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| (Value::Null, A2aError::Parse(e.to_string())))?;
    let Value::Object(mut o) = v else {
        return Err((
            Value::Null,
            A2aError::InvalidRequest("the body is not a JSON-RPC request object".into()),
        ));
    };
    let id = match o.remove("id") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => Value::String(s),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        Some(_) => {
            return Err((
                Value::Null,
                A2aError::InvalidRequest("`id` must be a string, an integer or null".into()),
            ));
        }
    };
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((id, A2aError::InvalidRequest("`jsonrpc` must be \"2.0\"".into())));
    }
    let method = match o.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Err((id, A2aError::InvalidRequest("`method` must be a string".into()))),
    };
    let params = match o.remove("params") {
        None | Some(Value::Null) => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(_) => {
            return Err((
                id,
                A2aError::InvalidRequest("`params` must be an object or an array".into()),
            ));
        }
    };
    Ok(Request { id, method, params })
}

/// A success response.
pub(crate) fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response.
pub(crate) fn error(id: &Value, e: &A2aError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()})
}

/// One SSE event carrying `v` in its `data` field.
pub(crate) fn sse_frame(v: &Value) -> Bytes {
    // serde_json writes no newlines, so one `data:` line holds the whole object.
    Bytes::from(format!("data: {v}\n\n"))
}

/// The SSE comment sent while a stream is idle, so proxies keep the connection open.
pub(crate) const SSE_PING: &[u8] = b": ping\n\n";
