//! OpenAI Chat Completions: wire types and their mapping to and from the IR.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{TranslateError, error_to_ir};
use crate::ir::{
    self, BlockKind, Delta, Event, Extra, Media, Message, Part, Reasoning, Request, ResponseFormat,
    Role, StopReason, Thinking, Tool, ToolCall, ToolChoice, Usage,
};
use crate::think::{self, Piece, ThinkSplitter};
use crate::wire::{OneOrMany, empty_schema_raw};
use crate::{Format, MaxTokensField, Note, RequestOptions, ResponseContext, to_json};

const F: Format = Format::OpenAiChat;

// ----- wire types -----

/// A Chat Completions request body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    pub(crate) messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<ChatTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<StringOrVec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_format: Option<ChatResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub(crate) extra: Map<String, Value>,
}

pub(crate) type StringOrVec = OneOrMany<String>;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) include_usage: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ChatResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaSpec },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JsonSchemaSpec {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<ChatContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_calls: Option<Vec<ChatToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_call_id: Option<String>,
    /// DeepSeek-style reasoning text on assistant turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_content: Option<String>,
    /// OpenRouter-style reasoning text (read only; written as `reasoning_content`).
    #[serde(default, skip_serializing)]
    pub(crate) reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<String>,
}

