//! Gemini `generateContent`: wire types and their mapping to and from the IR.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{TranslateError, error_to_ir, error_value};
use crate::ir::{
    self, BlockKind, Delta, Event, Extra, Media, Message, Part, Reasoning, Request, ResponseFormat,
    Role, Signature, StopReason, Thinking, Tool, ToolCall, ToolChoice, Usage,
};
use crate::openai::carry_extra;
use crate::sse::write_event;
use crate::wire::{AnyJson, args_object, to_raw};
use crate::{Format, Note, RequestOptions, ResponseContext, to_json};

const F: Format = Format::Gemini;

/// Google documents this value for function calls whose signature was lost (history from
/// another model): it tells the API to skip signature validation for that call.
pub(crate) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

// ----- wire types -----

/// A `generateContent` request body.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateRequest {
    #[serde(default)]
    pub(crate) contents: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "system_instruction")]
    pub(crate) system_instruction: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<GTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "tool_config")]
    pub(crate) tool_config: Option<ToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "generation_config")]
    pub(crate) generation_config: Option<GenerationConfig>,
    #[serde(flatten, skip_deserializing)]
    pub(crate) extra: Map<String, Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
    #[serde(default)]
    pub(crate) parts: Vec<GPart>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GPart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thought: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "thought_signature")]
    pub(crate) thought_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "inline_data")]
    pub(crate) inline_data: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "file_data")]
    pub(crate) file_data: Option<FileData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "function_call")]
    pub(crate) function_call: Option<FunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "function_response")]
    pub(crate) function_response: Option<FunctionResponse>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Blob {
    #[serde(alias = "mime_type")]
    pub(crate) mime_type: String,
    pub(crate) data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "mime_type")]
    pub(crate) mime_type: Option<String>,
    #[serde(alias = "file_uri")]
    pub(crate) file_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) args: AnyJson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) response: Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GTool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "function_declarations")]
    pub(crate) function_declarations: Option<Vec<FunctionDeclaration>>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionDeclaration {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "parameters_json_schema")]
    pub(crate) parameters_json_schema: Option<Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "function_calling_config")]
    pub(crate) function_calling_config: Option<FunctionCallingConfig>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCallingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "allowed_function_names")]
    pub(crate) allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "top_p")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "top_k")]
    pub(crate) top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "max_output_tokens")]
    pub(crate) max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "stop_sequences")]
    pub(crate) stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "candidate_count")]
    pub(crate) candidate_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "presence_penalty")]
    pub(crate) presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "frequency_penalty")]
    pub(crate) frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "response_mime_type")]
    pub(crate) response_mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "response_schema")]
    pub(crate) response_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "response_json_schema")]
    pub(crate) response_json_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "thinking_config")]
    pub(crate) thinking_config: Option<ThinkingConfig>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThinkingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "thinking_budget")]
    pub(crate) thinking_budget: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "include_thoughts")]
    pub(crate) include_thoughts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "thinking_level")]
    pub(crate) thinking_level: Option<String>,
}

/// A `GenerateContentResponse` (also each event of a stream).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateResponse {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) candidates: Vec<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "usage_metadata")]
    pub(crate) usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "model_version")]
    pub(crate) model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "response_id")]
    pub(crate) response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "prompt_feedback")]
    pub(crate) prompt_feedback: Option<Value>,
    #[serde(default, skip_serializing)]
    pub(crate) error: Option<Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "finish_reason")]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "safety_ratings")]
    pub(crate) safety_ratings: Option<Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    #[serde(alias = "prompt_token_count")]
    pub(crate) prompt_token_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "candidates_token_count")]
    pub(crate) candidates_token_count: Option<u64>,
    #[serde(default)]
    #[serde(alias = "total_token_count")]
    pub(crate) total_token_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "cached_content_token_count")]
    pub(crate) cached_content_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(alias = "thoughts_token_count")]
    pub(crate) thoughts_token_count: Option<u64>,
}

// ----- request -----

