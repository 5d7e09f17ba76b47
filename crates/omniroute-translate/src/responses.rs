//! OpenAI Responses: wire types and their mapping to and from the IR.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::error::{TranslateError, error_to_ir, error_value};
use crate::ir::{
    self, BlockKind, Delta, Event, Extra, Media, Message, Part, Reasoning, Request, ResponseFormat,
    Role, Signature, StopReason, Thinking, Tool, ToolCall, ToolChoice, Usage,
};
use crate::openai::{carry_extra, empty_schema, reasoning_effort};
use crate::sse::write_event;
use crate::wire::OneOrMany;
use crate::{Format, Note, RequestOptions, ResponseContext, to_json};

const F: Format = Format::Responses;

// ----- wire types -----

/// A `/v1/responses` request body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ResponsesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input: Option<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<RTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning: Option<ReasoningConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<TextConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    #[serde(flatten, skip_deserializing)]
    pub(crate) extra: Map<String, Value>,
}

pub(crate) type Input = OneOrMany<InputItem>;

/// An `input` item: parsed as a `Value` (items of unknown types must survive), written from
/// the typed [`Item`] without an intermediate tree.
#[derive(Debug)]
pub(crate) enum InputItem {
    Item(Item),
    Raw(Value),
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(InputItem::Raw)
    }
}

impl Serialize for InputItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            InputItem::Item(i) => i.serialize(s),
            InputItem::Raw(v) => v.serialize(s),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ReasoningConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) summary: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TextConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<Value>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// A tool definition. Built-in tools (`web_search`, ...) only parse far enough to be named.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RTool {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
    /// A `custom` tool's input format (`text`, or a grammar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<Value>,
}

/// The schema a `custom` (free-text) tool gets in formats that only know JSON tools: one
/// string, `input`, described with the tool's grammar so the model can follow it.
fn freeform_schema(format: Option<&Value>) -> Box<RawValue> {
    let mut description = "The raw input for this tool, as free text.".to_owned();
    if let Some(f) = format
        && f.get("type").and_then(Value::as_str) == Some("grammar")
    {
        let syntax = f.get("syntax").and_then(Value::as_str).unwrap_or("grammar");
        let def = f.get("definition").and_then(Value::as_str).unwrap_or_default();
        description.push_str(&format!(" It must follow this {syntax} grammar:\n{def}"));
    }
    crate::wire::to_raw(
        &json!({"type": "object", "properties": {"input": {"type": "string", "description": description}},
        "required": ["input"], "additionalProperties": false}),
    )
}

/// A free-text tool call's input, from the JSON arguments it travelled as.
fn freeform_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(mut o)) => match o.remove("input") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

/// One item of `input` or `output`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Item {
    Message {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        role: String,
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    FunctionCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    FunctionCallOutput {
        call_id: String,
        output: FunctionOutput,
    },
    CustomToolCall {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        call_id: String,
        name: String,
        #[serde(default)]
        input: String,
    },
    CustomToolCallOutput {
        call_id: String,
        output: FunctionOutput,
    },
    Reasoning {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default)]
        summary: Vec<SummaryText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Vec<SummaryText>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

pub(crate) type MessageContent = OneOrMany<ContentPart>;
pub(crate) type FunctionOutput = OneOrMany<ContentPart>;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentPart {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
        #[serde(default)]
        annotations: Vec<Value>,
    },
    InputImage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    InputFile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
    Refusal {
        refusal: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SummaryText {
    #[serde(rename = "type", default = "summary_text")]
    pub(crate) kind: String,
    pub(crate) text: String,
}

fn summary_text() -> String {
    "summary_text".into()
}

/// A `response` object.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ResponseObject {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default = "response_object")]
    pub(crate) object: String,
    #[serde(default)]
    pub(crate) created_at: u64,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) output: Vec<Value>,
    #[serde(default)]
    pub(crate) incomplete_details: Option<Value>,
    #[serde(default)]
    pub(crate) error: Option<Value>,
    #[serde(default)]
    pub(crate) usage: Option<RUsage>,
}