pub(crate) type ChatContent = OneOrMany<ChatPart>;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ChatPart {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    File {
        file: FileRef,
    },
    InputAudio {
        input_audio: Value,
    },
    Refusal {
        refusal: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ImageUrl {
    pub(crate) url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct FileRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) filename: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChatToolCall {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(rename = "type", default = "function_type")]
    pub(crate) kind: String,
    pub(crate) function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FunctionCall {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) arguments: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChatTool {
    #[serde(rename = "type", default = "function_type")]
    pub(crate) kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function: Option<FunctionDef>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FunctionDef {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

/// A `chat.completion` response body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChatCompletion {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default = "completion_object")]
    pub(crate) object: String,
    #[serde(default)]
    pub(crate) created: u64,
    #[serde(default)]
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<ChatUsage>,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub(crate) index: u32,
    pub(crate) message: ChatMessage,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) logprobs: Option<Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: u64,
    #[serde(default)]
    pub(crate) completion_tokens: u64,
    #[serde(default)]
    pub(crate) total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek reports cache hits here instead of `prompt_tokens_details`.
    #[serde(default, skip_serializing)]
    pub(crate) prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct PromptDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cached_tokens: Option<u64>,
    /// Reported by some Anthropic-backed OpenAI-compatible servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct CompletionDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_tokens: Option<u64>,
}

/// A `chat.completion.chunk` stream event.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChatChunk<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Cow<'a, str>,
    #[serde(default = "chunk_object")]
    pub(crate) object: Cow<'a, str>,
    #[serde(default)]
    pub(crate) created: u64,
    #[serde(default, borrow)]
    pub(crate) model: Cow<'a, str>,
    #[serde(default)]
    pub(crate) choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<ChatUsage>,
    #[serde(default, skip_serializing)]
    pub(crate) error: Option<Value>,
}

fn chunk_object() -> Cow<'static, str> {
    Cow::Borrowed("chat.completion.chunk")
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub(crate) index: u32,
    #[serde(default)]
    pub(crate) delta: ChunkDelta,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChunkDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_content: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_calls: Option<Vec<ChunkToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChunkToolCall {
    #[serde(default)]
    pub(crate) index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function: Option<ChunkFunction>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChunkFunction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arguments: Option<String>,
}

/// Fields the OpenAI Chat and Responses formats share by name, so they survive between the two.
pub(crate) const SHARED_OPENAI_FIELDS: &[&str] =
    &["metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier", "top_logprobs"];

// ----- request -----

pub(crate) fn request_to_ir(body: &[u8], notes: &mut Vec<Note>) -> Result<Request, TranslateError> {
    let (mut req, extra): (ChatRequest, _) =
        crate::wire::parse_with_extra(body).map_err(|e| TranslateError::invalid(F, e))?;
    req.extra = extra;
    let mut messages: Vec<Message> = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        let role = match m.role.as_str() {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" | "function" => {
                let content = content_to_parts(m.content, notes);
                let part = Part::ToolResult {
                    id: m.tool_call_id.unwrap_or_default(),
                    name: m.name,
                    content,
                    is_error: false,
                    cache: None,
                };
                // Consecutive tool results answer one assistant turn: keep them in one message.
                match messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && last.parts.iter().all(|p| matches!(p, Part::ToolResult { .. })) =>
                    {
                        last.parts.push(part)
                    }
                    _ => messages.push(Message { role: Role::User, parts: vec![part], name: None }),
                }
                continue;
            }
            other => {
                return Err(TranslateError::invalid(F, format!("unknown message role `{other}`")));
            }
        };
        let mut parts = Vec::new();
        if let Some(r) = m.reasoning_content.or(m.reasoning).filter(|r| !r.is_empty()) {
            parts.push(Part::Thinking(Thinking { text: r, ..Default::default() }));
        }
        parts.extend(content_to_parts(m.content, notes));
        if let Some(r) = m.refusal {
            parts.push(Part::text(r));
        }
        for c in m.tool_calls.unwrap_or_default() {
            parts.push(Part::ToolCall(ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
                signature: None,
            }));
        }
        messages.push(Message { role, parts, name: m.name });
    }
    let mut tools = Vec::new();
    for t in req.tools.unwrap_or_default() {
        match t.function {
            Some(f) if t.kind == "function" => tools.push(Tool {
                name: f.name,
                description: f.description,
                parameters: f.parameters.unwrap_or_else(empty_schema_raw),
                strict: f.strict,
                cache: None,
                freeform: false,
            }),
            _ => notes.push(Note(format!(
                "dropped tool of type `{}`: only function tools translate",
                t.kind
            ))),
        }
    }
    let tool_choice = req.tool_choice.as_ref().and_then(|c| match c {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Tool(n.to_owned())),
        _ => None,
    });
    let response_format = req.response_format.map(|f| match f {
        ChatResponseFormat::Text => ResponseFormat::Text,
        ChatResponseFormat::JsonObject => ResponseFormat::JsonObject,
        ChatResponseFormat::JsonSchema { json_schema } => ResponseFormat::JsonSchema {
            name: Some(json_schema.name).filter(|n| !n.is_empty()),
            schema: json_schema.schema.unwrap_or_else(empty_schema),
            strict: json_schema.strict,
            description: json_schema.description,
        },
    });
    Ok(Request {
        model: req.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: match req.stop {
            Some(OneOrMany::Text(s)) => vec![s],
            Some(OneOrMany::Parts(v)) => v,
            None => Vec::new(),
        },
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        candidate_count: req.n,
        response_format,
        reasoning: req
            .reasoning_effort
            .map(|e| Reasoning { effort: Some(e), ..Default::default() }),
        stream: req.stream.unwrap_or(false),
        include_usage: req.stream_options.and_then(|o| o.include_usage).unwrap_or(false),
        user: req.user,
        extra: Extra::new(F, req.extra),
    })
}

pub(crate) fn empty_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