fn role_of(s: Option<&str>) -> Result<Role, TranslateError> {
    match s {
        None | Some("user") => Ok(Role::User),
        Some("model") => Ok(Role::Assistant),
        Some(other) => Err(TranslateError::invalid(F, format!("unknown content role `{other}`"))),
    }
}

fn sig(s: Option<String>) -> Option<Signature> {
    s.map(|value| Signature { format: F, value })
}

/// Gemini function calls may carry no id; the IR needs one to pair calls with results. Ids are
/// derived from the call's position, so results name them the same way.
fn call_id(id: Option<String>, name: &str, n: usize) -> String {
    id.unwrap_or_else(|| format!("call_{name}_{n}"))
}

fn parts_to_ir(
    parts: Vec<GPart>,
    calls: &mut Vec<(String, String)>,
    results_seen: &mut usize,
) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        if let Some(fc) = p.function_call {
            let id = call_id(fc.id, &fc.name, calls.len());
            calls.push((id.clone(), fc.name.clone()));
            out.push(Part::ToolCall(ToolCall {
                id,
                name: fc.name,
                arguments: fc.args.get().to_owned(),
                signature: sig(p.thought_signature),
            }));
        } else if let Some(fr) = p.function_response {
            // Without ids, results answer the calls in order, matched by name where possible.
            let id = fr.id.clone().unwrap_or_else(|| {
                let hit = calls
                    .iter()
                    .skip(*results_seen)
                    .find(|(_, n)| *n == fr.name)
                    .or(calls.get(*results_seen));
                hit.map(|(id, _)| id.clone())
                    .unwrap_or_else(|| format!("call_{}_{}", fr.name, *results_seen))
            });
            *results_seen += 1;
            let (content, is_error) = match &fr.response {
                Value::Object(o) if o.len() == 1 && o.contains_key("error") => {
                    (o["error"].clone(), true)
                }
                Value::Object(o) if o.len() == 1 && o.contains_key("output") => {
                    (o["output"].clone(), false)
                }
                Value::Object(o) if o.len() == 1 && o.contains_key("result") => {
                    (o["result"].clone(), false)
                }
                other => (other.clone(), false),
            };
            let text = match content {
                Value::String(s) => s,
                v => v.to_string(),
            };
            out.push(Part::ToolResult {
                id,
                name: Some(fr.name),
                content: vec![Part::text(text)],
                is_error,
                cache: None,
            });
        } else if let Some(b) = p.inline_data {
            let source = Media::Base64 { mime: b.mime_type, data: b.data };
            out.push(media_part(source));
        } else if let Some(f) = p.file_data {
            out.push(media_part(Media::Url { url: f.file_uri, mime: f.mime_type }));
        } else if let Some(text) = p.text {
            if p.thought == Some(true) {
                out.push(Part::Thinking(Thinking {
                    text,
                    signature: sig(p.thought_signature),
                    ..Default::default()
                }));
            } else {
                out.push(Part::Text { text, cache: None, signature: sig(p.thought_signature) });
            }
        } else if !p.other.is_empty() {
            out.push(Part::Opaque { format: F, value: Value::Object(p.other) });
        } else if let Some(s) = p.thought_signature {
            out.push(Part::Text { text: String::new(), cache: None, signature: sig(Some(s)) });
        }
    }
    out
}

fn media_part(source: Media) -> Part {
    if source.mime().is_some_and(|m| m.starts_with("image/")) {
        Part::Image { source, detail: None, cache: None }
    } else {
        Part::Document { source, title: None, cache: None }
    }
}