fn response_object() -> String {
    "response".into()
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct RUsage {
    #[serde(default)]
    pub(crate) input_tokens: u64,
    #[serde(default)]
    pub(crate) input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    pub(crate) output_tokens: u64,
    #[serde(default)]
    pub(crate) output_tokens_details: Option<OutputDetails>,
    #[serde(default)]
    pub(crate) total_tokens: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct InputDetails {
    #[serde(default)]
    pub(crate) cached_tokens: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    pub(crate) reasoning_tokens: u64,
}

// ----- request -----

pub(crate) fn request_to_ir(body: &[u8], notes: &mut Vec<Note>) -> Result<Request, TranslateError> {
    let (mut req, extra): (ResponsesRequest, _) =
        crate::wire::parse_with_extra(body).map_err(|e| TranslateError::invalid(F, e))?;
    req.extra = extra;
    let mut messages: Vec<Message> = Vec::new();
    if let Some(i) = req.instructions {
        messages.push(Message { role: Role::System, parts: vec![Part::text(i)], name: None });
    }
    let items = match req.input {
        None => Vec::new(),
        Some(OneOrMany::Text(t)) => {
            messages.push(Message { role: Role::User, parts: vec![Part::text(t)], name: None });
            Vec::new()
        }
        Some(OneOrMany::Parts(items)) => items,
    };
    for v in items.into_iter().map(|i| match i {
        InputItem::Raw(v) => v,
        InputItem::Item(i) => serde_json::to_value(i).unwrap_or_default(),
    }) {
        // Easy input messages (`{"role":..,"content":..}`) omit the type.
        let v = match v {
            Value::Object(mut o) if !o.contains_key("type") && o.contains_key("role") => {
                o.insert("type".into(), "message".into());
                Value::Object(o)
            }
            v => v,
        };
        let item = match serde_json::from_value::<Item>(v.clone()) {
            Ok(item) => item,
            Err(_) => {
                let t = v.get("type").and_then(Value::as_str).unwrap_or("?");
                notes.push(Note(format!("dropped input item of type `{t}`")));
                messages.push(Message {
                    role: Role::User,
                    parts: vec![Part::Opaque { format: F, value: v }],
                    name: None,
                });
                continue;
            }
        };
        let (role, part) = match item {
            Item::Message { role, content, .. } => {
                let role = match role.as_str() {
                    "system" => Role::System,
                    "developer" => Role::Developer,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(TranslateError::invalid(
                            F,
                            format!("unknown message role `{other}`"),
                        ));
                    }
                };
                let parts = content_to_parts(content);
                push(&mut messages, role, parts);
                continue;
            }
            Item::FunctionCall { call_id, name, arguments, .. } => (
                Role::Assistant,
                Part::ToolCall(ToolCall { id: call_id, name, arguments, signature: None }),
            ),
            Item::CustomToolCall { call_id, name, input, .. } => {
                let arguments = json!({ "input": input }).to_string();
                (
                    Role::Assistant,
                    Part::ToolCall(ToolCall { id: call_id, name, arguments, signature: None }),
                )
            }
            Item::FunctionCallOutput { call_id, output }
            | Item::CustomToolCallOutput { call_id, output } => {
                let content = match output {
                    OneOrMany::Text(t) => vec![Part::text(t)],
                    OneOrMany::Parts(p) => content_to_parts(OneOrMany::Parts(p)),
                };
                (
                    Role::User,
                    Part::ToolResult {
                        id: call_id,
                        name: None,
                        content,
                        is_error: false,
                        cache: None,
                    },
                )
            }
            Item::Reasoning { id, summary, content, encrypted_content } => {
                let text = content
                    .unwrap_or(summary)
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                (
                    Role::Assistant,
                    Part::Thinking(Thinking {
                        text,
                        signature: encrypted_content.map(|value| Signature { format: F, value }),
                        redacted: None,
                        id,
                    }),
                )
            }
        };
        push_merge(&mut messages, role, part);
    }
    let mut tools = Vec::new();
    for t in req.tools.unwrap_or_default() {
        match (t.kind.as_str(), t.name) {
            ("function", Some(name)) => tools.push(Tool {
                name,
                description: t.description,
                parameters: t.parameters.unwrap_or_else(crate::wire::empty_schema_raw),
                strict: t.strict,
                cache: None,
                freeform: false,
            }),
            ("custom", Some(name)) => tools.push(Tool {
                name,
                description: t.description,
                parameters: freeform_schema(t.format.as_ref()),
                strict: None,
                cache: None,
                freeform: true,
            }),
            (kind, _) => notes.push(Note(format!(
                "dropped built-in tool `{kind}`: only function tools translate"
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
        Value::Object(o) => {
            o.get("name").and_then(Value::as_str).map(|n| ToolChoice::Tool(n.to_owned()))
        }
        _ => None,
    });
    let mut extra = req.extra;
    let response_format = req.text.and_then(|t| {
        if !t.other.is_empty() {
            extra.insert("text".into(), Value::Object(t.other));
        }
        let f = t.format?;
        match f.get("type").and_then(Value::as_str)? {
            "text" => Some(ResponseFormat::Text),
            "json_object" => Some(ResponseFormat::JsonObject),
            "json_schema" => Some(ResponseFormat::JsonSchema {
                name: f.get("name").and_then(Value::as_str).map(str::to_owned),
                schema: f.get("schema").cloned().unwrap_or_else(empty_schema),
                strict: f.get("strict").and_then(Value::as_bool),
                description: f.get("description").and_then(Value::as_str).map(str::to_owned),
            }),
            _ => None,
        }
    });
    Ok(Request {
        model: req.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        response_format,
        reasoning: req.reasoning.map(|r| Reasoning {
            disabled: r.effort.as_deref() == Some("none"),
            effort: r.effort,
            include_thoughts: r.summary.as_ref().map(|_| true),
            summary: r.summary,
            budget_tokens: None,
        }),
        stream: req.stream.unwrap_or(false),
        user: req.user,
        extra: Extra::new(F, extra),
        ..Default::default()
    })
}

fn push(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    messages.push(Message { role, parts, name: None });
}

/// Tool calls, results and reasoning items are separate items in Responses; the IR keeps them
/// in the turn they belong to.
fn push_merge(messages: &mut Vec<Message>, role: Role, part: Part) {
    match messages.last_mut() {
        Some(last)
            if last.role == role
                && (role == Role::Assistant
                    || last.parts.iter().all(|p| matches!(p, Part::ToolResult { .. }))) =>
        {
            last.parts.push(part)
        }
        _ => messages.push(Message { role, parts: vec![part], name: None }),
    }
}

fn content_to_parts(content: MessageContent) -> Vec<Part> {
    match content {
        OneOrMany::Text(t) => vec![Part::text(t)],
        OneOrMany::Parts(parts) => parts
            .into_iter()
            .map(|p| match p {
                ContentPart::InputText { text } | ContentPart::OutputText { text, .. } => {
                    Part::text(text)
                }
                ContentPart::Refusal { refusal } => Part::text(refusal),
                ContentPart::InputImage { image_url, file_id, detail } => {
                    let source = match (image_url, file_id) {
                        (Some(u), _) => Media::from_url(&u),
                        (None, Some(id)) => Media::FileId { id, mime: None },
                        (None, None) => Media::Url { url: String::new(), mime: None },
                    };
                    Part::Image { source, detail, cache: None }
                }
                ContentPart::InputFile { file_data, file_id, file_url, filename } => {
                    let source = match (file_data, file_id, file_url) {
                        (Some(d), _, _) => match Media::from_url(&d) {
                            m @ Media::Base64 { .. } => m,
                            _ => Media::Base64 { mime: "application/pdf".into(), data: d },
                        },
                        (None, Some(id), _) => Media::FileId { id, mime: None },
                        (None, None, Some(url)) => Media::Url { url, mime: None },
                        (None, None, None) => Media::Url { url: String::new(), mime: None },
                    };
                    Part::Document { source, title: filename, cache: None }
                }
            })
            .collect(),
    }
}

fn parts_to_content(parts: &[Part], assistant: bool, notes: &mut Vec<Note>) -> Vec<ContentPart> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, .. } => out.push(if assistant {
                ContentPart::OutputText { text: text.clone(), annotations: Vec::new() }
            } else {
                ContentPart::InputText { text: text.clone() }
            }),
            Part::Image { source, detail, .. } => out.push(match source {
                Media::FileId { id, .. } => ContentPart::InputImage {
                    image_url: None,
                    file_id: Some(id.clone()),
                    detail: detail.clone(),
                },
                m => ContentPart::InputImage {
                    image_url: Some(m.to_url()),
                    file_id: None,
                    detail: Some(detail.clone().unwrap_or_else(|| "auto".into())),
                },
            }),
            Part::Document { source, title, .. } => out.push(match source {
                Media::Base64 { .. } => ContentPart::InputFile {
                    file_data: Some(source.to_url()),
                    file_id: None,
                    file_url: None,
                    filename: Some(title.clone().unwrap_or_else(|| "document.pdf".into())),
                },
                Media::FileId { id, .. } => ContentPart::InputFile {
                    file_data: None,
                    file_id: Some(id.clone()),
                    file_url: None,
                    filename: title.clone(),
                },
                Media::Url { url, .. } => ContentPart::InputFile {
                    file_data: None,
                    file_id: None,
                    file_url: Some(url.clone()),
                    filename: title.clone(),
                },
            }),
            Part::Opaque { format, .. } => {
                notes.push(Note(format!("dropped a {format}-only content part")))
            }
            Part::Thinking(_) | Part::ToolCall(_) | Part::ToolResult { .. } => {}
        }
    }
    out
}