fn content_to_parts(content: Option<ChatContent>, notes: &mut Vec<Note>) -> Vec<Part> {
    match content {
        None => Vec::new(),
        Some(OneOrMany::Text(t)) => vec![Part::text(t)],
        Some(OneOrMany::Parts(parts)) => parts
            .into_iter()
            .map(|p| match p {
                ChatPart::Text { text, cache_control } => {
                    Part::Text { text, cache: cache_control, signature: None }
                }
                ChatPart::ImageUrl { image_url } => Part::Image {
                    source: Media::from_url(&image_url.url),
                    detail: image_url.detail,
                    cache: None,
                },
                ChatPart::File { file } => {
                    let source = match (file.file_data, file.file_id) {
                        (Some(data), _) => match Media::from_url(&data) {
                            m @ Media::Base64 { .. } => m,
                            // Bare base64 without a data: prefix; PDF is what clients send here.
                            Media::Url { .. } => {
                                Media::Base64 { mime: "application/pdf".into(), data }
                            }
                            m => m,
                        },
                        (None, Some(id)) => Media::FileId { id, mime: None },
                        (None, None) => {
                            notes.push(Note(
                                "dropped a `file` part with neither data nor id".into(),
                            ));
                            return Part::text("");
                        }
                    };
                    Part::Document { source, title: file.filename, cache: None }
                }
                ChatPart::InputAudio { input_audio } => Part::Opaque {
                    format: F,
                    value: serde_json::json!({"type": "input_audio", "input_audio": input_audio}),
                },
                ChatPart::Refusal { refusal } => Part::text(refusal),
            })
            .filter(|p| !matches!(p, Part::Text { text, .. } if text.is_empty()))
            .collect(),
    }
}

pub(crate) fn request_from_ir(
    ir: &Request,
    opts: &RequestOptions,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let mut messages = Vec::with_capacity(ir.messages.len() + 1);
    for m in &ir.messages {
        match m.role {
            Role::System | Role::Developer => {
                let role = if opts.system_as_user {
                    "user"
                } else if m.role == Role::Developer && opts.keep_developer_role {
                    "developer"
                } else {
                    "system"
                };
                messages.push(ChatMessage {
                    role: role.into(),
                    content: Some(parts_to_content(&m.parts, notes)),
                    ..Default::default()
                });
            }
            Role::User => {
                let mut rest = Vec::new();
                for p in &m.parts {
                    if let Part::ToolResult { id, content, is_error, .. } = p {
                        let mut content = parts_to_content(content, notes);
                        if *is_error {
                            content = prefix_error(content);
                        }
                        messages.push(ChatMessage {
                            role: "tool".into(),
                            content: Some(content),
                            tool_call_id: Some(id.clone()),
                            ..Default::default()
                        });
                    } else {
                        rest.push(p.clone());
                    }
                }
                if !rest.is_empty() {
                    messages.push(ChatMessage {
                        role: "user".into(),
                        content: Some(parts_to_content(&rest, notes)),
                        name: m.name.clone(),
                        ..Default::default()
                    });
                }
            }
            Role::Assistant => {
                let mut reasoning = String::new();
                let mut content = Vec::new();
                let mut calls = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::Thinking(t) => {
                            if t.redacted.is_some() {
                                notes.push(Note(
                                    "dropped redacted thinking: openai cannot carry it".into(),
                                ));
                            }
                            reasoning.push_str(&t.text);
                        }
                        Part::ToolCall(c) => calls.push(ChatToolCall {
                            id: c.id.clone(),
                            kind: function_type(),
                            function: FunctionCall {
                                name: c.name.clone(),
                                arguments: args_or_empty(&c.arguments),
                            },
                        }),
                        other => content.push(other.clone()),
                    }
                }
                messages.push(ChatMessage {
                    role: "assistant".into(),
                    content: if content.is_empty() && !calls.is_empty() {
                        None
                    } else {
                        Some(parts_to_content(&content, notes))
                    },
                    reasoning_content: Some(reasoning)
                        .filter(|r| !r.is_empty() && opts.reasoning_content_history),
                    tool_calls: Some(calls).filter(|c| !c.is_empty()),
                    name: m.name.clone(),
                    ..Default::default()
                });
            }
        }
    }
    let tools: Vec<ChatTool> = ir
        .tools
        .iter()
        .map(|t| ChatTool {
            kind: function_type(),
            function: Some(FunctionDef {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: Some(t.parameters.clone()),
                strict: t.strict,
            }),
        })
        .collect();
    let tool_choice = ir.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => Value::from("auto"),
        ToolChoice::None => Value::from("none"),
        ToolChoice::Required => Value::from("required"),
        ToolChoice::Tool(n) => serde_json::json!({"type": "function", "function": {"name": n}}),
        ToolChoice::AnyOf(names) => {
            notes.push(Note(format!("tool_choice limited to {names:?} sent as `required`")));
            Value::from("required")
        }
    });
    if ir.top_k.is_some() {
        notes.push(Note("dropped `top_k`: openai has no equivalent".into()));
    }
    let mut extra = Map::new();
    carry_extra(&ir.extra, &mut extra, notes, F);
    let (max_tokens, max_completion_tokens) = match opts.max_tokens_field {
        MaxTokensField::MaxTokens => (ir.max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, ir.max_tokens),
    };
    let req = ChatRequest {
        model: ir.model.clone(),
        messages,
        tools: Some(tools).filter(|t| !t.is_empty()),
        tool_choice,
        parallel_tool_calls: ir.parallel_tool_calls,
        max_tokens,
        max_completion_tokens,
        temperature: ir.temperature,
        top_p: ir.top_p,
        top_k: None,
        stop: match ir.stop.len() {
            0 => None,
            _ => Some(OneOrMany::Parts(ir.stop.clone())),
        },
        seed: ir.seed,
        presence_penalty: ir.presence_penalty,
        frequency_penalty: ir.frequency_penalty,
        n: ir.candidate_count,
        response_format: ir.response_format.as_ref().map(|f| match f {
            ResponseFormat::Text => ChatResponseFormat::Text,
            ResponseFormat::JsonObject => ChatResponseFormat::JsonObject,
            ResponseFormat::JsonSchema { name, schema, strict, description } => {
                ChatResponseFormat::JsonSchema {
                    json_schema: JsonSchemaSpec {
                        name: name.clone().unwrap_or_else(|| "response".into()),
                        description: description.clone(),
                        schema: Some(schema.clone()),
                        strict: *strict,
                    },
                }
            }
        }),
        reasoning_effort: reasoning_effort(ir.reasoning.as_ref()),
        stream: ir.stream.then_some(true),
        // The gateway needs the upstream's own usage: always ask for it on streams.
        stream_options: (ir.stream && opts.stream_usage)
            .then_some(StreamOptions { include_usage: Some(true) }),
        user: ir.user.clone(),
        extra,
    };
    to_json(&req)
}