pub(crate) fn request_to_ir(body: &[u8], notes: &mut Vec<Note>) -> Result<Request, TranslateError> {
    let (mut req, extra): (GenerateRequest, _) =
        crate::wire::parse_with_extra(body).map_err(|e| TranslateError::invalid(F, e))?;
    req.extra = extra;
    let mut calls = Vec::new();
    let mut results = 0;
    let mut messages = Vec::with_capacity(req.contents.len() + 1);
    if let Some(si) = req.system_instruction {
        messages.push(Message {
            role: Role::System,
            parts: parts_to_ir(si.parts, &mut calls, &mut results),
            name: None,
        });
    }
    for c in req.contents {
        let role = role_of(c.role.as_deref())?;
        messages.push(Message {
            role,
            parts: parts_to_ir(c.parts, &mut calls, &mut results),
            name: None,
        });
    }
    let mut tools = Vec::new();
    for t in req.tools.unwrap_or_default() {
        for d in t.function_declarations.unwrap_or_default() {
            tools.push(Tool {
                name: d.name,
                description: d.description,
                parameters: d
                    .parameters_json_schema
                    .or_else(|| d.parameters.map(schema_from_gemini))
                    .map(|v| to_raw(&v))
                    .unwrap_or_else(crate::wire::empty_schema_raw),
                strict: None,
                cache: None,
                freeform: false,
            });
        }
        for k in t.other.keys() {
            notes.push(Note(format!("dropped Gemini built-in tool `{k}`")));
        }
    }
    let tool_choice = req.tool_config.and_then(|c| c.function_calling_config).and_then(|c| {
        let names = c.allowed_function_names.unwrap_or_default();
        match c.mode.as_deref() {
            Some("AUTO") => Some(ToolChoice::Auto),
            Some("NONE") => Some(ToolChoice::None),
            Some("ANY" | "VALIDATED") => Some(match names.len() {
                0 => ToolChoice::Required,
                1 => ToolChoice::Tool(names[0].clone()),
                _ => ToolChoice::AnyOf(names),
            }),
            _ => None,
        }
    });
    let g = req.generation_config.unwrap_or_default();
    let response_format =
        match (g.response_mime_type.as_deref(), g.response_json_schema, g.response_schema) {
            (_, Some(schema), _) => Some(ResponseFormat::JsonSchema {
                name: None,
                schema,
                strict: None,
                description: None,
            }),
            (_, None, Some(schema)) => Some(ResponseFormat::JsonSchema {
                name: None,
                schema: schema_from_gemini(schema),
                strict: None,
                description: None,
            }),
            (Some("application/json"), None, None) => Some(ResponseFormat::JsonObject),
            _ => None,
        };
    let reasoning = g.thinking_config.map(|t| Reasoning {
        effort: t.thinking_level.map(|l| l.to_ascii_lowercase()),
        budget_tokens: t.thinking_budget.filter(|b| *b >= 0),
        include_thoughts: t.include_thoughts,
        disabled: t.thinking_budget == Some(0),
        summary: None,
    });
    let mut extra = req.extra;
    for (k, v) in g.other {
        extra.insert(format!("generationConfig.{k}"), v);
    }
    Ok(Request {
        model: None,
        messages,
        tools,
        tool_choice,
        max_tokens: g.max_output_tokens,
        temperature: g.temperature,
        top_p: g.top_p,
        top_k: g.top_k,
        stop: g.stop_sequences.unwrap_or_default(),
        seed: g.seed,
        presence_penalty: g.presence_penalty,
        frequency_penalty: g.frequency_penalty,
        candidate_count: g.candidate_count,
        response_format,
        reasoning,
        extra: Extra::new(F, extra),
        ..Default::default()
    })
}

/// Gemini's OpenAPI-subset schemas spell types in upper case; JSON Schema wants lower case.
fn schema_from_gemini(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| k != "propertyOrdering")
                .map(|(k, v)| match (k.as_str(), v) {
                    ("type", Value::String(t)) => (k, Value::String(t.to_ascii_lowercase())),
                    ("format", Value::String(f)) if f == "enum" => (k, Value::String(f)),
                    (_, v) => (k, schema_from_gemini(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(schema_from_gemini).collect()),
        other => other,
    }
}

/// JSON Schema keywords Gemini's function `parameters` accept; the rest are dropped so the
/// API does not reject the request. `parametersJsonSchema` would take them all, but not every
/// Gemini model and endpoint supports it yet.
const GEMINI_SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
    "title",
];