fn tool_output(content: &[Part], is_error: bool, notes: &mut Vec<Note>) -> FunctionOutput {
    let all_text = content.iter().all(|p| matches!(p, Part::Text { .. }));
    let prefix = if is_error { "Error: " } else { "" };
    if all_text {
        let text: Vec<&str> = content
            .iter()
            .filter_map(
                |p| if let Part::Text { text, .. } = p { Some(text.as_str()) } else { None },
            )
            .collect();
        OneOrMany::Text(format!("{prefix}{}", text.join("\n")))
    } else {
        OneOrMany::Parts(parts_to_content(content, false, notes))
    }
}

pub(crate) fn request_from_ir(
    ir: &Request,
    _opts: &RequestOptions,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut input: Vec<InputItem> = Vec::with_capacity(ir.messages.len());
    let mut leading = true;
    let item = InputItem::Item;
    for m in &ir.messages {
        let role = match m.role {
            Role::System | Role::Developer
                if leading && m.parts.iter().all(|p| matches!(p, Part::Text { .. })) =>
            {
                for p in &m.parts {
                    if let Part::Text { text, .. } = p {
                        instructions.push(text.clone());
                    }
                }
                continue;
            }
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        leading = false;
        let assistant = m.role == Role::Assistant;
        let mut pending: Vec<Part> = Vec::new();
        let flush = |pending: &mut Vec<Part>, input: &mut Vec<InputItem>, notes: &mut Vec<Note>| {
            if !pending.is_empty() {
                let content = parts_to_content(pending, assistant, notes);
                pending.clear();
                if !content.is_empty() {
                    input.push(item(Item::Message {
                        id: None,
                        role: role.into(),
                        content: OneOrMany::Parts(content),
                        status: None,
                    }));
                }
            }
        };
        for p in &m.parts {
            match p {
                Part::ToolCall(c) => {
                    flush(&mut pending, &mut input, notes);
                    input.push(item(Item::FunctionCall {
                        id: None,
                        call_id: c.id.clone(),
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                        status: None,
                    }));
                }
                Part::ToolResult { id, content, is_error, .. } => {
                    flush(&mut pending, &mut input, notes);
                    input.push(item(Item::FunctionCallOutput {
                        call_id: id.clone(),
                        output: tool_output(content, *is_error, notes),
                    }));
                }
                Part::Thinking(t) => {
                    flush(&mut pending, &mut input, notes);
                    // Only our own encrypted reasoning can be replayed; a foreign trace would
                    // be rejected, so it goes along as visible text instead.
                    match &t.signature {
                        Some(s) if s.format == F => input.push(item(Item::Reasoning {
                            id: t.id.clone(),
                            summary: if t.text.is_empty() {
                                Vec::new()
                            } else {
                                vec![SummaryText { kind: summary_text(), text: t.text.clone() }]
                            },
                            content: None,
                            encrypted_content: Some(s.value.clone()),
                        })),
                        _ if !t.text.is_empty() => {
                            notes.push(Note(
                                "foreign reasoning sent as text: responses replays only its own"
                                    .into(),
                            ));
                            pending.push(Part::text(format!("<thinking>{}</thinking>", t.text)));
                        }
                        _ => {}
                    }
                }
                Part::Opaque { format: F, value } => {
                    flush(&mut pending, &mut input, notes);
                    input.push(InputItem::Raw(value.clone()));
                }
                other => pending.push(other.clone()),
            }
        }
        flush(&mut pending, &mut input, notes);
    }
    let tools: Vec<RTool> = ir
        .tools
        .iter()
        .map(|t| RTool {
            kind: "function".into(),
            name: Some(t.name.clone()),
            description: t.description.clone(),
            parameters: Some(t.parameters.clone()),
            strict: Some(t.strict.unwrap_or(false)),
            format: None,
        })
        .collect();
    let tool_choice = ir.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => Value::from("auto"),
        ToolChoice::None => Value::from("none"),
        ToolChoice::Required => Value::from("required"),
        ToolChoice::Tool(n) => json!({"type": "function", "name": n}),
        ToolChoice::AnyOf(names) => json!({"type": "allowed_tools", "mode": "required",
            "tools": names.iter().map(|n| json!({"type": "function", "name": n})).collect::<Vec<_>>()}),
    });
    let mut extra = Map::new();
    carry_extra(&ir.extra, &mut extra, notes, F);
    let text_other = match extra.remove("text") {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let format = ir.response_format.as_ref().map(|f| match f {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { name, schema, strict, description } => {
            let mut o = json!({"type": "json_schema", "name": name.clone().unwrap_or_else(|| "response".into()), "schema": schema});
            if let Some(s) = strict {
                o["strict"] = Value::from(*s);
            }
            if let Some(d) = description {
                o["description"] = Value::from(d.clone());
            }
            o
        }
    });
    let text = (format.is_some() || !text_other.is_empty())
        .then(|| TextConfig { format, other: text_other });
    let reasoning = ir.reasoning.as_ref().and_then(|r| {
        let effort = if r.disabled { Some("none".to_owned()) } else { reasoning_effort(Some(r)) };
        let summary = r
            .summary
            .clone()
            .or_else(|| r.include_thoughts.filter(|i| *i).map(|_| "auto".to_owned()));
        (effort.is_some() || summary.is_some()).then_some(ReasoningConfig { effort, summary })
    });
    for (what, present) in [
        ("stop sequences", !ir.stop.is_empty()),
        ("top_k", ir.top_k.is_some()),
        ("seed", ir.seed.is_some()),
        ("penalties", ir.presence_penalty.is_some() || ir.frequency_penalty.is_some()),
    ] {
        if present {
            notes.push(Note(format!("dropped {what}: responses has no equivalent")));
        }
    }
    let req = ResponsesRequest {
        model: ir.model.clone(),
        instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
        input: Some(OneOrMany::Parts(input)),
        tools: Some(tools).filter(|t| !t.is_empty()),
        tool_choice,
        parallel_tool_calls: ir.parallel_tool_calls,
        max_output_tokens: ir.max_tokens,
        temperature: ir.temperature,
        top_p: ir.top_p,
        reasoning,
        text,
        stream: ir.stream.then_some(true),
        user: ir.user.clone(),
        extra,
    };
    to_json(&req)
}

