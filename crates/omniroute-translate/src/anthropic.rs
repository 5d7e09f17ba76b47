//! Anthropic Messages: wire types and their mapping to and from the IR.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::error::{TranslateError, error_to_ir, error_value};
use crate::ir::{
    self, BlockKind, Delta, Event, Extra, Media, Message, Part, Reasoning, Request, ResponseFormat,
    Role, Signature, StopReason, Thinking, Tool, ToolCall, ToolChoice, Usage,
};
use crate::openai::carry_extra;
use crate::sse::write_event;
use crate::wire::{AnyJson, OneOrMany, args_object, empty_schema_raw};
use crate::{Format, Note, RequestOptions, ResponseContext, to_json};

const F: Format = Format::Anthropic;

// ----- wire types -----

/// A Messages request body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct MessagesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    pub(crate) messages: Vec<AMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) system: Option<SystemPrompt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<ATool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<AToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking: Option<ThinkingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    #[serde(flatten, skip_deserializing)]
    pub(crate) extra: Map<String, Value>,
}

pub(crate) type SystemPrompt = OneOrMany<ABlock>;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ThinkingConfig {
    Enabled { budget_tokens: i64 },
    Disabled,
    Adaptive,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum AToolChoice {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ATool {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input_schema: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_control: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AMessage {
    pub(crate) role: String,
    pub(crate) content: AContent,
}

pub(crate) type AContent = OneOrMany<ABlock>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ABlock {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: ASource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Document {
        source: ASource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: AnyJson,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<AContent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ASource {
    Base64 { media_type: String, data: String },
    Url { url: String },
    File { file_id: String },
    Text { media_type: String, data: String },
}

/// A `message` response body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct MessageResponse {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(rename = "type", default = "message_type")]
    pub(crate) kind: String,
    #[serde(default = "assistant")]
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) content: Vec<Value>,
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    #[serde(default)]
    pub(crate) stop_sequence: Option<String>,
    #[serde(default)]
    pub(crate) usage: AUsage,
}

fn message_type() -> String {
    "message".into()
}
fn assistant() -> String {
    "assistant".into()
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct AUsage {
    #[serde(default)]
    pub(crate) input_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens: u64,
}

// ----- request -----

pub(crate) fn request_to_ir(body: &[u8], notes: &mut Vec<Note>) -> Result<Request, TranslateError> {
    let (mut req, extra): (MessagesRequest, _) =
        crate::wire::parse_with_extra(body).map_err(|e| TranslateError::invalid(F, e))?;
    req.extra = extra;
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    match req.system {
        Some(OneOrMany::Text(t)) => {
            messages.push(Message { role: Role::System, parts: vec![Part::text(t)], name: None })
        }
        Some(OneOrMany::Parts(b)) => {
            messages.push(Message { role: Role::System, parts: blocks_to_parts(b), name: None })
        }
        None => {}
    }
    for m in req.messages {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(TranslateError::invalid(F, format!("unknown message role `{other}`")));
            }
        };
        let parts = match m.content {
            OneOrMany::Text(t) => vec![Part::text(t)],
            OneOrMany::Parts(b) => blocks_to_parts(b),
        };
        messages.push(Message { role, parts, name: None });
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t.kind.as_deref() {
            None | Some("custom") => Some(Tool {
                name: t.name,
                description: t.description,
                parameters: t.input_schema.unwrap_or_else(empty_schema_raw),
                strict: t.strict,
                cache: t.cache_control,
                freeform: false,
            }),
            Some(kind) => {
                notes.push(Note(format!(
                    "dropped server tool `{kind}`: only client tools translate"
                )));
                None
            }
        })
        .collect();
    let mut parallel = None;
    let tool_choice = req.tool_choice.map(|c| match c {
        AToolChoice::Auto { disable_parallel_tool_use: d } => {
            parallel = d.map(|d| !d);
            ToolChoice::Auto
        }
        AToolChoice::Any { disable_parallel_tool_use: d } => {
            parallel = d.map(|d| !d);
            ToolChoice::Required
        }
        AToolChoice::Tool { name, disable_parallel_tool_use: d } => {
            parallel = d.map(|d| !d);
            ToolChoice::Tool(name)
        }
        AToolChoice::None => ToolChoice::None,
    });
    let reasoning = req.thinking.map(|t| match t {
        ThinkingConfig::Enabled { budget_tokens } => Reasoning {
            budget_tokens: Some(budget_tokens),
            include_thoughts: Some(true),
            ..Default::default()
        },
        ThinkingConfig::Disabled => Reasoning { disabled: true, ..Default::default() },
        ThinkingConfig::Adaptive => Reasoning {
            effort: Some("medium".into()),
            include_thoughts: Some(true),
            ..Default::default()
        },
    });
    let mut extra = req.extra;
    // Anthropic's structured output (`output_format`) is the one JSON-schema channel it has.
    let response_format = extra.remove("output_format").and_then(|f| {
        let schema = f.get("schema")?.clone();
        Some(ResponseFormat::JsonSchema {
            name: None,
            schema,
            strict: Some(true),
            description: None,
        })
    });
    Ok(Request {
        model: req.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req.stop_sequences.unwrap_or_default(),
        response_format,
        reasoning,
        stream: req.stream.unwrap_or(false),
        user: req.metadata.and_then(|m| m.user_id),
        extra: Extra::new(F, extra),
        ..Default::default()
    })
}

fn source_to_media(s: ASource) -> Media {
    match s {
        ASource::Base64 { media_type, data } | ASource::Text { media_type, data } => {
            Media::Base64 { mime: media_type, data }
        }
        ASource::Url { url } => Media::Url { url, mime: None },
        ASource::File { file_id } => Media::FileId { id: file_id, mime: None },
    }
}

fn blocks_to_parts(blocks: Vec<ABlock>) -> Vec<Part> {
    blocks
        .into_iter()
        .map(|b| match b {
            ABlock::Text { text, cache_control } => {
                Part::Text { text, cache: cache_control, signature: None }
            }
            ABlock::Image { source, cache_control } => {
                Part::Image { source: source_to_media(source), detail: None, cache: cache_control }
            }
            ABlock::Document { source, title, cache_control } => {
                Part::Document { source: source_to_media(source), title, cache: cache_control }
            }
            ABlock::Thinking { thinking, signature } => Part::Thinking(Thinking {
                text: thinking,
                signature: Some(signature)
                    .filter(|s| !s.is_empty())
                    .map(|value| Signature { format: F, value }),
                ..Default::default()
            }),
            ABlock::RedactedThinking { data } => {
                Part::Thinking(Thinking { redacted: Some(data), ..Default::default() })
            }
            ABlock::ToolUse { id, name, input, .. } => Part::ToolCall(ToolCall {
                id,
                name,
                arguments: input.get().to_owned(),
                signature: None,
            }),
            ABlock::ToolResult { tool_use_id, content, is_error, cache_control } => {
                Part::ToolResult {
                    id: tool_use_id,
                    name: None,
                    content: match content {
                        None => Vec::new(),
                        Some(OneOrMany::Text(t)) => vec![Part::text(t)],
                        Some(OneOrMany::Parts(b)) => blocks_to_parts(b),
                    },
                    is_error: is_error.unwrap_or(false),
                    cache: cache_control,
                }
            }
        })
        .collect()
}

fn media_to_source(m: &Media) -> ASource {
    match m {
        Media::Base64 { mime, data } => {
            ASource::Base64 { media_type: mime.clone(), data: data.clone() }
        }
        Media::Url { url, .. } => ASource::Url { url: url.clone() },
        Media::FileId { id, .. } => ASource::File { file_id: id.clone() },
    }
}

fn parts_to_blocks(parts: &[Part], notes: &mut Vec<Note>) -> Vec<ABlock> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, cache, .. } => {
                if !text.is_empty() {
                    out.push(ABlock::Text { text: text.clone(), cache_control: cache.clone() })
                }
            }
            Part::Image { source, cache, .. } => out.push(ABlock::Image {
                source: media_to_source(source),
                cache_control: cache.clone(),
            }),
            Part::Document { source, title, cache } => out.push(ABlock::Document {
                source: media_to_source(source),
                title: title.clone(),
                cache_control: cache.clone(),
            }),
            Part::Thinking(t) => match (&t.redacted, &t.signature) {
                (Some(data), _) => out.push(ABlock::RedactedThinking { data: data.clone() }),
                (None, Some(sig)) if sig.format == F => out.push(ABlock::Thinking {
                    thinking: t.text.clone(),
                    signature: sig.value.clone(),
                }),
                // Anthropic rejects thinking blocks without its own signature; the reasoning of
                // another model is history, so it travels as text the model can read.
                _ if !t.text.is_empty() => {
                    notes.push(Note("unsigned thinking sent as text: anthropic accepts only its own signed thinking".into()));
                    out.push(ABlock::Text {
                        text: format!("<thinking>{}</thinking>", t.text),
                        cache_control: None,
                    });
                }
                _ => {}
            },
            Part::ToolCall(c) => out.push(ABlock::ToolUse {
                id: c.id.clone(),
                name: c.name.clone(),
                input: AnyJson(args_object(&c.arguments)),
                cache_control: None,
            }),
            Part::ToolResult { id, content, is_error, cache, .. } => out.push(ABlock::ToolResult {
                tool_use_id: id.clone(),
                content: Some(OneOrMany::Parts(parts_to_blocks(content, notes))),
                is_error: is_error.then_some(true),
                cache_control: cache.clone(),
            }),
            Part::Opaque { format: F, value } => {
                if let Ok(b) = serde_json::from_value(value.clone()) {
                    out.push(b);
                }
            }
            Part::Opaque { format, .. } => {
                notes.push(Note(format!("dropped a {format}-only content part")))
            }
        }
    }
    out
}