fn schema_to_gemini(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            // Rebuilt by moving values, in the source's key order; nothing is cloned.
            let mut out = Map::with_capacity(o.len());
            for (k, v) in o {
                if !GEMINI_SCHEMA_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let v = match (k.as_str(), v) {
                    // A list of types (`["string","null"]`) becomes one type plus `nullable`.
                    ("type", Value::Array(types)) => {
                        if types.iter().any(|t| t == "null") {
                            out.insert("nullable".into(), Value::Bool(true));
                        }
                        types.into_iter().find(|t| t != "null").unwrap_or(Value::from("string"))
                    }
                    ("properties", Value::Object(props)) => Value::Object(
                        props.into_iter().map(|(k, v)| (k, schema_to_gemini(v))).collect(),
                    ),
                    ("items" | "anyOf", v) => schema_to_gemini(v),
                    (_, v) => v,
                };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(schema_to_gemini).collect()),
        other => other,
    }
}

fn part_to_gemini(p: &Part, in_model_turn: bool, notes: &mut Vec<Note>) -> Option<GPart> {
    let own_sig =
        |s: &Option<Signature>| s.as_ref().filter(|s| s.format == F).map(|s| s.value.clone());
    Some(match p {
        Part::Text { text, signature, .. } => {
            if text.is_empty() && signature.is_none() {
                return None;
            }
            GPart {
                text: Some(text.clone()),
                thought_signature: own_sig(signature),
                ..Default::default()
            }
        }
        Part::Image { source, .. } | Part::Document { source, .. } => match source {
            Media::Base64 { mime, data } => GPart {
                inline_data: Some(Blob { mime_type: mime.clone(), data: data.clone() }),
                ..Default::default()
            },
            Media::Url { url, mime } => GPart {
                file_data: Some(FileData {
                    mime_type: mime.clone().or_else(|| guess_mime(url)),
                    file_uri: url.clone(),
                }),
                ..Default::default()
            },
            Media::FileId { id, mime } => GPart {
                file_data: Some(FileData { mime_type: mime.clone(), file_uri: id.clone() }),
                ..Default::default()
            },
        },
        Part::Thinking(t) => {
            if t.text.is_empty() {
                return None;
            }
            if !in_model_turn {
                return None;
            }
            GPart {
                text: Some(t.text.clone()),
                thought: Some(true),
                thought_signature: own_sig(&t.signature),
                ..Default::default()
            }
        }
        Part::ToolCall(c) => GPart {
            function_call: Some(FunctionCall {
                id: None,
                name: c.name.clone(),
                args: AnyJson(args_object(&c.arguments)),
            }),
            thought_signature: own_sig(&c.signature),
            ..Default::default()
        },
        Part::ToolResult { name, content, is_error, .. } => {
            let text: String = content
                .iter()
                .filter_map(|p| {
                    if let Part::Text { text, .. } = p { Some(text.as_str()) } else { None }
                })
                .collect::<Vec<_>>()
                .join("\n");
            if content.iter().any(|p| !matches!(p, Part::Text { .. })) {
                notes.push(Note("non-text tool result content sent as text only: gemini function responses are JSON".into()));
            }
            let value = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
            let response =
                if *is_error { json!({ "error": value }) } else { json!({ "output": value }) };
            GPart {
                function_response: Some(FunctionResponse {
                    id: None,
                    name: name.clone().unwrap_or_default(),
                    response,
                }),
                ..Default::default()
            }
        }
        Part::Opaque { format: F, value } => serde_json::from_value(value.clone()).ok()?,
        Part::Opaque { format, .. } => {
            notes.push(Note(format!("dropped a {format}-only content part")));
            return None;
        }
    })
}

fn guess_mime(url: &str) -> Option<String> {
    let ext = url.rsplit('.').next()?.to_ascii_lowercase();
    Some(
        match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "pdf" => "application/pdf",
            _ => return None,
        }
        .to_owned(),
    )
}

