//! `GET /v1/models` (OpenAI list shape) and `GET /v1beta/models` (Gemini shape): every
//! reachable `provider/model`, combo and alias, under one id scheme.

use http::StatusCode;
use omniroute_translate::{ErrorKind, Format};
use serde_json::json;

use crate::app::App;
use crate::reply::{self, Reply};

pub(super) fn openai_list(app: &App) -> Reply {
    let data: Vec<_> = app
        .routes()
        .model_ids()
        .into_iter()
        .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    reply::json(StatusCode::OK, json!({"object": "list", "data": data}).to_string())
}

pub(super) fn openai_one(app: &App, id: &str) -> Reply {
    match app.routes().model_ids().into_iter().find(|(m, _)| m == id) {
        Some((id, owner)) => reply::json(
            StatusCode::OK,
            json!({"id": id, "object": "model", "created": 0, "owned_by": owner}).to_string(),
        ),
        None => reply::error(
            Format::OpenAiChat,
            ErrorKind::NotFound,
            &format!("model `{id}` is not available"),
        ),
    }
}

fn gemini_model(id: &str) -> serde_json::Value {
    json!({"name": format!("models/{id}"), "displayName": id, "version": "1",
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]})
}

/// `GET /v1beta/models/{model}`.
pub(super) fn gemini_one(app: &App, id: &str) -> Reply {
    match app.routes().model_ids().into_iter().find(|(m, _)| m == id) {
        Some((id, _)) => reply::json(StatusCode::OK, gemini_model(&id).to_string()),
        None => reply::error(
            Format::Gemini,
            ErrorKind::NotFound,
            &format!("model `{id}` is not available"),
        ),
    }
}

pub(super) fn gemini_list(app: &App) -> Reply {
    let models: Vec<_> =
        app.routes().model_ids().into_iter().map(|(id, _)| gemini_model(&id)).collect();
    reply::json(StatusCode::OK, json!({"models": models}).to_string())
}