pub(crate) fn request_from_ir(
    ir: &Request,
    opts: &RequestOptions,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let mut system: Vec<ABlock> = Vec::new();
    let mut messages: Vec<AMessage> = Vec::with_capacity(ir.messages.len());
    let mut seen_turn = false;
    for m in &ir.messages {
        match m.role {
            Role::System | Role::Developer => {
                if seen_turn {
                    notes.push(Note(
                        "a system message inside the conversation was moved to `system`".into(),
                    ));
                }
                system.extend(parts_to_blocks(&m.parts, notes));
            }
            Role::User | Role::Assistant => {
                seen_turn = true;
                let role = if m.role == Role::User { "user" } else { "assistant" };
                let mut blocks = parts_to_blocks(&m.parts, notes);
                if m.role == Role::User {
                    // Anthropic wants tool results first in their user turn.
                    blocks.sort_by_key(|b| !matches!(b, ABlock::ToolResult { .. }));
                }
                if blocks.is_empty() {
                    continue;
                }
                // Anthropic requires alternating turns: merge consecutive same-role messages.
                match messages.last_mut() {
                    Some(last) if last.role == role => {
                        if let OneOrMany::Parts(b) = &mut last.content {
                            b.extend(blocks);
                        }
                    }
                    _ => messages
                        .push(AMessage { role: role.into(), content: OneOrMany::Parts(blocks) }),
                }
            }
        }
    }
    let system = if system.is_empty() {
        None
    } else if system.iter().all(|b| matches!(b, ABlock::Text { cache_control: None, .. })) {
        let text: Vec<&str> = system
            .iter()
            .filter_map(
                |b| if let ABlock::Text { text, .. } = b { Some(text.as_str()) } else { None },
            )
            .collect();
        Some(OneOrMany::Text(text.join("\n\n")))
    } else {
        Some(OneOrMany::Parts(system))
    };
    let mut tools: Vec<ATool> = ir
        .tools
        .iter()
        .map(|t| ATool {
            kind: None,
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: Some(t.parameters.clone()),
            cache_control: t.cache.clone(),
            strict: None,
        })
        .collect();
    let disable_parallel = ir.parallel_tool_calls.map(|p| !p).filter(|d| *d);
    let mut tool_choice = ir.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => AToolChoice::Auto { disable_parallel_tool_use: disable_parallel },
        ToolChoice::None => AToolChoice::None,
        ToolChoice::Required => AToolChoice::Any { disable_parallel_tool_use: disable_parallel },
        ToolChoice::Tool(n) => {
            AToolChoice::Tool { name: n.clone(), disable_parallel_tool_use: disable_parallel }
        }
        ToolChoice::AnyOf(names) if names.len() == 1 => AToolChoice::Tool {
            name: names[0].clone(),
            disable_parallel_tool_use: disable_parallel,
        },
        ToolChoice::AnyOf(_) => {
            notes.push(Note("tool_choice limited to a subset sent as `any`".into()));
            AToolChoice::Any { disable_parallel_tool_use: disable_parallel }
        }
    });
    if tool_choice.is_none() && disable_parallel.is_some() && !tools.is_empty() {
        tool_choice = Some(AToolChoice::Auto { disable_parallel_tool_use: disable_parallel });
    }
    let mut extra = Map::new();
    carry_extra(&ir.extra, &mut extra, notes, F);
    match &ir.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            extra.insert("output_format".into(), json!({"type": "json_schema", "schema": schema}));
        }
        Some(ResponseFormat::JsonObject) => notes.push(Note(
            "json_object mode has no anthropic equivalent; the instruction was added to `system`"
                .into(),
        )),
        _ => {}
    }
    let system = match (&ir.response_format, system) {
        (Some(ResponseFormat::JsonObject), s) => {
            let hint = "Respond with a single valid JSON object and nothing else.";
            Some(match s {
                None => OneOrMany::Text(hint.into()),
                Some(OneOrMany::Text(t)) => OneOrMany::Text(format!("{t}\n\n{hint}")),
                Some(OneOrMany::Parts(mut b)) => {
                    b.push(ABlock::Text { text: hint.into(), cache_control: None });
                    OneOrMany::Parts(b)
                }
            })
        }
        (_, s) => s,
    };
    let thinking = ir.reasoning.as_ref().and_then(|r| {
        if r.disabled {
            return Some(ThinkingConfig::Disabled);
        }
        let budget = r.budget_tokens.or_else(|| r.effort.as_deref().map(ir::effort_to_budget))?;
        (budget > 0).then(|| ThinkingConfig::Enabled { budget_tokens: budget.max(1024) })
    });
    let thinking = match thinking {
        Some(ThinkingConfig::Enabled { .. }) if !tool_turns_signed(&messages) => {
            notes.push(Note(
                "thinking switched off: the tool-use turn being answered has no anthropic-signed thinking block, \
                 which anthropic requires while thinking is on"
                    .into(),
            ));
            None
        }
        t => t,
    };
    let thinking_on = matches!(thinking, Some(ThinkingConfig::Enabled { .. }));
    // With thinking on, Anthropic accepts no temperature but 1 and no top_k; top_p must be >= 0.95.
    let (temperature, top_p, top_k) = if thinking_on {
        if ir.temperature.is_some_and(|t| t != 1.0)
            || ir.top_k.is_some()
            || ir.top_p.is_some_and(|p| p < 0.95)
        {
            notes.push(Note(
                "dropped temperature/top_p/top_k: anthropic rejects them while thinking is on"
                    .into(),
            ));
        }
        (ir.temperature.filter(|t| *t == 1.0), ir.top_p.filter(|p| *p >= 0.95), None)
    } else {
        (ir.temperature, ir.top_p, ir.top_k)
    };
    let mut max_tokens = ir.max_tokens.unwrap_or(opts.default_max_tokens);
    if let Some(ThinkingConfig::Enabled { budget_tokens }) = &thinking {
        // Anthropic requires max_tokens above the thinking budget.
        let budget = u64::try_from(*budget_tokens).unwrap_or(0);
        if max_tokens <= budget {
            max_tokens = budget + opts.default_max_tokens.min(4096);
        }
    }
    if ir.seed.is_some() || ir.presence_penalty.is_some() || ir.frequency_penalty.is_some() {
        notes.push(Note("dropped seed/penalties: anthropic has no equivalent".into()));
    }
    if ir.candidate_count.is_some_and(|n| n > 1) {
        notes.push(Note("anthropic returns one candidate; `n` > 1 was dropped".into()));
    }
    if tools.is_empty() {
        tools.clear();
    }
    let req = MessagesRequest {
        model: ir.model.clone(),
        messages,
        system,
        max_tokens: Some(max_tokens),
        temperature,
        top_p,
        top_k,
        stop_sequences: Some(ir.stop.clone()).filter(|s| !s.is_empty()),
        tools: Some(tools).filter(|t| !t.is_empty()),
        tool_choice,
        thinking,
        metadata: ir.user.clone().map(|u| Metadata { user_id: Some(u) }),
        stream: ir.stream.then_some(true),
        extra,
    };
    to_json(&req)
}