pub(crate) fn request_from_ir(
    ir: &Request,
    _opts: &RequestOptions,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    // Tool results name their function in Gemini; other formats pair them by id only.
    let names: Vec<(&str, &str)> = ir
        .messages
        .iter()
        .flat_map(|m| m.parts.iter())
        .filter_map(|p| {
            if let Part::ToolCall(c) = p { Some((c.id.as_str(), c.name.as_str())) } else { None }
        })
        .collect();
    let mut system = Vec::new();
    let mut contents: Vec<Content> = Vec::with_capacity(ir.messages.len());
    for m in &ir.messages {
        let model = m.role == Role::Assistant;
        let mut parts: Vec<GPart> = Vec::with_capacity(m.parts.len());
        for p in &m.parts {
            let p = match p {
                Part::ToolResult { id, name: None, content, is_error, cache } => {
                    let name = names.iter().find(|(i, _)| *i == id).map(|(_, n)| (*n).to_owned());
                    let part = Part::ToolResult {
                        id: id.clone(),
                        name,
                        content: content.clone(),
                        is_error: *is_error,
                        cache: cache.clone(),
                    };
                    part_to_gemini(&part, model, notes)
                }
                p => part_to_gemini(p, model, notes),
            };
            parts.extend(p);
        }
        if model {
            // Gemini requires a thought signature on the first function call of each model
            // turn when thinking is on; history from other models has none.
            if let Some(first) = parts.iter_mut().find(|p| p.function_call.is_some())
                && first.thought_signature.is_none()
            {
                first.thought_signature = Some(SKIP_SIGNATURE.to_owned());
            }
        }
        match m.role {
            Role::System | Role::Developer => system.extend(parts),
            Role::User | Role::Assistant => {
                if parts.is_empty() {
                    continue;
                }
                let role = if model { "model" } else { "user" };
                match contents.last_mut() {
                    Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
                    _ => contents.push(Content { role: Some(role.into()), parts }),
                }
            }
        }
    }
    let tools = (!ir.tools.is_empty()).then(|| {
        vec![GTool {
            function_declarations: Some(
                ir.tools
                    .iter()
                    .map(|t| FunctionDeclaration {
                        name: t.name.clone(),
                        description: t.description.clone(),
                        parameters: Some(schema_to_gemini(
                            serde_json::from_str(t.parameters.get()).unwrap_or(Value::Null),
                        )),
                        parameters_json_schema: None,
                    })
                    .collect(),
            ),
            other: Map::new(),
        }]
    });
    let tool_config = ir.tool_choice.as_ref().map(|c| {
        let (mode, names) = match c {
            ToolChoice::Auto => ("AUTO", None),
            ToolChoice::None => ("NONE", None),
            ToolChoice::Required => ("ANY", None),
            ToolChoice::Tool(n) => ("ANY", Some(vec![n.clone()])),
            ToolChoice::AnyOf(n) => ("ANY", Some(n.clone())),
        };
        ToolConfig {
            function_calling_config: Some(FunctionCallingConfig {
                mode: Some(mode.into()),
                allowed_function_names: names,
            }),
        }
    });
    let (mime, schema) = match &ir.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json".to_owned()), Some(schema.clone()))
        }
        Some(ResponseFormat::JsonObject) => (Some("application/json".to_owned()), None),
        Some(ResponseFormat::Text) => (Some("text/plain".to_owned()), None),
        None => (None, None),
    };
    let thinking_config = ir.reasoning.as_ref().map(thinking_to_gemini);
    let mut extra = Map::new();
    let mut gen_other = Map::new();
    if ir.extra.format == Some(F) {
        for (k, v) in &ir.extra.fields {
            match k.strip_prefix("generationConfig.") {
                Some(k) => gen_other.insert(k.to_owned(), v.clone()),
                None => extra.insert(k.clone(), v.clone()),
            };
        }
    } else {
        carry_extra(&ir.extra, &mut extra, notes, F);
    }
    if ir.parallel_tool_calls == Some(false) {
        notes.push(Note("parallel_tool_calls=false has no gemini equivalent".into()));
    }
    if ir.user.is_some() {
        notes.push(Note("dropped end-user id: gemini has no equivalent".into()));
    }
    let generation_config = GenerationConfig {
        temperature: ir.temperature,
        top_p: ir.top_p,
        top_k: ir.top_k,
        max_output_tokens: ir.max_tokens,
        stop_sequences: Some(ir.stop.clone()).filter(|s| !s.is_empty()),
        candidate_count: ir.candidate_count,
        seed: ir.seed,
        presence_penalty: ir.presence_penalty,
        frequency_penalty: ir.frequency_penalty,
        response_mime_type: mime,
        response_schema: None,
        // `responseJsonSchema` takes standard JSON Schema as is, so nothing is lost converting.
        response_json_schema: schema,
        thinking_config,
        other: gen_other,
    };
    let empty = serde_json::to_value(&generation_config)
        .map(|v| v.as_object().is_some_and(Map::is_empty))
        .unwrap_or(true);
    let req = GenerateRequest {
        contents,
        system_instruction: (!system.is_empty()).then(|| Content { role: None, parts: system }),
        tools,
        tool_config,
        generation_config: (!empty).then_some(generation_config),
        extra,
    };
    to_json(&req)
}

