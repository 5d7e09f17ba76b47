//! Translation between the four LLM wire formats an AI gateway meets: OpenAI Chat Completions,
//! Anthropic Messages, Gemini `generateContent` and OpenAI Responses.
//!
//! Every format maps into one internal representation and out of it again, for requests,
//! non-streaming responses and stream events, so all twelve directed pairs work and nothing
//! one format can say is silently dropped: what a target cannot carry is translated to its
//! closest form and reported as a [`Note`]. Same-format traffic never enters the IR: only the
//! model name is rewritten.
//!
//! The crate is pure and synchronous: no I/O, no async runtime, no clock reads. Callers pass
//! bytes in and get bytes out; a [`StreamTranslator`] is a state machine fed with whatever
//! chunks the network delivers, and its output does not depend on how the input was split.
//!
//! # Example
//!
//! ```
//! use omniroute_translate::{translate_request, translate_response, Format, RequestOptions,
//!     ResponseContext, StreamTranslator};
//!
//! // An OpenAI Chat request, sent on to an Anthropic upstream.
//! let body = br#"{"model":"gpt-4o","messages":[
//!     {"role":"system","content":"Be brief."},
//!     {"role":"user","content":"Hi"}]}"#;
//! let opts = RequestOptions { model: Some("claude-sonnet-4-5".into()), ..Default::default() };
//! let req = translate_request(Format::OpenAiChat, Format::Anthropic, body, &opts)?;
//! let json: serde_json::Value = serde_json::from_slice(&req.body)?;
//! assert_eq!(json["system"], "Be brief.");
//! assert_eq!(json["max_tokens"], 8192); // Anthropic requires it; a default is filled in
//!
//! // The upstream's answer, back in the client's format.
//! let upstream = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
//!     "content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn",
//!     "usage":{"input_tokens":12,"output_tokens":3}}"#;
//! let ctx = ResponseContext { tool_names: req.tool_names.clone(), ..Default::default() };
//! let resp = translate_response(Format::Anthropic, Format::OpenAiChat, upstream, &ctx)?;
//! let json: serde_json::Value = serde_json::from_slice(&resp.body)?;
//! assert_eq!(json["choices"][0]["message"]["content"], "Hello!");
//! assert_eq!(json["choices"][0]["finish_reason"], "stop");
//!
//! // A stream, fed in arbitrary pieces.
//! let mut stream = StreamTranslator::new(Format::Anthropic, Format::OpenAiChat, ctx);
//! let mut out = Vec::new();
//! stream.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\
//!     \"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":12,\"output_tokens\":0}}}\n\nevent: content_block_st", &mut out);
//! stream.feed(b"art\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", &mut out);
//! stream.finish(&mut out).unwrap_err(); // cut before `message_stop`: reported, and
//! assert!(String::from_utf8_lossy(&out).contains("\"error\"")); // the client gets an error event
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod anthropic;
mod error;
mod gemini;
mod ir;
mod names;
mod openai;
mod passthrough;
mod responses;
pub mod sse;
mod stream;
mod think;
mod wire;

use std::fmt;
use std::str::FromStr;

pub use error::{TranslateError, error_body, translate_error};
pub use ir::ErrorKind;
pub use names::ToolNames;
pub use passthrough::{RequestFacts, peek_request};
pub use stream::{StreamError, StreamTranslator, TokenUsage};

/// The four wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenAiChat,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Gemini `generateContent` / `streamGenerateContent?alt=sse`.
    Gemini,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
}

impl Format {
    /// Every format, in a fixed order.
    pub const ALL: [Format; 4] =
        [Format::OpenAiChat, Format::Anthropic, Format::Gemini, Format::Responses];

