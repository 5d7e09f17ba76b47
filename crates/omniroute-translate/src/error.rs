//! The crate's error type, and error bodies in each format's own shape.

use serde_json::{Value, json};

use crate::Format;
use crate::ir::{ErrorInfo, ErrorKind};

/// Why a translation failed. Only invalid input fails; what a target cannot carry is a
/// [`crate::Note`], not an error.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The body is not valid JSON, or not the shape its format defines.
    #[error("invalid {format} body: {message}")]
    InvalidBody { format: Format, message: String },
    /// A format id that this crate does not know.
    #[error("unknown format `{0}`")]
    UnknownFormat(String),
    /// Output could not be encoded.
    #[error("could not encode output: {0}")]
    Encode(String),
}

impl TranslateError {
    pub(crate) fn invalid(format: Format, e: impl std::fmt::Display) -> Self {
        TranslateError::InvalidBody { format, message: e.to_string() }
    }

    /// A short, stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TranslateError::InvalidBody { .. } => "invalid_body",
            TranslateError::UnknownFormat(_) => "unknown_format",
            TranslateError::Encode(_) => "encode",
        }
    }
}

/// Parses an upstream error body of any format (or plain text) into the IR.
pub(crate) fn error_to_ir(format: Format, status: u16, body: &[u8]) -> ErrorInfo {
    let fallback = ErrorKind::from_status(status);
    let text = || String::from_utf8_lossy(body).trim().to_owned();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let message = text();
        let message =
            if message.is_empty() { format!("upstream returned HTTP {status}") } else { message };
        return ErrorInfo { kind: fallback, message, code: None, param: None };
    };
    // Some upstreams wrap the error in a one-element array (Gemini's streaming endpoint does).
    let v = match v {
        Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        v => v,
    };
    let err = v.get("error").unwrap_or(&v);
    let str_of = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    let message = str_of("message")
        .or_else(|| err.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let (kind, code) = match format {
        Format::Anthropic => {
            let t = str_of("type");
            (t.as_deref().map(anthropic_kind).unwrap_or(fallback), t)
        }
        Format::Gemini => {
            let s = str_of("status");
            let kind = s.as_deref().map(|s| google_kind(s, fallback)).unwrap_or(fallback);
            (kind, s)
        }
        Format::OpenAiChat | Format::Responses => {
            let code = str_of("code").or_else(|| str_of("type"));
            let t = str_of("type");
            let kind = match (code.as_deref(), t.as_deref()) {
                (Some("rate_limit_exceeded" | "insufficient_quota"), _)
                | (_, Some("rate_limit_error")) => ErrorKind::RateLimit,
                (Some("context_length_exceeded"), _) => ErrorKind::InvalidRequest,
                (_, Some("authentication_error")) | (Some("invalid_api_key"), _) => {
                    ErrorKind::Authentication
                }
                (_, Some("permission_error")) => ErrorKind::PermissionDenied,
                (_, Some("not_found_error")) | (Some("model_not_found"), _) => ErrorKind::NotFound,
                (_, Some("server_error")) if status < 500 => ErrorKind::Server,
                _ => fallback,
            };
            (kind, code)
        }
    };
    ErrorInfo { kind, message, code, param: str_of("param") }
}

fn anthropic_kind(t: &str) -> ErrorKind {
    match t {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimit,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    }
}

fn google_kind(status: &str, fallback: ErrorKind) -> ErrorKind {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::Server,
        _ => fallback,
    }
}

/// The error object of a format (the JSON inside a response body or a stream error event).
pub(crate) fn error_value(format: Format, e: &ErrorInfo) -> Value {
    match format {
        Format::OpenAiChat | Format::Responses => {
            let (t, default_code) = match e.kind {
                ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => {
                    ("invalid_request_error", None)
                }
                ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
                ErrorKind::PermissionDenied => ("permission_error", None),
                ErrorKind::NotFound => ("not_found_error", Some("model_not_found")),
                ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
                ErrorKind::Overloaded => ("server_error", Some("overloaded")),
                ErrorKind::Timeout => ("server_error", Some("timeout")),
                ErrorKind::Server => ("server_error", None),
            };
            let code = e.code.as_deref().filter(|c| !is_foreign_code(c)).or(default_code);
            json!({"error": {"message": e.message, "type": t, "param": e.param, "code": code}})
        }
        Format::Anthropic => {
            let t = match e.kind {
                ErrorKind::InvalidRequest => "invalid_request_error",
                ErrorKind::Authentication => "authentication_error",
                ErrorKind::PermissionDenied => "permission_error",
                ErrorKind::NotFound => "not_found_error",
                ErrorKind::RequestTooLarge => "request_too_large",
                ErrorKind::RateLimit => "rate_limit_error",
                ErrorKind::Overloaded => "overloaded_error",
                ErrorKind::Timeout => "timeout_error",
                ErrorKind::Server => "api_error",
            };
            json!({"type": "error", "error": {"type": t, "message": e.message}})
        }
        Format::Gemini => {
            let status = match e.kind {
                ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
                ErrorKind::Authentication => "UNAUTHENTICATED",
                ErrorKind::PermissionDenied => "PERMISSION_DENIED",
                ErrorKind::NotFound => "NOT_FOUND",
                ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
                ErrorKind::Overloaded => "UNAVAILABLE",
                ErrorKind::Timeout => "DEADLINE_EXCEEDED",
                ErrorKind::Server => "INTERNAL",
            };
            json!({"error": {"code": e.kind.status(), "message": e.message, "status": status}})
        }
    }
}

/// Codes of other formats (Google statuses, Anthropic types) mean nothing to OpenAI clients.
fn is_foreign_code(code: &str) -> bool {
    code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') || code.ends_with("_error")
}

/// Translates an upstream error body into the client's format. Returns the status to send and
/// the body. Plain-text and malformed bodies become a well-formed error with the text as its
/// message.
pub fn translate_error(
    upstream: Format,
    client: Format,
    status: u16,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let info = error_to_ir(upstream, status, body);
    let status = if (400..=599).contains(&status) { status } else { info.kind.status() };
    (status, error_value(client, &info).to_string().into_bytes())
}

/// An error body in the client's format, for errors the gateway itself raises.
pub fn error_body(client: Format, kind: ErrorKind, message: &str) -> Vec<u8> {
    let info = ErrorInfo { kind, message: message.to_owned(), code: None, param: None };
    error_value(client, &info).to_string().into_bytes()
}
