//! The internal representation every format maps into and out of.
//!
//! It is deliberately richer than any one format, so a request that goes through it keeps what
//! its source could say (thinking and signatures, cache marks, tool-call ids, documents). It is
//! internal: it derives no `Serialize`, and snapshots show wire JSON, never IR.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::Format;

#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) model: Option<String>,
    pub(crate) messages: Vec<Message>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) parallel_tool_calls: Option<bool>,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
    pub(crate) top_k: Option<u64>,
    pub(crate) stop: Vec<String>,
    pub(crate) seed: Option<i64>,
    pub(crate) presence_penalty: Option<f64>,
    pub(crate) frequency_penalty: Option<f64>,
    pub(crate) candidate_count: Option<u64>,
    pub(crate) response_format: Option<ResponseFormat>,
    pub(crate) reasoning: Option<Reasoning>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// End-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub(crate) user: Option<String>,
    /// Unknown fields of the source, with the format they came from.
    pub(crate) extra: Extra,
}

/// Fields a format defines that have no IR slot, kept so they can be restored when the target is
/// the same format (and reported as losses otherwise).
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    pub(crate) format: Option<Format>,
    pub(crate) fields: Map<String, Value>,
}

impl Extra {
    pub(crate) fn new(format: Format, fields: Map<String, Value>) -> Self {
        Self { format: Some(format), fields }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    System,
    Developer,
    User,
    Assistant,
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) role: Role,
    pub(crate) parts: Vec<Part>,
    /// Assistant `name` / participant name where a format has it.
    pub(crate) name: Option<String>,
}

/// `cache_control` (Anthropic) marks, kept as the raw object.
pub(crate) type CacheMark = Option<Value>;

#[derive(Debug, Clone)]
pub(crate) enum Part {
    Text {
        text: String,
        cache: CacheMark,
        /// A Gemini `thoughtSignature` carried on a text part.
        signature: Option<Signature>,
    },
    Image {
        source: Media,
        detail: Option<String>,
        cache: CacheMark,
    },
    Document {
        source: Media,
        title: Option<String>,
        cache: CacheMark,
    },
    Thinking(Thinking),
    ToolCall(ToolCall),
    ToolResult {
        id: String,
        name: Option<String>,
        content: Vec<Part>,
        is_error: bool,
        cache: CacheMark,
    },
    /// A part only its own format understands (server tool blocks, audio, ...).
    Opaque {
        format: Format,
        value: Value,
    },
}

impl Part {
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into(), cache: None, signature: None }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Media {
    Url { url: String, mime: Option<String> },
    Base64 { mime: String, data: String },
    FileId { id: String, mime: Option<String> },
}

impl Media {
    /// Parses `data:<mime>;base64,<data>` URLs into [`Media::Base64`]; anything else is a URL.
    pub(crate) fn from_url(url: &str) -> Media {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((meta, data)) = rest.split_once(',')
            && let Some(mime) = meta.strip_suffix(";base64")
        {
            return Media::Base64 { mime: mime.to_owned(), data: data.to_owned() };
        }
        Media::Url { url: url.to_owned(), mime: None }
    }

    pub(crate) fn to_url(&self) -> String {
        match self {
            Media::Url { url, .. } => url.clone(),
            Media::Base64 { mime, data } => format!("data:{mime};base64,{data}"),
            Media::FileId { id, .. } => id.clone(),
        }
    }

    pub(crate) fn mime(&self) -> Option<&str> {
        match self {
            Media::Url { mime, .. } | Media::FileId { mime, .. } => mime.as_deref(),
            Media::Base64 { mime, .. } => Some(mime),
        }
    }
}