/// Anthropic, with thinking on, requires the assistant turn whose tool calls the conversation
/// is answering (the open tool loop) to start with one of its own signed thinking blocks or a
/// redacted one. Earlier turns are free.
fn tool_turns_signed(messages: &[AMessage]) -> bool {
    let answers_tools = messages.last().is_some_and(|m| {
        m.role == "user"
            && matches!(&m.content, OneOrMany::Parts(b) if b.iter().any(|b| matches!(b, ABlock::ToolResult { .. })))
    });
    if !answers_tools {
        return true;
    }
    let Some(AMessage { content: OneOrMany::Parts(b), .. }) =
        messages.iter().rev().find(|m| m.role == "assistant")
    else {
        return true;
    };
    !b.iter().any(|b| matches!(b, ABlock::ToolUse { .. }))
        || matches!(b.first(), Some(ABlock::Thinking { signature, .. }) if !signature.is_empty())
        || matches!(b.first(), Some(ABlock::RedactedThinking { .. }))
}

// ----- response -----

pub(crate) fn stop_to_ir(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        "pause_turn" => StopReason::PauseTurn,
        other => StopReason::Other(other.to_owned()),
    }
}

pub(crate) fn stop_from_ir(s: &StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::Other(_) => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter | StopReason::Refusal => "refusal",
        StopReason::PauseTurn => "pause_turn",
    }
}

