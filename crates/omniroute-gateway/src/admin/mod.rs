//! The management API under `/api/`: its own credentials (admin tokens; the admin password with
//! a session cookie and a CSRF token), the resources of `docs/management-api.md`, and the audit
//! trail. Database work runs on the blocking pool, never on the request threads.

mod handlers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use http::request::Parts;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use omniroute_storage::{
    AdminTokenRow, DataDir, constant_time_eq, hash_client_key, random_token, verify_password,
};
use serde_json::{Value, json};

use crate::app::{App, BuildError};
use crate::reply::{GatewayBody, Reply};

const SESSION_COOKIE: &str = "omniroute_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed password attempts allowed per window before logins are refused for its rest.
const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// The largest management request body (a restore upload).
const MAX_BODY: usize = 1 << 30;
use omniroute_storage::PASSWORD_SETTING;

const OPENAPI: &str = include_str!("openapi.json");

#[derive(Debug)]
struct Session {
    csrf: String,
    expires: Instant,
}

/// Sessions (in memory: a restart logs the dashboard out) and the login throttle.
#[derive(Debug, Default)]
pub(crate) struct AdminState {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<Option<(Instant, u32)>>,
}

/// Who is calling, as the audit trail names them.
#[derive(Debug, Clone)]
pub(crate) enum Actor {
    Token(String),
    Session,
}

impl Actor {
    pub(crate) fn label(&self) -> String {
        match self {
            Actor::Token(n) => format!("token:{n}"),
            Actor::Session => "session".to_owned(),
        }
    }
}

/// An error of the management API: status, type, message.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }

    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 422 => "invalid_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            413 => "payload_too_large",
            429 => "too_many_requests",
            _ => "server_error",
        }
    }
}

impl From<BuildError> for ApiError {
    fn from(e: BuildError) -> ApiError {
        ApiError::bad(e.to_string())
    }
}

impl From<omniroute_storage::StorageError> for ApiError {
    fn from(e: omniroute_storage::StorageError) -> ApiError {
        ApiError::internal(e)
    }
}

/// What a handler answers.
pub(crate) enum Out {
    Json(StatusCode, Value),
    NoContent,
    File { content_type: &'static str, name: Option<String>, body: Bytes },
}

pub(crate) fn error_reply(e: &ApiError) -> Reply {
    let body = json!({"error": {"type": e.kind(), "message": e.message}});
    crate::reply::json(e.status, body.to_string())
}

fn out_reply(out: Out) -> Reply {
    match out {
        Out::Json(status, v) => crate::reply::json(status, v.to_string()),
        Out::NoContent => {
            let mut r = http::Response::new(GatewayBody::Full(None));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Out::File { content_type, name, body } => {
            let mut r = http::Response::new(GatewayBody::Full(Some(body)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(name) = name
                && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            {
                r.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
            }
            r
        }
    }
}

/// Runs blocking work (SQLite, Argon2) off the request threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("a management task failed"))?
}

fn cookie_session(parts: &Parts) -> Option<String> {
    parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        c.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.to_owned())
        })
    })
}

fn bearer(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(|t| t.trim().to_owned())
}

/// The admin behind a request: a token, or a session (with its CSRF token checked on
/// mutating calls).
async fn authenticate(app: &Arc<App>, parts: &Parts) -> Result<Actor, ApiError> {
    if let Some(token) = bearer(parts) {
        let a = app.clone();
        let name = blocking(move || {
            let hash = hash_client_key(&token);
            let tokens = a.data.db.admin_tokens()?;
            Ok(tokens
                .into_iter()
                .find(|t| constant_time_eq(t.token_hash.as_bytes(), hash.as_bytes()))
                .map(|t| t.name))
        })
        .await?;
        return name
            .map(Actor::Token)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin token"));
    }
    if let Some(id) = cookie_session(parts) {
        let mut sessions = app.admin.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let key = hash_client_key(&id);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if let Some(s) = sessions.get(&key) {
            if parts.method != Method::GET && parts.method != Method::HEAD {
                let given = parts.headers.get("x-csrf-token").map(HeaderValue::as_bytes);
                if !given.is_some_and(|g| constant_time_eq(g, s.csrf.as_bytes())) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "missing or wrong x-csrf-token header (it comes with the login response and GET /api/auth/session)",
                    ));
                }
            }
            return Ok(Actor::Session);
        }
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "the management API needs an admin token (Authorization: Bearer) or a dashboard session",
    ))
}

/// Whether the request carries a valid admin credential (for `/api/health`).
pub(crate) async fn is_admin(app: &Arc<App>, parts: &Parts) -> bool {
    authenticate(app, parts).await.is_ok()
}

fn throttled(app: &App) -> bool {
    let f = app.admin.failures.lock().unwrap_or_else(|p| p.into_inner());
    matches!(*f, Some((start, n)) if n >= MAX_FAILURES && start.elapsed() < FAILURE_WINDOW)
}

fn record_failure(app: &App) {
    let mut f = app.admin.failures.lock().unwrap_or_else(|p| p.into_inner());
    *f = match *f {
        Some((start, n)) if start.elapsed() < FAILURE_WINDOW => Some((start, n + 1)),
        _ => Some((Instant::now(), 1)),
    };
}

/// Checks the admin password (Argon2 on the blocking pool), with the login throttle.
async fn check_password(app: &Arc<App>, password: String) -> Result<(), ApiError> {
    if throttled(app) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try again in a few minutes",
        ));
    }
    let a = app.clone();
    let ok = blocking(move || {
        let hash = a.data.db.setting(PASSWORD_SETTING)?;
        Ok(hash.is_some_and(|h| verify_password(&password, &h)))
    })
    .await?;
    if ok {
        Ok(())
    } else {
        record_failure(app);
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong password"))
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}")))
}