    /// The short id used in configuration and fixture paths.
    pub fn id(self) -> &'static str {
        match self {
            Format::OpenAiChat => "openai",
            Format::Anthropic => "anthropic",
            Format::Gemini => "gemini",
            Format::Responses => "responses",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Format {
    type Err = TranslateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" | "openai-chat" | "chat" => Ok(Format::OpenAiChat),
            "anthropic" | "claude" => Ok(Format::Anthropic),
            "gemini" => Ok(Format::Gemini),
            "responses" | "openai-responses" => Ok(Format::Responses),
            other => Err(TranslateError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Something a translation could not carry over as it was, and what it did instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(pub String);

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an OpenAI Chat target spells the token limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens`, which every OpenAI-compatible server knows.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`, which OpenAI's reasoning models require.
    MaxCompletionTokens,
}

/// Knobs for request translation. The defaults suit the providers' own APIs.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    /// The upstream model name to write into the body (`None` keeps the client's). Gemini
    /// carries the model in the URL, so a Gemini target body never has one.
    pub model: Option<String>,
    /// `max_tokens` for Anthropic targets when the client gave none (Anthropic requires it).
    pub default_max_tokens: u64,
    /// OpenAI Chat targets: keep the `developer` role (OpenAI's own API) or send it as
    /// `system` (most OpenAI-compatible servers reject `developer`).
    pub keep_developer_role: bool,
    /// OpenAI Chat targets: send system prompts as user turns, for models that reject `system`.
    pub system_as_user: bool,
    /// OpenAI Chat targets: which token-limit field to write.
    pub max_tokens_field: MaxTokensField,
    /// OpenAI Chat targets: send earlier reasoning back as `reasoning_content` on assistant
    /// turns (DeepSeek and most reasoning hosts want it; OpenAI's own API rejects the field).
    pub reasoning_content_history: bool,
    /// Overrides the client's stream flag (Gemini clients choose streaming by URL).
    pub stream: Option<bool>,
    /// OpenAI Chat targets: ask for usage in streams with `stream_options.include_usage`
    /// (some OpenAI-compatible servers reject the field).
    pub stream_usage: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            model: None,
            default_max_tokens: 8192,
            keep_developer_role: false,
            system_as_user: false,
            max_tokens_field: MaxTokensField::MaxTokens,
            reasoning_content_history: true,
            stream: None,
            stream_usage: true,
        }
    }
}

/// A request translated for the upstream.
#[derive(Debug, Clone)]
pub struct TranslatedRequest {
    /// The body to send upstream.
    pub body: Vec<u8>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The model the client named (Gemini clients name it in the URL, so `None`).
    pub client_model: Option<String>,
    /// An OpenAI Chat client asked for a final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Tool names that had to change for the target, to be restored in the response.
    pub tool_names: ToolNames,
    /// What could not be carried over as it was.
    pub notes: Vec<Note>,
}

/// What response translation needs to know about the request it answers.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// The mapping [`translate_request`] made, so responses show the client's own tool names.
    pub tool_names: ToolNames,
    /// Unix seconds, for the timestamps a format requires and the upstream did not give.
    pub now: u64,
    /// OpenAI Chat clients: send the final usage chunk (mirror of `stream_options.include_usage`).
    pub include_usage: bool,
    /// OpenAI Chat upstreams: turn a leading `<think>…</think>` in the content into reasoning.
    pub split_think_tags: bool,
    /// The model name to report to the client (`None` reports the upstream's).
    pub model: Option<String>,
    /// Re-encode same-format traffic through the IR, which drops fields the format does not
    /// define (for upstreams that add their own, like Groq's `x_groq`).
    pub normalize: bool,
    /// The caller's estimate of the prompt's tokens, used only when the upstream reports no
    /// usage at all (never added to reported counts).
    pub estimated_input_tokens: u64,
}

impl Default for ResponseContext {
    fn default() -> Self {
        Self {
            tool_names: ToolNames::default(),
            now: 0,
            include_usage: true,
            split_think_tags: true,
            model: None,
            normalize: false,
            estimated_input_tokens: 0,
        }
    }
}

/// A translated non-streaming response.
#[derive(Debug, Clone)]
pub struct TranslatedResponse {
    /// The body for the client.
    pub body: Vec<u8>,
    /// What could not be carried over as it was.
    pub notes: Vec<Note>,
    /// The usage the upstream reported, or the estimate when it reported none.
    pub usage: Option<TokenUsage>,
    /// `usage` is an estimate.
    pub usage_estimated: bool,
}