// ----- response -----

pub(crate) fn usage_to_ir(u: &RUsage) -> Usage {
    Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.input_tokens_details.as_ref().map(|d| d.cached_tokens),
        cache_write: None,
        reasoning: u.output_tokens_details.as_ref().map(|d| d.reasoning_tokens),
    }
}

fn usage_from_ir(u: &Usage) -> RUsage {
    RUsage {
        input_tokens: u.input,
        input_tokens_details: Some(InputDetails { cached_tokens: u.cache_read.unwrap_or(0) }),
        output_tokens: u.output,
        output_tokens_details: Some(OutputDetails { reasoning_tokens: u.reasoning.unwrap_or(0) }),
        total_tokens: u.total(),
    }
}

fn output_to_parts(output: Vec<Value>) -> Vec<Part> {
    let mut parts = Vec::new();
    for v in output {
        match serde_json::from_value::<Item>(v.clone()) {
            Ok(Item::Message { content, .. }) => parts.extend(content_to_parts(content)),
            Ok(Item::FunctionCall { call_id, name, arguments, .. }) => parts
                .push(Part::ToolCall(ToolCall { id: call_id, name, arguments, signature: None })),
            Ok(Item::Reasoning { id, summary, content, encrypted_content }) => {
                let text = content
                    .unwrap_or(summary)
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                parts.push(Part::Thinking(Thinking {
                    text,
                    signature: encrypted_content.map(|value| Signature { format: F, value }),
                    redacted: None,
                    id,
                }));
            }
            Ok(Item::CustomToolCall { call_id, name, input, .. }) => {
                parts.push(Part::ToolCall(ToolCall {
                    id: call_id,
                    name,
                    arguments: json!({ "input": input }).to_string(),
                    signature: None,
                }))
            }
            Ok(Item::FunctionCallOutput { .. } | Item::CustomToolCallOutput { .. }) | Err(_) => {
                parts.push(Part::Opaque { format: F, value: v })
            }
        }
    }
    parts
}