pub(crate) fn usage_to_ir(u: &AUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_creation_input_tokens.unwrap_or(0);
    Usage {
        input: u.input_tokens + read + write,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_creation_input_tokens,
        reasoning: None,
    }
}

fn usage_from_ir(u: &Usage) -> AUsage {
    let read = u.cache_read.unwrap_or(0);
    let write = u.cache_write.unwrap_or(0);
    AUsage {
        input_tokens: u.input.saturating_sub(read + write),
        cache_creation_input_tokens: Some(write),
        cache_read_input_tokens: Some(read),
        output_tokens: u.output,
    }
}

pub(crate) fn response_to_ir(body: &[u8]) -> Result<ir::Response, TranslateError> {
    let resp: MessageResponse =
        serde_json::from_slice(body).map_err(|e| TranslateError::invalid(F, e))?;
    let mut parts = Vec::new();
    for v in resp.content {
        match serde_json::from_value::<ABlock>(v.clone()) {
            Ok(b) => parts.extend(blocks_to_parts(vec![b])),
            Err(_) => parts.push(Part::Opaque { format: F, value: v }),
        }
    }
    Ok(ir::Response {
        id: resp.id,
        model: resp.model,
        created: None,
        parts,
        stop: resp.stop_reason.as_deref().map(stop_to_ir),
        stop_sequence: resp.stop_sequence,
        usage: Some(usage_to_ir(&resp.usage)),
    })
}