/// Copies fields the target shares with the source format (by name) into `out`; reports the
/// rest as dropped.
pub(crate) fn carry_extra(
    extra: &Extra,
    out: &mut Map<String, Value>,
    notes: &mut Vec<Note>,
    to: Format,
) {
    let Some(from) = extra.format else { return };
    let openai_family = |f: Format| matches!(f, Format::OpenAiChat | Format::Responses);
    for (k, v) in &extra.fields {
        if from == to
            || (openai_family(from)
                && openai_family(to)
                && SHARED_OPENAI_FIELDS.contains(&k.as_str()))
        {
            out.insert(k.clone(), v.clone());
        } else {
            notes.push(Note(format!("dropped `{k}`: {to} has no equivalent")));
        }
    }
}

pub(crate) fn reasoning_effort(r: Option<&Reasoning>) -> Option<String> {
    let r = r?;
    if r.disabled {
        return None;
    }
    r.effort.clone().or_else(|| r.budget_tokens.map(|b| ir::budget_to_effort(b).to_owned()))
}

fn args_or_empty(args: &str) -> String {
    if args.trim().is_empty() { "{}".to_owned() } else { args.to_owned() }
}

fn prefix_error(content: ChatContent) -> ChatContent {
    match content {
        OneOrMany::Text(t) => OneOrMany::Text(format!("Error: {t}")),
        OneOrMany::Parts(mut p) => {
            p.insert(0, ChatPart::Text { text: "Error:".into(), cache_control: None });
            OneOrMany::Parts(p)
        }
    }
}