/// Reads the usage a response body reports, without translating it (for accounting of
/// same-format answers that pass through).
pub fn response_usage(format: Format, body: &[u8]) -> Option<TokenUsage> {
    #[derive(serde::Deserialize)]
    struct OpenAi {
        usage: Option<openai::ChatUsage>,
    }
    #[derive(serde::Deserialize)]
    struct Anthropic {
        usage: Option<anthropic::AUsage>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Gemini {
        #[serde(alias = "usage_metadata")]
        usage_metadata: Option<gemini::UsageMetadata>,
    }
    #[derive(serde::Deserialize)]
    struct Responses {
        usage: Option<responses::RUsage>,
    }
    let u = match format {
        Format::OpenAiChat => {
            serde_json::from_slice::<OpenAi>(body).ok()?.usage.as_ref().map(openai::usage_to_ir)
        }
        Format::Anthropic => serde_json::from_slice::<Anthropic>(body)
            .ok()?
            .usage
            .as_ref()
            .map(anthropic::usage_to_ir),
        Format::Gemini => serde_json::from_slice::<Gemini>(body)
            .ok()?
            .usage_metadata
            .as_ref()
            .map(gemini::usage_to_ir),
        Format::Responses => serde_json::from_slice::<Responses>(body)
            .ok()?
            .usage
            .as_ref()
            .map(responses::usage_to_ir),
    };
    u.map(TokenUsage::from)
}

/// Translates a request body from the client's format to the upstream's.
///
/// When both formats are the same the body is not parsed into the IR: only the model name is
/// rewritten in place, and every other byte passes through.
pub fn translate_request(
    from: Format,
    to: Format,
    body: &[u8],
    opts: &RequestOptions,
) -> Result<TranslatedRequest, TranslateError> {
    if from == to {
        return passthrough::request(from, body, opts);
    }
    let mut notes = Vec::new();
    let mut ir = match from {
        Format::OpenAiChat => openai::request_to_ir(body, &mut notes)?,
        Format::Anthropic => anthropic::request_to_ir(body, &mut notes)?,
        Format::Gemini => gemini::request_to_ir(body, &mut notes)?,
        Format::Responses => responses::request_to_ir(body, &mut notes)?,
    };
    let client_model = ir.model.clone();
    if let Some(model) = &opts.model {
        ir.model = Some(model.clone());
    }
    if let Some(stream) = opts.stream {
        ir.stream = stream;
    }
    let tool_names = names::map_tools(&mut ir, to);
    let body = match to {
        Format::OpenAiChat => openai::request_from_ir(&ir, opts, &mut notes),
        Format::Anthropic => anthropic::request_from_ir(&ir, opts, &mut notes),
        Format::Gemini => gemini::request_from_ir(&ir, opts, &mut notes),
        Format::Responses => responses::request_from_ir(&ir, opts, &mut notes),
    }?;
    Ok(TranslatedRequest {
        body,
        stream: ir.stream,
        client_model,
        include_usage: ir.include_usage,
        tool_names,
        notes,
    })
}

/// Translates a non-streaming response body from the upstream's format to the client's.
pub fn translate_response(
    upstream: Format,
    client: Format,
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<TranslatedResponse, TranslateError> {
    if upstream == client && ctx.tool_names.is_empty() && ctx.model.is_none() && !ctx.normalize {
        let usage = response_usage(upstream, body);
        return Ok(TranslatedResponse {
            body: body.to_vec(),
            notes: Vec::new(),
            usage,
            usage_estimated: false,
        });
    }
    let mut notes = Vec::new();
    let mut ir = match upstream {
        Format::OpenAiChat => openai::response_to_ir(body, ctx)?,
        Format::Anthropic => anthropic::response_to_ir(body)?,
        Format::Gemini => gemini::response_to_ir(body)?,
        Format::Responses => responses::response_to_ir(body)?,
    };
    ctx.tool_names.restore_response(&mut ir);
    let usage_estimated = ir.usage.is_none();
    if usage_estimated {
        ir.usage = Some(estimate_usage(&ir.parts, ctx.estimated_input_tokens));
        notes.push(Note("usage estimated: the upstream reported none".into()));
    }
    if let Some(model) = &ctx.model {
        ir.model = model.clone();
    }
    let body = match client {
        Format::OpenAiChat => openai::response_from_ir(&ir, ctx, &mut notes),
        Format::Anthropic => anthropic::response_from_ir(&ir, ctx, &mut notes),
        Format::Gemini => gemini::response_from_ir(&ir, ctx, &mut notes),
        Format::Responses => responses::response_from_ir(&ir, ctx, &mut notes),
    }?;
    Ok(TranslatedResponse { body, notes, usage: ir.usage.map(TokenUsage::from), usage_estimated })
}

/// About four bytes of text per token: the estimate used only when an upstream reports no
/// usage.
pub(crate) fn estimate_output(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

fn estimate_usage(parts: &[ir::Part], input: u64) -> ir::Usage {
    let bytes: usize = parts
        .iter()
        .map(|p| match p {
            ir::Part::Text { text, .. } => text.len(),
            ir::Part::Thinking(t) => t.text.len(),
            ir::Part::ToolCall(c) => c.name.len() + c.arguments.len(),
            _ => 0,
        })
        .sum();
    ir::Usage { input, output: estimate_output(bytes), ..Default::default() }
}

/// Serializes a wire value; wire types contain only maps with string keys, so this cannot fail
/// in practice, but a failure is still reported rather than unwrapped.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, TranslateError> {
    serde_json::to_vec(value).map_err(|e| TranslateError::Encode(e.to_string()))
}