fn stop_of(status: &str, incomplete: Option<&Value>, has_calls: bool) -> StopReason {
    match status {
        "incomplete" => match incomplete.and_then(|d| d.get("reason")).and_then(Value::as_str) {
            Some("content_filter") => StopReason::ContentFilter,
            _ => StopReason::MaxTokens,
        },
        _ if has_calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

pub(crate) fn response_to_ir(body: &[u8]) -> Result<ir::Response, TranslateError> {
    let resp: ResponseObject =
        serde_json::from_slice(body).map_err(|e| TranslateError::invalid(F, e))?;
    let parts = output_to_parts(resp.output);
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    Ok(ir::Response {
        stop: Some(stop_of(&resp.status, resp.incomplete_details.as_ref(), has_calls)),
        id: resp.id,
        model: resp.model,
        created: Some(resp.created_at).filter(|c| *c > 0),
        parts,
        stop_sequence: None,
        usage: resp.usage.as_ref().map(usage_to_ir),
    })
}

/// Ids for items the translator invents, derived from the response id so they are stable.
fn item_id(prefix: &str, base: &str, n: usize) -> String {
    let base: String = base.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{prefix}_{base}_{n}")
}

fn resp_id(id: &str) -> String {
    if id.starts_with("resp_") {
        id.to_owned()
    } else {
        format!("resp_{}", id.trim_start_matches("chatcmpl-"))
    }
}

fn custom_call_item(id: &str, call_id: &str, name: &str, input: &str, status: &str) -> Value {
    json!({"id": id, "type": "custom_tool_call", "status": status, "call_id": call_id, "name": name, "input": input})
}

fn output_items(
    parts: &[Part],
    base: &str,
    names: &crate::ToolNames,
    notes: &mut Vec<Note>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<Value>| {
        if !text.is_empty() {
            let n = out.len();
            out.push(message_item(&item_id("msg", base, n), std::mem::take(text), "completed"));
        }
    };
    for p in parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Thinking(t) => {
                flush(&mut text, &mut out);
                let n = out.len();
                out.push(reasoning_item(
                    t.id.clone().unwrap_or_else(|| item_id("rs", base, n)),
                    &t.text,
                    own_sig(t),
                ));
            }
            Part::ToolCall(c) if names.is_freeform(&c.name) => {
                flush(&mut text, &mut out);
                let n = out.len();
                let input = freeform_input(&c.arguments);
                out.push(custom_call_item(
                    &item_id("ctc", base, n),
                    &c.id,
                    &c.name,
                    &input,
                    "completed",
                ));
            }
            Part::ToolCall(c) => {
                flush(&mut text, &mut out);
                let n = out.len();
                out.push(call_item(
                    &item_id("fc", base, n),
                    &c.id,
                    &c.name,
                    &c.arguments,
                    "completed",
                ));
            }
            _ => notes.push(Note("dropped a response part responses cannot carry".into())),
        }
    }
    flush(&mut text, &mut out);
    out
}

fn own_sig(t: &Thinking) -> Option<&str> {
    t.signature.as_ref().filter(|s| s.format == F).map(|s| s.value.as_str())
}

fn message_item(id: &str, text: String, status: &str) -> Value {
    json!({"id": id, "type": "message", "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn reasoning_item(id: String, text: &str, sig: Option<&str>) -> Value {
    let summary =
        if text.is_empty() { json!([]) } else { json!([{"type": "summary_text", "text": text}]) };
    let mut v = json!({"id": id, "type": "reasoning", "summary": summary});
    if let Some(s) = sig {
        v["encrypted_content"] = Value::from(s);
    }
    v
}

fn call_item(id: &str, call_id: &str, name: &str, args: &str, status: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "arguments": args, "call_id": call_id, "name": name})
}

fn status_of(stop: Option<&StopReason>) -> (&'static str, Value) {
    match stop {
        Some(StopReason::MaxTokens) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::ContentFilter | StopReason::Refusal) => {
            ("incomplete", json!({"reason": "content_filter"}))
        }
        _ => ("completed", Value::Null),
    }
}

pub(crate) fn response_from_ir(
    ir: &ir::Response,
    ctx: &ResponseContext,
    notes: &mut Vec<Note>,
) -> Result<Vec<u8>, TranslateError> {
    let id = resp_id(&ir.id);
    let (status, incomplete) = status_of(ir.stop.as_ref());
    let resp = ResponseObject {
        output: output_items(&ir.parts, &id, &ctx.tool_names, notes),
        id,
        object: response_object(),
        created_at: ir.created.unwrap_or(ctx.now),
        status: status.into(),
        model: ir.model.clone(),
        incomplete_details: Some(incomplete),
        error: None,
        usage: ir.usage.as_ref().map(usage_from_ir),
    };
    to_json(&resp)
}

// ----- stream: upstream events to IR -----