/// All-text content collapses to a string (what every OpenAI-compatible server accepts);
/// anything else becomes a parts array.
fn parts_to_content(parts: &[Part], notes: &mut Vec<Note>) -> ChatContent {
    let all_text = parts.iter().all(|p| matches!(p, Part::Text { cache: None, .. }));
    if all_text {
        let mut s = String::new();
        for p in parts {
            if let Part::Text { text, .. } = p {
                if !s.is_empty() {
                    s.push('\n');
                }
                s.push_str(text);
            }
        }
        return OneOrMany::Text(s);
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, cache, .. } => {
                out.push(ChatPart::Text { text: text.clone(), cache_control: cache.clone() })
            }
            Part::Image { source, detail, .. } => out.push(ChatPart::ImageUrl {
                image_url: ImageUrl { url: source.to_url(), detail: detail.clone() },
            }),
            Part::Document { source, title, .. } => {
                match source {
                    Media::Base64 { .. } => out.push(ChatPart::File {
                        file: FileRef {
                            file_data: Some(source.to_url()),
                            filename: Some(title.clone().unwrap_or_else(|| "document.pdf".into())),
                            file_id: None,
                        },
                    }),
                    Media::FileId { id, .. } => out.push(ChatPart::File {
                        file: FileRef { file_id: Some(id.clone()), ..Default::default() },
                    }),
                    Media::Url { url, .. } => {
                        notes.push(Note("document by URL sent as a text reference: openai chat takes files inline".into()));
                        out.push(ChatPart::Text {
                            text: format!("[document: {url}]"),
                            cache_control: None,
                        });
                    }
                }
            }
            Part::Opaque { format: F, value } => {
                if let Ok(p) = serde_json::from_value::<ChatPart>(value.clone()) {
                    out.push(p);
                }
            }
            Part::Opaque { format, .. } => {
                notes.push(Note(format!("dropped a {format}-only content part")))
            }
            Part::Thinking(_) | Part::ToolCall(_) | Part::ToolResult { .. } => {
                notes.push(Note("dropped a tool or thinking part where openai allows none".into()))
            }
        }
    }
    OneOrMany::Parts(out)
}

// ----- response -----

pub(crate) fn finish_to_ir(reason: &str) -> StopReason {
    match reason {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

pub(crate) fn finish_from_ir(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn
        | StopReason::StopSequence
        | StopReason::PauseTurn
        | StopReason::Other(_) => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
    }
}

pub(crate) fn usage_to_ir(u: &ChatUsage) -> Usage {
    let cache_read = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .or(u.prompt_cache_hit_tokens);
    Usage {
        input: u.prompt_tokens,
        output: u.completion_tokens,
        cache_read,
        cache_write: u.prompt_tokens_details.as_ref().and_then(|d| d.cache_creation_tokens),
        reasoning: u.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens),
    }
}

pub(crate) fn usage_from_ir(u: &Usage) -> ChatUsage {
    ChatUsage {
        prompt_tokens: u.input,
        completion_tokens: u.output,
        total_tokens: u.total(),
        prompt_tokens_details: (u.cache_read.is_some() || u.cache_write.is_some()).then(|| {
            PromptDetails {
                cached_tokens: Some(u.cache_read.unwrap_or(0)),
                cache_creation_tokens: u.cache_write,
            }
        }),
        completion_tokens_details: u
            .reasoning
            .map(|r| CompletionDetails { reasoning_tokens: Some(r) }),
        prompt_cache_hit_tokens: None,
    }
}