async fn login(app: &Arc<App>, body: &[u8]) -> Result<Reply, ApiError> {
    let v = parse_json(body)?;
    let password = v["password"].as_str().ok_or_else(|| ApiError::bad("`password` is required"))?;
    check_password(app, password.to_owned()).await?;
    let id = random_token("").map_err(ApiError::internal)?;
    let csrf = random_token("").map_err(ApiError::internal)?;
    let expires_at = crate::apply::now_ms() + SESSION_TTL.as_millis() as i64;
    app.admin.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(
        hash_client_key(&id),
        Session { csrf: csrf.clone(), expires: Instant::now() + SESSION_TTL },
    );
    let a = app.clone();
    blocking(move || Ok(a.data.db.audit("session", "auth.login", "admin", &json!({}))?)).await?;
    let mut r = crate::reply::json(
        StatusCode::OK,
        json!({"csrf_token": csrf, "expires_at": expires_at}).to_string(),
    );
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(r)
}

fn logout(app: &App, parts: &Parts) -> Reply {
    if let Some(id) = cookie_session(parts) {
        app.admin.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&hash_client_key(&id));
    }
    let mut r = out_reply(Out::NoContent);
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&expired) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

fn session_info(app: &App, parts: &Parts, actor: &Actor) -> Reply {
    let csrf = cookie_session(parts).and_then(|id| {
        let sessions = app.admin.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(&hash_client_key(&id)).map(|s| s.csrf.clone())
    });
    let via = match actor {
        Actor::Token(_) => "token",
        Actor::Session => "session",
    };
    let mut v = json!({"via": via, "actor": actor.label()});
    if let (Actor::Session, Some(c)) = (actor, csrf) {
        v["csrf_token"] = json!(c);
    }
    crate::reply::json(StatusCode::OK, v.to_string())
}

/// `POST /api/auth/tokens` with the password in the body: how `omniroute-cli login` gets a
/// token without any other credential.
async fn token_with_password(app: &Arc<App>, body: &[u8]) -> Result<Reply, ApiError> {
    let v = parse_json(body)?;
    let password = v["password"].as_str().unwrap_or_default().to_owned();
    check_password(app, password).await?;
    let name = v["name"].as_str().unwrap_or("cli").to_owned();
    let a = app.clone();
    let out = blocking(move || handlers::create_token(&a, &Actor::Session, &name)).await?;
    Ok(out_reply(out))
}

async fn read(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is over the limit"))
        }
        Err(_) => Err(ApiError::bad("the request body could not be read")),
    }
}

/// Serves one `/api/` request (other than `/api/health`).
pub(crate) async fn route(app: &Arc<App>, parts: Parts, body: Incoming) -> Reply {
    match serve(app, parts, body).await {
        Ok(r) => r,
        Err(e) => error_reply(&e),
    }
}

async fn serve(app: &Arc<App>, parts: Parts, body: Incoming) -> Result<Reply, ApiError> {
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/api/openapi.json") => {
            return Ok(crate::reply::json(StatusCode::OK, OPENAPI));
        }
        (&Method::POST, "/api/auth/login") => return login(app, &read(body).await?).await,
        (&Method::POST, "/api/auth/logout") => return Ok(logout(app, &parts)),
        (&Method::POST, "/api/auth/tokens")
            if bearer(&parts).is_none() && cookie_session(&parts).is_none() =>
        {
            return token_with_password(app, &read(body).await?).await;
        }
        _ => {}
    }
    let actor = authenticate(app, &parts).await?;
    if method == Method::GET && path == "/api/auth/session" {
        return Ok(session_info(app, &parts, &actor));
    }
    let body = read(body).await?;
    if let Some(id) = path
        .strip_prefix("/api/connections/")
        .and_then(|rest| rest.strip_suffix("/test"))
        .filter(|_| method == Method::POST)
    {
        let id: i64 = id.parse().map_err(|_| ApiError::not_found("no such connection"))?;
        let out = handlers::test_connection(app, &actor, id, &body).await?;
        return Ok(out_reply(out));
    }
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((decode(k)?, decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default();
    let a = app.clone();
    let req = handlers::Req { method, path, query, body, actor };
    let out = blocking(move || handlers::handle(&a, &req)).await?;
    Ok(out_reply(out))
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Makes sure an admin password exists (see [`App::ensure_admin_password`]).
pub(crate) fn ensure_password(
    dd: &DataDir,
    initial: Option<&str>,
) -> Result<Option<String>, BuildError> {
    dd.ensure_admin_password(initial).map_err(|e| BuildError::Invalid(e.to_string()))
}

/// Stores `token` as the admin token named `env` (replacing an earlier one).
pub(crate) fn register_env_token(dd: &DataDir, token: &str) -> Result<(), BuildError> {
    if token.len() < 16 {
        return Err(BuildError::Invalid(
            "OMNIROUTE_ADMIN_TOKEN must have at least 16 characters".into(),
        ));
    }
    dd.db
        .put_admin_token(&AdminTokenRow {
            name: "env".into(),
            token_hash: hash_client_key(token),
            prefix: crate::apply::key_prefix(token),
            created_at: crate::apply::now_ms(),
        })
        .map_err(|e| BuildError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode() {
        assert_eq!(decode("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(decode("100%").as_deref(), None);
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("plain").as_deref(), Some("plain"));
    }
}
