//! Routing: (method, path) to an endpoint, as a closed match. Each endpoint reads and checks
//! what the URL and headers say, then hands over to the pipeline.

pub(crate) mod agents;
pub(crate) mod misc;
mod models;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use omniroute_translate::{ErrorKind, Format};

use std::sync::Arc;

use crate::admin;
use crate::app::App;
use crate::auth::{self, Access};
use crate::pipeline::{self, Call};
use crate::reply::{self, Reply};

/// The API shape a path speaks, for errors before the endpoint is known.
fn format_of(path: &str) -> Format {
    if path.starts_with("/v1/messages") {
        Format::Anthropic
    } else if path.starts_with("/v1beta") || gemini_path(path).is_some() {
        Format::Gemini
    } else {
        Format::OpenAiChat
    }
}

async fn read_body(app: &App, f: Format, body: Incoming) -> Result<Bytes, Reply> {
    match Limited::new(body, app.max_body).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(reply::error(
                f,
                ErrorKind::RequestTooLarge,
                &format!("the request body is larger than the limit of {} bytes", app.max_body),
            ))
        }
        Err(_) => {
            Err(reply::error(f, ErrorKind::InvalidRequest, "the request body could not be read"))
        }
    }
}

/// The `Idempotency-Key` a client sent (at most 255 characters).
fn idempotency_key(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("idempotency-key")?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 255).then(|| v.to_owned())
}

/// The client's `x-session-id` (at most 255 characters).
fn session_id(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("x-session-id")?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 255).then(|| v.to_owned())
}

/// Splits `/v1beta/models/{model}:{method}` (also `/v1/` and `/v1alpha/`, which Gemini SDKs
/// use by version); the model may contain slashes (`openai/gpt-4o`).
fn gemini_path(path: &str) -> Option<(String, &str)> {
    let rest = ["/v1beta/models/", "/v1/models/", "/v1alpha/models/"]
        .iter()
        .find_map(|p| path.strip_prefix(p))?;
    let (model, method) = rest.rsplit_once(':')?;
    Some((model.to_owned(), method))
}

pub(crate) async fn route(app: &Arc<App>, req: Request<Incoming>) -> Reply {
    if matches!(req.uri().path(), "/api/mcp/stream" | "/api/mcp/sse" | "/api/mcp/message") {
        return agents::mcp_http(app, req).await;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let f = format_of(path);

    // Liveness answers without a key, so load balancers and supervisors can probe it.
    if parts.method == Method::GET && path == "/health" {
        return misc::health();
    }
    if parts.method == Method::GET
        && matches!(path, "/.well-known/agent-card.json" | "/.well-known/agent.json")
    {
        return agents::agent_card(app, &parts);
    }
    if path == "/a2a" && parts.method == Method::POST {
        return agents::a2a(app, parts, body).await;
    }
    if path == "/api/control" || path.starts_with("/api/control/") {
        return agents::control(app, parts, body).await;
    }
    if path.starts_with("/api/") && path != "/api/health" {
        return admin::route(app, parts, body).await;
    }
    let access = auth::check(&app.routes(), &parts.headers, query);
    if matches!(access, Access::Denied)
        && !(path == "/api/health" && admin::is_admin(app, &parts).await)
    {
        let msg = "a valid API key is required (Authorization: Bearer, x-api-key, x-goog-api-key or ?key=)";
        return reply::error(f, ErrorKind::Authentication, msg);
    }

    match (&parts.method, path) {
        (
            &Method::POST,
            "/v1/chat/completions"
            | "/chat/completions"
            | "/v1/messages"
            | "/v1/responses"
            | "/responses",
        ) => {
            let format = match path {
                "/v1/messages" => Format::Anthropic,
                "/v1/responses" | "/responses" => Format::Responses,
                _ => Format::OpenAiChat,
            };
            let body = match read_body(app, format, body).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let anthropic_beta = parts.headers.get("anthropic-beta").cloned();
            let idempotency_key = idempotency_key(&parts.headers);
            let call = Call {
                format,
                access,
                path_model: None,
                path_stream: None,
                anthropic_beta,
                idempotency_key,
                session: session_id(&parts.headers),
                internal: false,
            };
            pipeline::generate(app, call, body).await
        }
        (&Method::POST, "/v1/messages/count_tokens") => {
            let body = match read_body(app, Format::Anthropic, body).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            misc::count_tokens(app, access, body).await
        }
        (&Method::POST, "/v1/embeddings" | "/embeddings") => {
            let body = match read_body(app, Format::OpenAiChat, body).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            misc::embeddings(app, access, body).await
        }
        (&Method::POST, p) if gemini_path(p).is_some() => {
            let Some((model, method)) = gemini_path(p) else {
                return reply::error(
                    Format::Gemini,
                    ErrorKind::NotFound,
                    "expected /v1beta/models/{model}:{method}",
                );
            };
            if method == "countTokens" {
                let body = match read_body(app, Format::Gemini, body).await {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                return misc::gemini_count_tokens(app, access, model, body).await;
            }
            let stream = match method {
                "generateContent" => false,
                "streamGenerateContent" => {
                    if !query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse")) {
                        let msg = "streamGenerateContent is served as SSE: add `?alt=sse` (the Gemini SDKs do)";
                        return reply::error(Format::Gemini, ErrorKind::InvalidRequest, msg);
                    }
                    true
                }
                other => {
                    let msg = format!("unsupported method `{other}`");
                    return reply::error(Format::Gemini, ErrorKind::NotFound, &msg);
                }
            };
            let body = match read_body(app, Format::Gemini, body).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let call = Call {
                format: Format::Gemini,
                access,
                path_model: Some(model),
                path_stream: Some(stream),
                anthropic_beta: None,
                idempotency_key: idempotency_key(&parts.headers),
                session: session_id(&parts.headers),
                internal: false,
            };
            pipeline::generate(app, call, body).await
        }
        (&Method::GET, "/v1/models" | "/models") => models::openai_list(app),
        (&Method::GET, "/v1beta/models") => models::gemini_list(app),
        (&Method::GET, p) if p.starts_with("/v1beta/models/") => {
            models::gemini_one(app, &p["/v1beta/models/".len()..])
        }
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            models::openai_one(app, &p["/v1/models/".len()..])
        }
        (&Method::GET, "/api/health") => misc::api_health(app),
        (_, "/v1/chat/completions" | "/v1/messages" | "/v1/responses" | "/v1/embeddings") => {
            let mut r = reply::error(f, ErrorKind::InvalidRequest, "use POST");
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r
        }
        _ => reply::error(f, ErrorKind::NotFound, &format!("no route for {} {path}", parts.method)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_paths_keep_slashes_in_models() {
        assert_eq!(
            gemini_path("/v1beta/models/openai/gpt-4o:generateContent"),
            Some(("openai/gpt-4o".to_owned(), "generateContent"))
        );
        assert_eq!(
            gemini_path("/v1beta/models/gemini-2.5-pro:streamGenerateContent").map(|x| x.1),
            Some("streamGenerateContent")
        );
        assert_eq!(gemini_path("/v1beta/models/x"), None);
        assert_eq!(
            gemini_path("/v1/models/gemini-2.5-pro:generateContent").map(|x| x.1),
            Some("generateContent")
        );
        assert_eq!(gemini_path("/v1/models/gpt-4o"), None);
    }
}