pub(crate) fn response_from_ir(
    ir: &ir::Response,
    _ctx: &ResponseContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let blocks = response_blocks(&ir.parts, notes);
    let has_tool = blocks.iter().any(|b| matches!(b, ABlock::ToolUse { .. }));
    let stop = match &ir.stop {
        Some(StopReason::EndTurn) | None if has_tool => "tool_use",
        Some(s) => stop_from_ir(s),
        None => "end_turn",
    };
    let content = blocks.iter().map(|b| serde_json::to_value(b).unwrap_or(Value::Null)).collect();
    let resp = MessageResponse {
        id: msg_id(&ir.id),
        kind: message_type(),
        role: assistant(),
        model: ir.model.clone(),
        content,
        stop_reason: Some(stop.into()),
        stop_sequence: ir.stop_sequence.clone(),
        usage: usage_from_ir(&ir.usage.unwrap_or_default()),
    };
    to_json(&resp)
}

/// Response content for an Anthropic client: foreign reasoning becomes a thinking block without
/// a signature (clients display it and send it back; the request side turns it into text).
fn response_blocks(parts: &[Part], notes: &mut Vec<Note>) -> Vec<ABlock> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Thinking(t) => match &t.redacted {
                Some(data) => out.push(ABlock::RedactedThinking { data: data.clone() }),
                None => out.push(ABlock::Thinking {
                    thinking: t.text.clone(),
                    signature: t
                        .signature
                        .as_ref()
                        .filter(|s| s.format == F)
                        .map(|s| s.value.clone())
                        .unwrap_or_default(),
                }),
            },
            other => out.extend(parts_to_blocks(std::slice::from_ref(other), notes)),
        }
    }
    out
}