fn thinking_to_gemini(r: &Reasoning) -> ThinkingConfig {
    if r.disabled {
        return ThinkingConfig { thinking_budget: Some(0), ..Default::default() };
    }
    let budget = r.budget_tokens.or_else(|| r.effort.as_deref().map(ir::effort_to_budget));
    ThinkingConfig {
        thinking_budget: budget,
        include_thoughts: Some(r.include_thoughts.unwrap_or(true)),
        thinking_level: None,
    }
}

// ----- response -----

pub(crate) fn finish_to_ir(f: &str) -> StopReason {
    match f {
        "STOP" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        other => StopReason::Other(other.to_owned()),
    }
}

fn finish_from_ir(s: &StopReason) -> &'static str {
    match s {
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter | StopReason::Refusal => "SAFETY",
        StopReason::Other(o) if o == "MALFORMED_FUNCTION_CALL" => "MALFORMED_FUNCTION_CALL",
        _ => "STOP",
    }
}

pub(crate) fn usage_to_ir(u: &UsageMetadata) -> Usage {
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    Usage {
        input: u.prompt_token_count,
        // OpenAI's convention: completion tokens include reasoning tokens.
        output: u.candidates_token_count.unwrap_or(0) + thoughts,
        cache_read: u.cached_content_token_count,
        cache_write: None,
        reasoning: u.thoughts_token_count,
    }
}

fn usage_from_ir(u: &Usage) -> UsageMetadata {
    let thoughts = u.reasoning.unwrap_or(0);
    UsageMetadata {
        prompt_token_count: u.input,
        candidates_token_count: Some(u.output.saturating_sub(thoughts)),
        total_token_count: u.total(),
        cached_content_token_count: u.cache_read,
        thoughts_token_count: u.reasoning,
    }
}

pub(crate) fn response_to_ir(body: &[u8]) -> Result<ir::Response, TranslateError> {
    let resp: GenerateResponse =
        serde_json::from_slice(body).map_err(|e| TranslateError::invalid(F, e))?;
    let mut parts = Vec::new();
    let mut stop = None;
    if let Some(c) = resp.candidates.into_iter().next() {
        if let Some(content) = c.content {
            parts = parts_to_ir(content.parts, &mut Vec::new(), &mut 0);
        }
        stop = c.finish_reason.as_deref().map(finish_to_ir);
    }
    if stop == Some(StopReason::EndTurn) && parts.iter().any(|p| matches!(p, Part::ToolCall(_))) {
        stop = Some(StopReason::ToolUse);
    }
    Ok(ir::Response {
        id: resp.response_id.unwrap_or_default(),
        model: resp.model_version.unwrap_or_default(),
        created: None,
        parts,
        stop,
        stop_sequence: None,
        usage: resp.usage_metadata.as_ref().map(usage_to_ir),
    })
}