pub(crate) fn response_to_ir(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<ir::Response, TranslateError> {
    let resp: ChatCompletion =
        serde_json::from_slice(body).map_err(|e| TranslateError::invalid(F, e))?;
    let mut parts = Vec::new();
    let mut stop = None;
    if let Some(choice) = resp.choices.into_iter().next() {
        let m = choice.message;
        if let Some(r) = m.reasoning_content.or(m.reasoning).filter(|r| !r.is_empty()) {
            parts.push(Part::Thinking(Thinking { text: r, ..Default::default() }));
        }
        match m.content {
            Some(OneOrMany::Text(t)) if ctx.split_think_tags => {
                for piece in think::split(&t) {
                    parts.push(match piece {
                        Piece::Thinking(t) => {
                            Part::Thinking(Thinking { text: t, ..Default::default() })
                        }
                        Piece::Text(t) => Part::text(t),
                    });
                }
            }
            other => parts.extend(content_to_parts(other, &mut Vec::new())),
        }
        if let Some(r) = m.refusal {
            parts.push(Part::text(r));
            stop = Some(StopReason::Refusal);
        }
        for c in m.tool_calls.unwrap_or_default() {
            parts.push(Part::ToolCall(ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
                signature: None,
            }));
        }
        stop = stop.or(choice.finish_reason.as_deref().map(finish_to_ir));
    }
    Ok(ir::Response {
        id: resp.id,
        model: resp.model,
        created: Some(resp.created).filter(|c| *c > 0),
        parts,
        stop,
        stop_sequence: None,
        usage: resp.usage.as_ref().map(usage_to_ir),
    })
}

pub(crate) fn response_from_ir(
    ir: &ir::Response,
    ctx: &ResponseContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &ir.parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Thinking(t) => reasoning.push_str(&t.text),
            Part::ToolCall(c) => calls.push(ChatToolCall {
                id: c.id.clone(),
                kind: function_type(),
                function: FunctionCall {
                    name: c.name.clone(),
                    arguments: args_or_empty(&c.arguments),
                },
            }),
            _ => notes.push(Note("dropped a response part openai cannot carry".into())),
        }
    }
    let has_calls = !calls.is_empty();
    let finish = match &ir.stop {
        Some(StopReason::EndTurn) | None if has_calls => "tool_calls",
        Some(r) => finish_from_ir(r),
        None => "stop",
    };
    let resp = ChatCompletion {
        id: chat_id(&ir.id),
        object: completion_object(),
        created: ir.created.unwrap_or(ctx.now),
        model: ir.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: ChatMessage {
                role: "assistant".into(),
                content: if text.is_empty() && has_calls {
                    None
                } else {
                    Some(OneOrMany::Text(text))
                },
                reasoning_content: Some(reasoning).filter(|r| !r.is_empty()),
                tool_calls: Some(calls).filter(|c| !c.is_empty()),
                ..Default::default()
            },
            finish_reason: Some(finish.to_owned()),
            logprobs: None,
        }],
        usage: ir.usage.as_ref().map(usage_from_ir),
    };
    to_json(&resp)
}

fn chat_id(id: &str) -> String {
    if id.starts_with("chatcmpl-") || id.is_empty() {
        id.to_owned()
    } else {
        format!("chatcmpl-{id}")
    }
}

// ----- stream: upstream chunks to IR events -----

#[derive(Debug, Default)]
pub(crate) struct Decoder {
    started: bool,
    next_block: usize,
    /// The open text or thinking block: (IR index, is thinking).
    open_text: Option<(usize, bool)>,
    /// Tool calls by their OpenAI index: (IR block index, still open).
    tools: Vec<(usize, usize)>,
    finish: Option<StopReason>,
    usage: Option<Usage>,
    saw_tool: bool,
    think: Option<ThinkSplitter>,
    done: bool,
}