fn msg_id(id: &str) -> String {
    if id.starts_with("msg_") || id.is_empty() { id.to_owned() } else { format!("msg_{id}") }
}

// ----- stream: upstream events to IR -----

#[derive(Debug, Default)]
pub(crate) struct Decoder {
    usage: Usage,
    /// Anthropic block index to IR block index (identical, but only for blocks we started).
    open: Vec<usize>,
    done: bool,
    saw_stop: bool,
}

impl Decoder {
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn decode(
        &mut self,
        data: &str,
        out: &mut Vec<Event>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let ev: StreamEvent<'_> =
            serde_json::from_str(data).map_err(|e| TranslateError::invalid(F, e))?;
        let i = ev.index;
        match ev.kind.as_ref() {
            "message_start" => {
                let m = ev.message.unwrap_or_default();
                if let Some(u) = &m.usage {
                    self.usage = usage_to_ir(u);
                }
                out.push(Event::Start { id: m.id, model: m.model, created: None });
            }
            "content_block_start" => {
                let Some(b) = ev.content_block else { return Ok(()) };
                let kind = match b.kind.as_str() {
                    "text" => BlockKind::Text,
                    "thinking" => BlockKind::Thinking { id: None },
                    "redacted_thinking" => {
                        BlockKind::RedactedThinking { data: b.data.unwrap_or_default() }
                    }
                    "tool_use" | "server_tool_use" => BlockKind::ToolCall {
                        id: b.id.unwrap_or_default(),
                        name: b.name.unwrap_or_default(),
                        signature: None,
                    },
                    _ => return Ok(()), // result blocks of server tools: nothing to carry
                };
                self.open.push(i);
                out.push(Event::BlockStart { index: i, kind });
                if let Some(t) = b.text.filter(|t| !t.is_empty()) {
                    out.push(Event::Delta { index: i, delta: Delta::Text(t) });
                }
            }
            "content_block_delta" => {
                let Some(d) = ev.delta.filter(|_| self.open.contains(&i)) else { return Ok(()) };
                let delta = match d.kind.as_deref() {
                    Some("text_delta") => Delta::Text(d.text.unwrap_or_default()),
                    Some("thinking_delta") => Delta::Thinking(d.thinking.unwrap_or_default()),
                    Some("signature_delta") => Delta::Signature(Signature {
                        format: F,
                        value: d.signature.unwrap_or_default(),
                    }),
                    Some("input_json_delta") => {
                        Delta::Arguments(d.partial_json.unwrap_or_default())
                    }
                    _ => return Ok(()),
                };
                out.push(Event::Delta { index: i, delta });
            }
            "content_block_stop" => {
                if let Some(pos) = self.open.iter().position(|&o| o == i) {
                    self.open.remove(pos);
                    out.push(Event::BlockStop { index: i });
                }
            }
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    let mut u = usage_to_ir(u);
                    if u.input == 0 {
                        u.input = self.usage.input;
                        u.cache_read = u.cache_read.or(self.usage.cache_read);
                        u.cache_write = u.cache_write.or(self.usage.cache_write);
                    }
                    self.usage.merge(u);
                }
                if let Some(d) = ev.delta
                    && let Some(r) = d.stop_reason
                {
                    self.saw_stop = true;
                    out.push(Event::Usage(self.usage));
                    out.push(Event::Finish {
                        reason: stop_to_ir(&r),
                        stop_sequence: d.stop_sequence,
                    });
                }
            }
            "message_stop" => {
                for i in std::mem::take(&mut self.open) {
                    out.push(Event::BlockStop { index: i });
                }
                if !self.saw_stop {
                    out.push(Event::Usage(self.usage));
                    out.push(Event::Finish { reason: StopReason::EndTurn, stop_sequence: None });
                }
                out.push(Event::Done);
                self.done = true;
            }
            "error" => {
                out.push(Event::Error(error_to_ir(F, 500, data.as_bytes())));
                self.done = true;
            }
            _ => {} // `ping` and future event types
        }
        Ok(())
    }
}