/// An opaque, format-bound proof that a reasoning trace is genuine: Anthropic thinking
/// signatures, Gemini thought signatures, Responses `encrypted_content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub(crate) format: Format,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Thinking {
    pub(crate) text: String,
    pub(crate) signature: Option<Signature>,
    /// Anthropic `redacted_thinking` data.
    pub(crate) redacted: Option<String>,
    /// A Responses reasoning item id.
    pub(crate) id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The arguments as JSON text, exactly as received.
    pub(crate) arguments: String,
    pub(crate) signature: Option<Signature>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// The JSON schema, kept as text: most targets take it as it is.
    pub(crate) parameters: Box<RawValue>,
    pub(crate) strict: Option<bool>,
    pub(crate) cache: CacheMark,
    /// A Responses `custom` tool: free-text input, carried elsewhere as a function with one
    /// string parameter, `input`.
    pub(crate) freeform: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Tool(String),
    /// A subset of tools, any of which must be called (Gemini `allowedFunctionNames`).
    AnyOf(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: Option<String>,
        schema: Value,
        strict: Option<bool>,
        description: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Reasoning {
    /// `minimal`, `low`, `medium`, `high`, ...
    pub(crate) effort: Option<String>,
    pub(crate) budget_tokens: Option<i64>,
    /// Whether thought text is wanted back (Gemini `includeThoughts`, Responses `summary`).
    pub(crate) summary: Option<String>,
    pub(crate) include_thoughts: Option<bool>,
    /// Explicitly switched off (Anthropic `disabled`, budget 0).
    pub(crate) disabled: bool,
}

/// Effort names to token budgets and back, for formats that speak only one of the two.
pub(crate) fn effort_to_budget(effort: &str) -> i64 {
    match effort {
        "none" => 0,
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" => 24576,
        _ => 32768, // `xhigh` and whatever comes next
    }
}

pub(crate) fn budget_to_effort(budget: i64) -> &'static str {
    match budget {
        i64::MIN..=0 => "none",
        1..=1024 => "minimal",
        1025..=4096 => "low",
        4097..=16384 => "medium",
        _ => "high",
    }
}

// ----- responses -----

#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) created: Option<u64>,
    pub(crate) parts: Vec<Part>,
    pub(crate) stop: Option<StopReason>,
    pub(crate) stop_sequence: Option<String>,
    pub(crate) usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
    Refusal,
    PauseTurn,
    Other(String),
}

/// Token counts. `input` is every prompt token, cached ones included (OpenAI's convention);
/// formats that count cached tokens apart (Anthropic) convert on the way in and out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: Option<u64>,
    pub(crate) cache_write: Option<u64>,
    pub(crate) reasoning: Option<u64>,
}

impl Usage {
    pub(crate) fn total(&self) -> u64 {
        self.input + self.output
    }

    /// Later reports refine earlier ones: a field present in `newer` wins.
    pub(crate) fn merge(&mut self, newer: Usage) {
        if newer.input > 0 {
            self.input = newer.input;
        }
        if newer.output > 0 {
            self.output = newer.output;
        }
        self.cache_read = newer.cache_read.or(self.cache_read);
        self.cache_write = newer.cache_write.or(self.cache_write);
        self.reasoning = newer.reasoning.or(self.reasoning);
    }
}

// ----- stream events -----

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BlockKind {
    Text,
    Thinking { id: Option<String> },
    RedactedThinking { data: String },
    ToolCall { id: String, name: String, signature: Option<Signature> },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Delta {
    Text(String),
    Thinking(String),
    Signature(Signature),
    Arguments(String),
}

/// One step of a response stream. Blocks are numbered by the decoder in the order they start;
/// several may be open at once (interleaved parallel tool calls), and encoders of formats that
/// cannot interleave hold later blocks back until the earlier ones end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Start {
        id: String,
        model: String,
        created: Option<u64>,
    },
    BlockStart {
        index: usize,
        kind: BlockKind,
    },
    Delta {
        index: usize,
        delta: Delta,
    },
    BlockStop {
        index: usize,
    },
    Usage(Usage),
    Finish {
        reason: StopReason,
        stop_sequence: Option<String>,
    },
    Error(ErrorInfo),
    /// The upstream ended the stream normally.
    Done,
}

// ----- errors -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was malformed or not acceptable (400).
    InvalidRequest,
    /// Missing or bad credentials (401).
    Authentication,
    /// Credentials valid but not allowed (403).
    PermissionDenied,
    /// Unknown model or route (404).
    NotFound,
    /// Body too large (413).
    RequestTooLarge,
    /// Rate limit or quota exhausted (429).
    RateLimit,
    /// The upstream is overloaded (529 / 503).
    Overloaded,
    /// Upstream timed out (504 / 408).
    Timeout,
    /// Anything else on the server side (500).
    Server,
}

impl ErrorKind {
    /// The HTTP status that usually goes with this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimit => 429,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Server => 500,
        }
    }

    /// The kind that goes with an HTTP status.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Server,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorInfo {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    /// The upstream's own type or code string, kept for the client when it is meaningful.
    pub(crate) code: Option<String>,
    pub(crate) param: Option<String>,
}