impl Decoder {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        Self { think: ctx.split_think_tags.then(ThinkSplitter::default), ..Default::default() }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// True when the stream may end without `[DONE]` (several servers never send it).
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
        if data.trim() == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        let chunk: ChatChunk<'_> =
            serde_json::from_str(data).map_err(|e| TranslateError::invalid(F, e))?;
        if let Some(err) = chunk.error {
            let info = error_to_ir(F, 500, err.to_string().as_bytes());
            out.push(Event::Error(info));
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: chunk.id.clone().into_owned(),
                model: chunk.model.clone().into_owned(),
                created: Some(chunk.created).filter(|c| *c > 0),
            });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.or(d.reasoning).filter(|r| !r.is_empty()) {
                self.text(true, r, out);
            }
            if let Some(c) = d.content.filter(|c| !c.is_empty()) {
                match self.think.as_mut() {
                    Some(s) => {
                        let mut pieces = Vec::new();
                        s.push(&c, &mut pieces);
                        self.pieces(pieces, out);
                    }
                    None => self.text(false, c, out),
                }
            }
            if let Some(r) = d.refusal.filter(|r| !r.is_empty()) {
                self.text(false, r, out);
            }
            for tc in d.tool_calls.unwrap_or_default() {
                self.tool(tc, out);
            }
            if let Some(f) = choice.finish_reason {
                self.finish = Some(finish_to_ir(&f));
            }
        }
        if let Some(u) = chunk.usage {
            let u = usage_to_ir(&u);
            self.usage = Some(u);
        }
        Ok(())
    }

    fn pieces(&mut self, pieces: Vec<Piece>, out: &mut Vec<Event>) {
        for p in pieces {
            match p {
                Piece::Thinking(t) => self.text(true, t, out),
                Piece::Text(t) => self.text(false, t, out),
            }
        }
    }

    fn text(&mut self, thinking: bool, text: String, out: &mut Vec<Event>) {
        let index = match self.open_text {
            Some((i, t)) if t == thinking => i,
            _ => {
                self.close_text(out);
                let i = self.next_block;
                self.next_block += 1;
                let kind =
                    if thinking { BlockKind::Thinking { id: None } } else { BlockKind::Text };
                out.push(Event::BlockStart { index: i, kind });
                self.open_text = Some((i, thinking));
                i
            }
        };
        let delta = if thinking { Delta::Thinking(text) } else { Delta::Text(text) };
        out.push(Event::Delta { index, delta });
    }

    fn close_text(&mut self, out: &mut Vec<Event>) {
        if let Some((i, _)) = self.open_text.take() {
            out.push(Event::BlockStop { index: i });
        }
    }

    fn tool(&mut self, tc: ChunkToolCall, out: &mut Vec<Event>) {
        let f = tc.function.unwrap_or_default();
        let block = match self.tools.iter().find(|(k, _)| *k == tc.index) {
            Some(&(_, b)) => b,
            None => {
                self.close_text(out);
                let b = self.next_block;
                self.next_block += 1;
                self.tools.push((tc.index, b));
                self.saw_tool = true;
                out.push(Event::BlockStart {
                    index: b,
                    kind: BlockKind::ToolCall {
                        id: tc.id.unwrap_or_else(|| format!("call_{b}")),
                        name: f.name.clone().unwrap_or_default(),
                        signature: None,
                    },
                });
                b
            }
        };
        if let Some(a) = f.arguments.filter(|a| !a.is_empty()) {
            out.push(Event::Delta { index: block, delta: Delta::Arguments(a) });
        }
    }

    /// Closes what is open and reports the end. Called on `[DONE]`, or at the end of input
    /// when a finish reason was seen.
    pub(crate) fn end(&mut self, out: &mut Vec<Event>) {
        if self.done {
            return;
        }
        if !self.started {
            // `[DONE]` with nothing before it: still a well-formed, empty answer.
            self.started = true;
            out.push(Event::Start { id: String::new(), model: String::new(), created: None });
        }
        if let Some(s) = self.think.as_mut() {
            let mut pieces = Vec::new();
            s.finish(&mut pieces);
            self.pieces(pieces, out);
        }
        self.close_text(out);
        for (_, b) in std::mem::take(&mut self.tools) {
            out.push(Event::BlockStop { index: b });
        }
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

#[derive(Debug, Default)]
pub(crate) struct Encoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// IR block index to OpenAI tool-call index.
    tools: Vec<(usize, usize)>,
    /// Blocks that are thinking blocks (deltas go to `reasoning_content`).
    usage: Option<Usage>,
    finish: Option<StopReason>,
    saw_tool: bool,
    finished: bool,
}