pub(crate) fn response_from_ir(
    ir: &ir::Response,
    _ctx: &ResponseContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let parts: Vec<GPart> =
        ir.parts.iter().filter_map(|p| part_to_gemini(p, true, notes)).collect();
    let resp = GenerateResponse {
        candidates: vec![Candidate {
            content: Some(Content { role: Some("model".into()), parts }),
            finish_reason: Some(ir.stop.as_ref().map_or("STOP", finish_from_ir).into()),
            index: 0,
            safety_ratings: None,
        }],
        usage_metadata: ir.usage.as_ref().map(usage_from_ir),
        model_version: Some(ir.model.clone()),
        response_id: Some(ir.id.clone()).filter(|i| !i.is_empty()),
        prompt_feedback: None,
        error: None,
    };
    to_json(&resp)
}

// ----- stream: upstream chunks to IR -----

#[derive(Debug, Default)]
pub(crate) struct Decoder {
    started: bool,
    next: usize,
    /// The open text or thinking block: (index, is thinking).
    open: Option<(usize, bool)>,
    calls: usize,
    saw_tool: bool,
    usage: Option<Usage>,
    finish: Option<StopReason>,
    done: bool,
}

impl Decoder {
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Gemini streams have no end marker: a finish reason means the answer is complete.
    pub(crate) fn can_end(&self) -> bool {
        self.finish.is_some()
    }

    pub(crate) fn decode(
        &mut self,
        data: &str,
        out: &mut Vec<Event>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let chunk: GenerateResponse =
            serde_json::from_str(data).map_err(|e| TranslateError::invalid(F, e))?;
        if let Some(err) = chunk.error {
            out.push(Event::Error(error_to_ir(
                F,
                500,
                json!({ "error": err }).to_string().as_bytes(),
            )));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: chunk.response_id.clone().unwrap_or_default(),
                model: chunk.model_version.clone().unwrap_or_default(),
                created: None,
            });
        }
        if let Some(c) = chunk.candidates.into_iter().find(|c| c.index == 0) {
            for p in c.content.map(|c| c.parts).unwrap_or_default() {
                self.part(p, out);
            }
            if let Some(f) = c.finish_reason {
                self.finish = Some(finish_to_ir(&f));
            }
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(usage_to_ir(&u));
        }
        Ok(())
    }

    fn part(&mut self, p: GPart, out: &mut Vec<Event>) {
        if let Some(fc) = p.function_call {
            self.close(out);
            let index = self.next;
            self.next += 1;
            let id = call_id(fc.id, &fc.name, self.calls);
            self.calls += 1;
            self.saw_tool = true;
            out.push(Event::BlockStart {
                index,
                kind: BlockKind::ToolCall {
                    id,
                    name: fc.name,
                    signature: sig(p.thought_signature),
                },
            });
            out.push(Event::Delta { index, delta: Delta::Arguments(fc.args.get().to_owned()) });
            out.push(Event::BlockStop { index });
            return;
        }
        let thinking = p.thought == Some(true);
        if let Some(text) = p.text.filter(|t| !t.is_empty()) {
            let index = self.block(thinking, out);
            let delta = if thinking { Delta::Thinking(text) } else { Delta::Text(text) };
            out.push(Event::Delta { index, delta });
        }
        if let Some(s) = p.thought_signature {
            let index = self.block(thinking, out);
            out.push(Event::Delta {
                index,
                delta: Delta::Signature(Signature { format: F, value: s }),
            });
        }
    }

    fn block(&mut self, thinking: bool, out: &mut Vec<Event>) -> usize {
        match self.open {
            Some((i, t)) if t == thinking => i,
            _ => {
                self.close(out);
                let i = self.next;
                self.next += 1;
                let kind =
                    if thinking { BlockKind::Thinking { id: None } } else { BlockKind::Text };
                out.push(Event::BlockStart { index: i, kind });
                self.open = Some((i, thinking));
                i
            }
        }
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some((i, _)) = self.open.take() {
            out.push(Event::BlockStop { index: i });
        }
    }

    pub(crate) fn end(&mut self, out: &mut Vec<Event>) {
        if self.done {
            return;
        }
        self.close(out);
        if let Some(u) = self.usage.take() {
            out.push(Event::Usage(u));
        }
        let reason = match self.finish.take() {
            Some(StopReason::EndTurn) | None if self.saw_tool => StopReason::ToolUse,
            Some(r) => r,
            None => StopReason::EndTurn,
        };
        out.push(Event::Finish { reason, stop_sequence: None });
        out.push(Event::Done);
        self.done = true;
    }
}