#[derive(Debug, Default)]
pub(crate) struct Decoder {
    next: usize,
    /// Open blocks: (output_index, content/summary index, IR index, kind tag).
    open: Vec<(u64, u64, usize, u8)>,
    saw_tool: bool,
    done: bool,
}

const TEXT: u8 = 0;
const THINK: u8 = 1;
const CALL: u8 = 2;
const CUSTOM: u8 = 3;

impl Decoder {
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    fn find(&self, out_idx: u64, kind: u8) -> Option<usize> {
        self.open.iter().rev().find(|o| o.0 == out_idx && o.3 == kind).map(|o| o.2)
    }

    fn open_block(
        &mut self,
        out_idx: u64,
        sub: u64,
        tag: u8,
        kind: BlockKind,
        out: &mut Vec<Event>,
    ) -> usize {
        let i = self.next;
        self.next += 1;
        self.open.push((out_idx, sub, i, tag));
        out.push(Event::BlockStart { index: i, kind });
        i
    }

    fn close(&mut self, out_idx: u64, tag: Option<u8>, out: &mut Vec<Event>) {
        let (closing, keep): (Vec<_>, Vec<_>) =
            self.open.drain(..).partition(|o| o.0 == out_idx && tag.is_none_or(|t| t == o.3));
        self.open = keep;
        for o in closing {
            out.push(Event::BlockStop { index: o.2 });
        }
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
        let null = Value::Null;
        let t = ev.kind.as_ref();
        let oi = ev.output_index;
        let item = ev.item.as_ref().unwrap_or(&null);
        let resp = ev.response.as_ref().unwrap_or(&null);
        let delta = || ev.delta.clone().unwrap_or_default();
        match t {
            "response.created" => {
                let r = resp;
                out.push(Event::Start {
                    id: r["id"].as_str().unwrap_or_default().to_owned(),
                    model: r["model"].as_str().unwrap_or_default().to_owned(),
                    created: r["created_at"].as_u64(),
                });
            }
            "response.output_item.added" => {
                match item["type"].as_str() {
                    Some("function_call") => {
                        self.saw_tool = true;
                        let kind = BlockKind::ToolCall {
                            id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                            name: item["name"].as_str().unwrap_or_default().to_owned(),
                            signature: None,
                        };
                        let i = self.open_block(oi, 0, CALL, kind, out);
                        if let Some(a) = item["arguments"].as_str().filter(|a| !a.is_empty()) {
                            out.push(Event::Delta {
                                index: i,
                                delta: Delta::Arguments(a.to_owned()),
                            });
                        }
                    }
                    Some("custom_tool_call") => {
                        self.saw_tool = true;
                        let kind = BlockKind::ToolCall {
                            id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                            name: item["name"].as_str().unwrap_or_default().to_owned(),
                            signature: None,
                        };
                        // Its free-text input arrives whole with `output_item.done`.
                        self.open_block(oi, 0, CUSTOM, kind, out);
                    }
                    Some("reasoning") => {
                        let id = item["id"].as_str().map(str::to_owned);
                        self.open_block(oi, 0, THINK, BlockKind::Thinking { id }, out);
                    }
                    _ => {} // messages open their text blocks with content parts
                }
            }
            "response.content_part.added" if self.find(oi, TEXT).is_none() => {
                self.open_block(oi, 0, TEXT, BlockKind::Text, out);
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let i = match self.find(oi, TEXT) {
                    Some(i) => i,
                    None => self.open_block(oi, 0, TEXT, BlockKind::Text, out),
                };
                out.push(Event::Delta { index: i, delta: Delta::Text(delta()) });
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let i = match self.find(oi, THINK) {
                    Some(i) => i,
                    None => self.open_block(oi, 0, THINK, BlockKind::Thinking { id: None }, out),
                };
                out.push(Event::Delta { index: i, delta: Delta::Thinking(delta()) });
            }
            "response.reasoning_summary_part.added" => {
                // A second summary part reads as a new paragraph.
                if ev.summary_index.unwrap_or(0) > 0
                    && let Some(i) = self.find(oi, THINK)
                {
                    out.push(Event::Delta { index: i, delta: Delta::Thinking("\n\n".into()) });
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(i) = self.find(oi, CALL) {
                    out.push(Event::Delta { index: i, delta: Delta::Arguments(delta()) });
                }
            }
            "response.output_item.done" if item["type"] == "custom_tool_call" => {
                if let Some(i) = self.find(oi, CUSTOM) {
                    let input = item["input"].as_str().unwrap_or_default();
                    let arguments = json!({ "input": input }).to_string();
                    out.push(Event::Delta { index: i, delta: Delta::Arguments(arguments) });
                }
                self.close(oi, None, out);
            }
            "response.output_item.done" => {
                if let (Some(i), Some(sig)) =
                    (self.find(oi, THINK), item["encrypted_content"].as_str())
                {
                    out.push(Event::Delta {
                        index: i,
                        delta: Delta::Signature(Signature { format: F, value: sig.to_owned() }),
                    });
                }
                self.close(oi, None, out);
            }
            "response.completed" | "response.incomplete" => {
                let r = resp;
                for o in std::mem::take(&mut self.open) {
                    out.push(Event::BlockStop { index: o.2 });
                }
                if let Ok(u) = serde_json::from_value::<RUsage>(r["usage"].clone()) {
                    out.push(Event::Usage(usage_to_ir(&u)));
                }
                let status = r["status"].as_str().unwrap_or(if t == "response.incomplete" {
                    "incomplete"
                } else {
                    "completed"
                });
                let reason = stop_of(status, r.get("incomplete_details"), self.saw_tool);
                out.push(Event::Finish { reason, stop_sequence: None });
                out.push(Event::Done);
                self.done = true;
            }
            "response.failed" => {
                let e = &resp["error"];
                let body = json!({ "error": e });
                out.push(Event::Error(error_to_ir(F, 500, body.to_string().as_bytes())));
                self.done = true;
            }
            "error" => {
                let v: Value = serde_json::from_str(data).unwrap_or_default();
                let body = json!({ "error": v.get("error").unwrap_or(&v) });
                out.push(Event::Error(error_to_ir(F, 500, body.to_string().as_bytes())));
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct DeltaEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a [u8]>,
}

/// One Responses stream event. The frequent delta events parse without an intermediate tree;
/// the rare item and response snapshots stay `Value`s.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub(crate) output_index: u64,
    #[serde(default)]
    pub(crate) summary_index: Option<u64>,
    #[serde(default)]
    pub(crate) delta: Option<String>,
    #[serde(default)]
    pub(crate) item: Option<Value>,
    #[serde(default)]
    pub(crate) response: Option<Value>,
}

// ----- stream: IR events to client events -----

/// Writes the Responses event sequence. Items cannot interleave for clients that render them
/// in order, so like the Anthropic encoder it holds later items back until the live one ends.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    id: String,
    model: String,
    created: u64,
    seq: u64,
    live: Option<Live>,
    queue: Vec<(usize, BlockKind, Vec<Delta>, bool)>,
    /// Finished output items, for `response.completed`.
    output: Vec<Value>,
    usage: Usage,
    finish: Option<StopReason>,
    saw_tool: bool,
    finished: bool,
    /// Client names of free-text (`custom`) tools.
    freeform: Vec<String>,
}

#[derive(Debug)]
struct Live {
    ir: usize,
    kind: BlockKind,
    item_id: String,
    output_index: usize,
    text: String,
    sig: Option<String>,
}

impl Encoder {
    pub(crate) fn new(ctx: &ResponseContext) -> Self {
        Self {
            created: ctx.now,
            model: ctx.model.clone().unwrap_or_default(),
            freeform: ctx.tool_names.freeform_names().map(str::to_owned).collect(),
            ..Default::default()
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn emit(&mut self, out: &mut Vec<u8>, event: &str, v: Value) {
        // `type` and `sequence_number` lead, as OpenAI writes them.
        let mut o = Map::with_capacity(8);
        o.insert("type".into(), Value::from(event));
        o.insert("sequence_number".into(), Value::from(self.seq));
        if let Value::Object(rest) = v {
            o.extend(rest);
        }
        self.seq += 1;
        write_event(out, Some(event), &Value::Object(o).to_string());
    }

    /// The frequent delta events, written without building a `Value`.
    fn emit_delta(
        &mut self,
        out: &mut Vec<u8>,
        event: &'static str,
        item_id: &str,
        output_index: usize,
        delta: &str,
    ) {
        let (content_index, summary_index, logprobs) = match event {
            "response.output_text.delta" => (Some(0), None, Some(&[] as &[u8])),
            "response.reasoning_summary_text.delta" => (None, Some(0), None),
            _ => (None, None, None),
        };
        let ev = DeltaEvent {
            kind: event,
            sequence_number: self.seq,
            item_id,
            output_index,
            content_index,
            summary_index,
            delta,
            logprobs,
        };
        self.seq += 1;
        if let Ok(json) = serde_json::to_string(&ev) {
            write_event(out, Some(event), &json);
        }
    }

    fn response(&self, status: &str) -> Value {
        json!({"id": self.id, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "output": self.output, "usage": null, "error": null, "incomplete_details": null})
    }

    pub(crate) fn encode(&mut self, ev: Event, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, model, created } => {
                self.id = resp_id(&id);
                if self.model.is_empty() {
                    self.model = model;
                }
                if let Some(c) = created {
                    self.created = c;
                }
                let r = self.response("in_progress");
                self.emit(out, "response.created", json!({"response": r}));
                self.emit(out, "response.in_progress", json!({"response": r}));
            }
            Event::BlockStart { index, kind } => {
                if matches!(kind, BlockKind::ToolCall { .. }) {
                    self.saw_tool = true;
                }
                self.queue.push((index, kind, Vec::new(), false));
                self.pump(out);
            }
            Event::Delta { index, delta } => {
                if self.live.as_ref().is_some_and(|l| l.ir == index) {
                    self.delta(delta, out);
                } else if let Some(q) = self.queue.iter_mut().find(|q| q.0 == index) {
                    q.2.push(delta);
                }
            }
            Event::BlockStop { index } => {
                if self.live.as_ref().is_some_and(|l| l.ir == index) {
                    self.stop_live(out);
                } else if let Some(q) = self.queue.iter_mut().find(|q| q.0 == index) {
                    q.3 = true;
                }
                self.pump(out);
            }
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish { reason, .. } => self.finish = Some(reason),
            Event::Error(e) => {
                let mut r = self.response("failed");
                let err = error_value(F, &e);
                r["error"] = json!({"code": err["error"]["code"].as_str().unwrap_or("server_error"),
                    "message": e.message});
                self.emit(out, "response.failed", json!({"response": r}));
                self.finished = true;
            }
            Event::Done => {
                self.stop_live(out);
                for q in &mut self.queue {
                    q.3 = true;
                }
                self.pump(out);
                let stop = match self.finish.take() {
                    Some(StopReason::EndTurn) | None if self.saw_tool => StopReason::ToolUse,
                    Some(r) => r,
                    None => StopReason::EndTurn,
                };
                let (status, incomplete) = status_of(Some(&stop));
                let mut r = self.response(status);
                r["usage"] =
                    serde_json::to_value(usage_from_ir(&self.usage)).unwrap_or(Value::Null);
                r["incomplete_details"] = incomplete;
                let event = if status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                self.emit(out, event, json!({"response": r}));
                self.finished = true;
            }
        }
    }

    fn pump(&mut self, out: &mut Vec<u8>) {
        while self.live.is_none() && !self.queue.is_empty() {
            let (ir, kind, deltas, stopped) = self.queue.remove(0);
            let oi = self.output.len();
            let base = self.id.clone();
            let (item_id, item) = match &kind {
                BlockKind::Text => {
                    let id = item_id("msg", &base, oi);
                    let item = json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
                    (id, item)
                }
                BlockKind::Thinking { .. } | BlockKind::RedactedThinking { .. } => {
                    let id = match &kind {
                        BlockKind::Thinking { id: Some(id) } => id.clone(),
                        _ => item_id("rs", &base, oi),
                    };
                    let item = json!({"id": id, "type": "reasoning", "summary": []});
                    (id, item)
                }
                BlockKind::ToolCall { id, name, .. } if self.freeform.contains(name) => {
                    let ctc = item_id("ctc", &base, oi);
                    let item = custom_call_item(&ctc, id, name, "", "in_progress");
                    (ctc, item)
                }
                BlockKind::ToolCall { id, name, .. } => {
                    let fc = item_id("fc", &base, oi);
                    let item = call_item(&fc, id, name, "", "in_progress");
                    (fc, item)
                }
            };
            self.emit(out, "response.output_item.added", json!({"output_index": oi, "item": item}));
            match &kind {
                BlockKind::Text => self.emit(
                    out,
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": oi, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": []}}),
                ),
                BlockKind::Thinking { .. } => self.emit(
                    out,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": item_id, "output_index": oi, "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""}}),
                ),
                _ => {}
            }
            // The item is not in `output` until it is done; reserve its slot now.
            self.output.push(Value::Null);
            self.live =
                Some(Live { ir, kind, item_id, output_index: oi, text: String::new(), sig: None });
            for d in deltas {
                self.delta(d, out);
            }
            if stopped {
                self.stop_live(out);
            }
        }
    }

    fn delta(&mut self, d: Delta, out: &mut Vec<u8>) {
        let Some(live) = self.live.as_mut() else { return };
        let (id, oi) = (live.item_id.clone(), live.output_index);
        match (&live.kind, d) {
            (BlockKind::Text, Delta::Text(t)) => {
                live.text.push_str(&t);
                self.emit_delta(out, "response.output_text.delta", &id, oi, &t);
            }
            (BlockKind::Thinking { .. }, Delta::Thinking(t)) => {
                live.text.push_str(&t);
                self.emit_delta(out, "response.reasoning_summary_text.delta", &id, oi, &t);
            }
            (BlockKind::Thinking { .. }, Delta::Signature(s)) if s.format == F => {
                live.sig = Some(s.value)
            }
            (BlockKind::ToolCall { name, .. }, Delta::Arguments(a))
                if self.freeform.contains(name) =>
            {
                // The input is inside JSON arguments: it is sent whole when the call ends.
                live.text.push_str(&a);
            }
            (BlockKind::ToolCall { .. }, Delta::Arguments(a)) => {
                live.text.push_str(&a);
                self.emit_delta(out, "response.function_call_arguments.delta", &id, oi, &a);
            }
            _ => {}
        }
    }

    fn stop_live(&mut self, out: &mut Vec<u8>) {
        let Some(live) = self.live.take() else { return };
        let (id, oi, text) = (live.item_id, live.output_index, live.text);
        let item = match &live.kind {
            BlockKind::Text => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0,
                        "part": {"type": "output_text", "text": text, "annotations": []}}),
                );
                message_item(&id, text, "completed")
            }
            BlockKind::Thinking { .. } | BlockKind::RedactedThinking { .. } => {
                self.emit(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                );
                self.emit(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0,
                        "part": {"type": "summary_text", "text": text}}),
                );
                reasoning_item(id.clone(), &text, live.sig.as_deref())
            }
            BlockKind::ToolCall { id: call_id, name, .. } if self.freeform.contains(name) => {
                let input = freeform_input(&text);
                self.emit_delta(out, "response.custom_tool_call_input.delta", &id, oi, &input);
                self.emit(
                    out,
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id, "output_index": oi, "input": input}),
                );
                custom_call_item(&id, call_id, name, &input, "completed")
            }
            BlockKind::ToolCall { id: call_id, name, .. } => {
                let args = if text.trim().is_empty() { "{}".to_owned() } else { text };
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": oi, "arguments": args}),
                );
                call_item(&id, call_id, name, &args, "completed")
            }
        };
        self.emit(out, "response.output_item.done", json!({"output_index": oi, "item": item}));
        if let Some(slot) = self.output.get_mut(oi) {
            *slot = item;
        }
    }
}