/// A `content_block_delta` event as written to clients.
#[derive(Serialize)]
struct DeltaEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    delta: DeltaOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(clippy::enum_variant_names, reason = "the variant names are the wire names")]
enum DeltaOut<'a> {
    TextDelta { text: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

/// One Messages stream event, every kind in one flat shape: parsing into it is a single pass
/// with no intermediate tree.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default)]
    pub(crate) index: usize,
    #[serde(default)]
    pub(crate) message: Option<StreamMessage>,
    #[serde(default)]
    pub(crate) content_block: Option<StreamBlock>,
    #[serde(default)]
    pub(crate) delta: Option<StreamDelta>,
    #[serde(default)]
    pub(crate) usage: Option<AUsage>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamMessage {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) usage: Option<AUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamBlock {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) data: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamDelta {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) thinking: Option<String>,
    #[serde(default)]
    pub(crate) signature: Option<String>,
    #[serde(default)]
    pub(crate) partial_json: Option<String>,
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    #[serde(default)]
    pub(crate) stop_sequence: Option<String>,
}

// ----- stream: IR events to client events -----

/// Anthropic blocks cannot interleave: a block that starts while another is open is held back,
/// with its deltas, until the open one stops.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    model: Option<String>,
    /// IR index of the block streaming live, and its Anthropic index.
    live: Option<(usize, usize)>,
    /// Blocks waiting their turn: IR index, start event data, buffered deltas, stopped.
    queue: Vec<Queued>,
    next: usize,
    usage: Usage,
    finish: Option<(StopReason, Option<String>)>,
    saw_tool: bool,
    started: bool,
    finished: bool,
}

#[derive(Debug)]
struct Queued {
    ir: usize,
    kind: BlockKind,
    deltas: Vec<Delta>,
    stopped: bool,
}

fn emit(out: &mut Vec<u8>, event: &str, v: &Value) {
    write_event(out, Some(event), &v.to_string());
}