impl Encoder {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        Self {
            include_usage: ctx.include_usage,
            created: ctx.now,
            model: ctx.model.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    fn chunk(&self, delta: ChunkDelta, finish: Option<&str>) -> ChatChunk<'_> {
        ChatChunk {
            id: Cow::Borrowed(&self.id),
            object: chunk_object(),
            created: self.created,
            model: Cow::Borrowed(&self.model),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
            }],
            usage: None,
            error: None,
        }
    }

    fn emit(out: &mut Vec<u8>, chunk: &ChatChunk<'_>) {
        if let Ok(json) = serde_json::to_string(chunk) {
            crate::sse::write_event(out, None, &json);
        }
    }

    pub(crate) fn encode(&mut self, ev: Event, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, model, created } => {
                self.id = chat_id(&id);
                if self.model.is_empty() {
                    self.model = model;
                }
                if let Some(c) = created {
                    self.created = c;
                }
                let chunk = self.chunk(
                    ChunkDelta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Default::default()
                    },
                    None,
                );
                Self::emit(out, &chunk);
            }
            Event::BlockStart { index, kind } => {
                if let BlockKind::ToolCall { id, name, .. } = kind {
                    let n = self.tools.len();
                    self.tools.push((index, n));
                    self.saw_tool = true;
                    let chunk = self.chunk(
                        ChunkDelta {
                            tool_calls: Some(vec![ChunkToolCall {
                                index: n,
                                id: Some(id),
                                kind: Some(function_type()),
                                function: Some(ChunkFunction {
                                    name: Some(name),
                                    arguments: Some(String::new()),
                                }),
                            }]),
                            ..Default::default()
                        },
                        None,
                    );
                    Self::emit(out, &chunk);
                }
            }
            Event::Delta { index, delta } => {
                let d = match delta {
                    Delta::Text(t) => ChunkDelta { content: Some(t), ..Default::default() },
                    Delta::Thinking(t) => {
                        ChunkDelta { reasoning_content: Some(t), ..Default::default() }
                    }
                    Delta::Arguments(a) => {
                        let Some(&(_, n)) = self.tools.iter().find(|(b, _)| *b == index) else {
                            return;
                        };
                        ChunkDelta {
                            tool_calls: Some(vec![ChunkToolCall {
                                index: n,
                                function: Some(ChunkFunction { name: None, arguments: Some(a) }),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }
                    }
                    Delta::Signature(_) => return,
                };
                let chunk = self.chunk(d, None);
                Self::emit(out, &chunk);
            }
            Event::BlockStop { .. } => {}
            Event::Usage(u) => match &mut self.usage {
                Some(old) => old.merge(u),
                None => self.usage = Some(u),
            },
            Event::Finish { reason, .. } => self.finish = Some(reason),
            Event::Error(e) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(crate::error::error_value(F, &e).to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
                self.finished = true;
            }
            Event::Done => self.done(out),
        }
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let finish = match &self.finish {
            Some(StopReason::EndTurn) | None if self.saw_tool => "tool_calls",
            Some(r) => finish_from_ir(r),
            None => "stop",
        };
        let chunk = self.chunk(ChunkDelta::default(), Some(finish));
        Self::emit(out, &chunk);
        if self.include_usage {
            let mut chunk = self.chunk(ChunkDelta::default(), None);
            chunk.choices.clear();
            chunk.usage = Some(usage_from_ir(&self.usage.unwrap_or_default()));
            Self::emit(out, &chunk);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }
}