// ----- stream: IR events to client chunks -----

/// A stream chunk as written to clients: the shape of [`GenerateResponse`], borrowing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChunkOut<'a> {
    candidates: [CandidateOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateOut<'a> {
    content: ContentOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'a str>,
    index: u32,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    role: &'static str,
    parts: &'a [GPart],
}

#[derive(Debug, Default)]
pub(crate) struct Encoder {
    id: String,
    model: String,
    /// Tool calls being assembled: IR index, name, args so far, signature.
    calls: Vec<(usize, String, String, Option<String>)>,
    /// Thinking blocks, so their deltas become thought parts.
    usage: Option<Usage>,
    finish: Option<StopReason>,
    finished: bool,
}

impl Encoder {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        Self { model: ctx.model.clone().unwrap_or_default(), ..Default::default() }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn emit(
        &self,
        out: &mut Vec<u8>,
        parts: Vec<GPart>,
        finish: Option<&str>,
        usage: Option<UsageMetadata>,
    ) {
        let chunk = ChunkOut {
            candidates: [CandidateOut {
                content: ContentOut { role: "model", parts: &parts },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: usage,
            model_version: &self.model,
            response_id: Some(self.id.as_str()).filter(|i| !i.is_empty()),
        };
        if let Ok(s) = serde_json::to_string(&chunk) {
            write_event(out, None, &s);
        }
    }

    pub(crate) fn encode(&mut self, ev: Event, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, model, .. } => {
                self.id = id;
                if self.model.is_empty() {
                    self.model = model;
                }
            }
            Event::BlockStart { index, kind: BlockKind::ToolCall { name, signature, .. } } => {
                let sig = signature.filter(|s| s.format == F).map(|s| s.value);
                self.calls.push((index, name, String::new(), sig));
            }
            Event::BlockStart { .. } => {}
            Event::Delta { index, delta } => {
                let part = match delta {
                    Delta::Text(t) => GPart { text: Some(t), ..Default::default() },
                    Delta::Thinking(t) => {
                        GPart { text: Some(t), thought: Some(true), ..Default::default() }
                    }
                    Delta::Signature(s) if s.format == F => {
                        if let Some(c) = self.calls.iter_mut().find(|c| c.0 == index) {
                            c.3 = Some(s.value);
                            return;
                        }
                        GPart {
                            text: Some(String::new()),
                            thought_signature: Some(s.value),
                            ..Default::default()
                        }
                    }
                    Delta::Signature(_) => return,
                    Delta::Arguments(a) => {
                        if let Some(c) = self.calls.iter_mut().find(|c| c.0 == index) {
                            c.2.push_str(&a);
                        }
                        return;
                    }
                };
                self.emit(out, vec![part], None, None);
            }
            Event::BlockStop { index } => {
                // Gemini sends function calls whole: emit when the arguments are complete.
                if let Some(pos) = self.calls.iter().position(|c| c.0 == index) {
                    let (_, name, args, sig) = self.calls.remove(pos);
                    let part = GPart {
                        function_call: Some(FunctionCall {
                            id: None,
                            name,
                            args: AnyJson(args_object(&args)),
                        }),
                        thought_signature: sig,
                        ..Default::default()
                    };
                    self.emit(out, vec![part], None, None);
                }
            }
            Event::Usage(u) => match &mut self.usage {
                Some(old) => old.merge(u),
                None => self.usage = Some(u),
            },
            Event::Finish { reason, .. } => self.finish = Some(reason),
            Event::Error(e) => {
                write_event(out, None, &error_value(F, &e).to_string());
                self.finished = true;
            }
            Event::Done => {
                let finish = self.finish.as_ref().map_or("STOP", finish_from_ir);
                let usage = self.usage.as_ref().map(usage_from_ir);
                self.emit(out, Vec::new(), Some(finish), usage);
                self.finished = true;
            }
        }
    }
}