impl Encoder {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        Self { model: ctx.model.clone(), ..Default::default() }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    pub(crate) fn encode(&mut self, ev: Event, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, model, .. } => {
                self.started = true;
                let model = self.model.clone().unwrap_or(model);
                let msg = json!({"type": "message_start", "message": {
                    "id": msg_id(&id), "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}});
                emit(out, "message_start", &msg);
            }
            Event::BlockStart { index, kind } => {
                if matches!(kind, BlockKind::ToolCall { .. }) {
                    self.saw_tool = true;
                }
                self.queue.push(Queued { ir: index, kind, deltas: Vec::new(), stopped: false });
                self.pump(out);
            }
            Event::Delta { index, delta } => match self.live {
                Some((ir, a)) if ir == index => self.write_delta(a, delta, out),
                _ => {
                    if let Some(q) = self.queue.iter_mut().find(|q| q.ir == index) {
                        q.deltas.push(delta);
                    }
                }
            },
            Event::BlockStop { index } => {
                match self.live {
                    Some((ir, a)) if ir == index => {
                        emit(
                            out,
                            "content_block_stop",
                            &json!({"type": "content_block_stop", "index": a}),
                        );
                        self.live = None;
                    }
                    _ => {
                        if let Some(q) = self.queue.iter_mut().find(|q| q.ir == index) {
                            q.stopped = true;
                        }
                    }
                }
                self.pump(out);
            }
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish { reason, stop_sequence } => self.finish = Some((reason, stop_sequence)),
            Event::Error(e) => {
                emit(out, "error", &error_value(F, &e));
                self.finished = true;
            }
            Event::Done => {
                if let Some((_, a)) = self.live.take() {
                    emit(
                        out,
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": a}),
                    );
                }
                for q in &mut self.queue {
                    q.stopped = true;
                }
                self.pump(out);
                let (reason, seq) = self.finish.take().unwrap_or((StopReason::EndTurn, None));
                let reason = if reason == StopReason::EndTurn && self.saw_tool {
                    StopReason::ToolUse
                } else {
                    reason
                };
                let u = usage_from_ir(&self.usage);
                emit(
                    out,
                    "message_delta",
                    &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_from_ir(&reason), "stop_sequence": seq},
                        "usage": u}),
                );
                emit(out, "message_stop", &json!({"type": "message_stop"}));
                self.finished = true;
            }
        }
    }

    /// Starts queued blocks while nothing is live; flushes those that already ended.
    fn pump(&mut self, out: &mut Vec<u8>) {
        while self.live.is_none() && !self.queue.is_empty() {
            let q = self.queue.remove(0);
            let a = self.next;
            self.next += 1;
            let block = match &q.kind {
                BlockKind::Text => json!({"type": "text", "text": ""}),
                BlockKind::Thinking { .. } => {
                    json!({"type": "thinking", "thinking": "", "signature": ""})
                }
                BlockKind::RedactedThinking { data } => {
                    json!({"type": "redacted_thinking", "data": data})
                }
                BlockKind::ToolCall { id, name, .. } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                }
            };
            emit(
                out,
                "content_block_start",
                &json!({"type": "content_block_start", "index": a, "content_block": block}),
            );
            for d in q.deltas {
                self.write_delta(a, d, out);
            }
            if q.stopped {
                emit(out, "content_block_stop", &json!({"type": "content_block_stop", "index": a}));
            } else {
                self.live = Some((q.ir, a));
            }
        }
    }

    fn write_delta(&mut self, a: usize, d: Delta, out: &mut Vec<u8>) {
        let delta = match &d {
            Delta::Text(t) => DeltaOut::TextDelta { text: t },
            Delta::Thinking(t) => DeltaOut::ThinkingDelta { thinking: t },
            Delta::Signature(s) if s.format == F => {
                DeltaOut::SignatureDelta { signature: &s.value }
            }
            Delta::Signature(_) => return,
            Delta::Arguments(p) => DeltaOut::InputJsonDelta { partial_json: p },
        };
        let ev = DeltaEvent { kind: "content_block_delta", index: a, delta };
        if let Ok(json) = serde_json::to_string(&ev) {
            write_event(out, Some("content_block_delta"), &json);
        }
    }
}
