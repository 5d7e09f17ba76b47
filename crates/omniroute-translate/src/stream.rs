//! The stream translator: upstream SSE bytes in, the client's SSE bytes out.
//!
//! One state machine per stream: the SSE codec cuts bytes into events, the upstream format's
//! decoder turns events into IR events, and the client format's encoder writes them out. Same
//! format streams are forwarded byte for byte; only the events that carry usage or end the
//! stream are parsed, to account for usage and to notice a stream that was cut short.

use crate::error::TranslateError;
use crate::ir::{BlockKind, Delta, ErrorInfo, ErrorKind, Event, Usage};
use crate::sse::{SseDecoder, SseEvent};
use crate::{Format, ResponseContext, anthropic, gemini, openai, responses};

/// Why a stream did not end cleanly. The client has already been sent a terminal error event
/// in its own format when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The upstream closed the stream before its format's end marker.
    #[error("upstream stream ended before it was complete")]
    Truncated,
    /// The upstream sent an event that is not valid for its format.
    #[error("upstream sent an invalid event: {0}")]
    InvalidEvent(String),
    /// The upstream reported an error inside the stream.
    #[error("upstream reported an error: {0}")]
    Upstream(String),
}

/// Token counts reported by the upstream, as far as the stream has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from a cache.
    pub cache_read: Option<u64>,
    /// Prompt tokens written to a cache.
    pub cache_write: Option<u64>,
    /// Reasoning tokens.
    pub reasoning: Option<u64>,
}

impl From<Usage> for TokenUsage {
    fn from(u: Usage) -> Self {
        Self {
            input: u.input,
            output: u.output,
            cache_read: u.cache_read,
            cache_write: u.cache_write,
            reasoning: u.reasoning,
        }
    }
}

enum Decoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Gemini(gemini::Decoder),
    Responses(responses::Decoder),
}

impl Decoder {
    fn new(format: Format, ctx: &ResponseContext) -> Self {
        match format {
            Format::OpenAiChat => Decoder::OpenAi(openai::Decoder::new(ctx)),
            Format::Anthropic => Decoder::Anthropic(anthropic::Decoder::default()),
            Format::Gemini => Decoder::Gemini(gemini::Decoder::default()),
            Format::Responses => Decoder::Responses(responses::Decoder::default()),
        }
    }

    fn decode(&mut self, data: &str, out: &mut Vec<Event>) -> Result<(), TranslateError> {
        match self {
            Decoder::OpenAi(d) => d.decode(data, out),
            Decoder::Anthropic(d) => d.decode(data, out),
            Decoder::Gemini(d) => d.decode(data, out),
            Decoder::Responses(d) => d.decode(data, out),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Decoder::OpenAi(d) => d.is_done(),
            Decoder::Anthropic(d) => d.is_done(),
            Decoder::Gemini(d) => d.is_done(),
            Decoder::Responses(d) => d.is_done(),
        }
    }

    /// Ends a stream whose format has no end marker, or whose server skipped it after a
    /// complete answer. Returns false when the stream is incomplete.
    fn end(&mut self, out: &mut Vec<Event>) -> bool {
        match self {
            Decoder::OpenAi(d) if d.can_end() => d.end(out),
            Decoder::Gemini(d) if d.can_end() => d.end(out),
            _ => return self.is_done(),
        }
        true
    }
}

enum Encoder {
    OpenAi(openai::Encoder),
    Anthropic(anthropic::Encoder),
    Gemini(gemini::Encoder),
    Responses(responses::Encoder),
}

impl Encoder {
    fn new(format: Format, ctx: &ResponseContext) -> Self {
        match format {
            Format::OpenAiChat => Encoder::OpenAi(openai::Encoder::new(ctx)),
            Format::Anthropic => Encoder::Anthropic(anthropic::Encoder::new(ctx)),
            Format::Gemini => Encoder::Gemini(gemini::Encoder::new(ctx)),
            Format::Responses => Encoder::Responses(responses::Encoder::new(ctx)),
        }
    }

    fn encode(&mut self, ev: Event, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.encode(ev, out),
            Encoder::Anthropic(e) => e.encode(ev, out),
            Encoder::Gemini(e) => e.encode(ev, out),
            Encoder::Responses(e) => e.encode(ev, out),
        }
    }

    fn finished(&self) -> bool {
        match self {
            Encoder::OpenAi(e) => e.finished(),
            Encoder::Anthropic(e) => e.finished(),
            Encoder::Gemini(e) => e.finished(),
            Encoder::Responses(e) => e.finished(),
        }
    }
}

/// Translates one response stream. Feed it the upstream's bytes as they arrive; it appends the
/// client's bytes to `out`, one complete event at a time, so every call's output can be
/// flushed at once.
pub struct StreamTranslator {
    client: Format,
    passthrough: bool,
    ctx: ResponseContext,
    sse: SseDecoder,
    decoder: Decoder,
    encoder: Encoder,
    events: Vec<SseEvent>,
    ir: Vec<Event>,
    usage: Option<Usage>,
    /// Bytes of generated text, for an estimate when the upstream reports no usage.
    generated: usize,
    estimated: bool,
    problem: Option<StreamError>,
    /// Passthrough of Responses streams: the last `sequence_number` seen, so a terminal error
    /// event can continue the numbering.
    last_seq: Option<u64>,
}

impl StreamTranslator {
    /// A translator from the upstream's format to the client's.
    pub fn new(upstream: Format, client: Format, ctx: ResponseContext) -> Self {
        let passthrough = upstream == client
            && ctx.tool_names.is_empty()
            && ctx.model.is_none()
            && !ctx.normalize;
        Self {
            client,
            passthrough,
            decoder: Decoder::new(upstream, &ctx),
            encoder: Encoder::new(client, &ctx),
            ctx,
            sse: SseDecoder::new(),
            events: Vec::new(),
            ir: Vec::new(),
            usage: None,
            generated: 0,
            estimated: false,
            problem: None,
            last_seq: None,
        }
    }

    /// True when bytes are forwarded unchanged (same format on both sides).
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// True once the stream has ended, normally or with an error: nothing more will be written.
    pub fn is_finished(&self) -> bool {
        if self.passthrough {
            self.decoder.is_done() || self.problem.is_some()
        } else {
            self.encoder.finished()
        }
    }

    /// The usage the upstream reported so far (or, once the stream ended without any, the
    /// estimate that was sent to the client: see [`StreamTranslator::usage_is_estimate`]).
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage.map(TokenUsage::from)
    }

    /// True when the upstream reported no usage and [`StreamTranslator::usage`] is an estimate.
    pub fn usage_is_estimate(&self) -> bool {
        self.estimated
    }

    /// Feeds a chunk of upstream bytes; appends whatever the client should receive to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.passthrough {
            // The upstream's bytes go on as they are, up to the last one.
            out.extend_from_slice(chunk);
        }
        if self.is_finished() {
            return;
        }
        self.sse.feed(chunk, &mut self.events);
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            // Once the stream has ended (an error included) nothing more is written, however
            // many events the same chunk still holds: the output must not depend on chunking.
            if self.is_finished() {
                break;
            }
            if self.passthrough {
                self.observe(ev);
            } else {
                self.translate(ev, out);
            }
        }
        self.events = events;
        self.events.clear();
    }

    /// Passthrough: parse only what carries usage or ends the stream.
    fn observe(&mut self, ev: &SseEvent) {
        let d = ev.data.as_str();
        if let Some(n) = sequence_number(d) {
            self.last_seq = Some(n);
        }
        let wanted = match ev.event.as_deref() {
            Some(name) => {
                matches!(
                    name,
                    "message_start"
                        | "message_delta"
                        | "message_stop"
                        | "error"
                        | "response.completed"
                        | "response.incomplete"
                        | "response.failed"
                )
            }
            None => {
                d.starts_with("[DONE]")
                    || d.contains("\"usage")
                    || d.contains("\"finish_reason\":\"")
                    || d.contains("\"finishReason\"")
                    || d.contains("\"error\"")
                    || d.contains("\"type\":\"response.")
                    || d.contains("\"type\":\"message_")
            }
        };
        if !wanted {
            return;
        }
        let mut ir = std::mem::take(&mut self.ir);
        if self.decoder.decode(d, &mut ir).is_ok() {
            for e in ir.drain(..) {
                self.note(&e);
            }
        }
        self.ir = ir;
    }

    fn note(&mut self, e: &Event) {
        match e {
            Event::Usage(u) => match &mut self.usage {
                Some(old) => old.merge(*u),
                None => self.usage = Some(*u),
            },
            Event::Error(info) if self.problem.is_none() => {
                self.problem = Some(StreamError::Upstream(info.message.clone()))
            }
            _ => {}
        }
    }

    fn translate(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let mut ir = std::mem::take(&mut self.ir);
        match self.decoder.decode(&ev.data, &mut ir) {
            Ok(()) => {}
            Err(e) => {
                let message = e.to_string();
                self.problem.get_or_insert(StreamError::InvalidEvent(message.clone()));
                ir.push(Event::Error(ErrorInfo {
                    kind: ErrorKind::Server,
                    message,
                    code: None,
                    param: None,
                }));
            }
        }
        self.emit(&mut ir, out);
        self.ir = ir;
    }

    fn emit(&mut self, ir: &mut Vec<Event>, out: &mut Vec<u8>) {
        for mut e in ir.drain(..) {
            if let Event::Delta {
                delta: Delta::Text(t) | Delta::Thinking(t) | Delta::Arguments(t),
                ..
            } = &e
            {
                self.generated += t.len();
            }
            if e == Event::Done && self.usage.is_none() {
                let u = Usage {
                    input: self.ctx.estimated_input_tokens,
                    output: crate::estimate_output(self.generated),
                    ..Usage::default()
                };
                self.usage = Some(u);
                self.estimated = true;
                self.encoder.encode(Event::Usage(u), out);
            }
            self.note(&e);
            if let Event::BlockStart { kind: BlockKind::ToolCall { name, .. }, .. } = &mut e
                && !self.ctx.tool_names.is_empty()
            {
                *name = self.ctx.tool_names.to_client(name).to_owned();
            }
            self.encoder.encode(e, out);
        }
    }

    /// Ends the stream when the upstream closes it. If the upstream stopped before its
    /// format's end, the client is sent a terminal error event in its own format and
    /// [`StreamError::Truncated`] is returned; upstream error events and invalid events are
    /// reported the same way.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), StreamError> {
        let mut cut = self.sse.finish(&mut self.events).is_err();
        // What the SSE layer hands over at the end may be a `data:` line cut mid-JSON: it is
        // the end of a truncated stream, not an invalid event.
        let tail = std::mem::take(&mut self.events);
        for ev in &tail {
            if self.is_finished() {
                break;
            }
            if self.passthrough {
                self.observe(ev);
                continue;
            }
            let mut ir = std::mem::take(&mut self.ir);
            if self.decoder.decode(&ev.data, &mut ir).is_err() {
                cut = true;
                ir.clear();
            }
            self.emit(&mut ir, out);
            self.ir = ir;
        }
        if let Some(p) = self.problem.clone() {
            return Err(p);
        }
        if self.is_finished() {
            return Ok(());
        }
        let mut ir = std::mem::take(&mut self.ir);
        let complete = !cut && self.decoder.end(&mut ir);
        if complete {
            if self.passthrough {
                for e in ir.drain(..) {
                    self.note(&e);
                }
            } else {
                self.emit(&mut ir, out);
            }
            self.ir = ir;
            return Ok(());
        }
        ir.clear();
        self.ir = ir;
        self.terminate(out);
        Err(StreamError::Truncated)
    }

    fn terminate(&mut self, out: &mut Vec<u8>) {
        let info = ErrorInfo {
            kind: ErrorKind::Server,
            message: "upstream stream ended before the response was complete".into(),
            code: None,
            param: None,
        };
        if self.passthrough {
            write_terminal_error(self.client, &info, self.last_seq.map(|n| n + 1), out);
        } else if !self.encoder.finished() {
            self.encoder.encode(Event::Error(info), out);
        }
    }
}

/// Reads `"sequence_number":N` without parsing the event.
fn sequence_number(data: &str) -> Option<u64> {
    let key = "\"sequence_number\":";
    let at = data.rfind(key)? + key.len();
    let digits: String = data[at..].trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A terminal error event for a stream forwarded as is.
fn write_terminal_error(format: Format, info: &ErrorInfo, seq: Option<u64>, out: &mut Vec<u8>) {
    let body = crate::error::error_value(format, info);
    match format {
        Format::OpenAiChat | Format::Gemini => {
            crate::sse::write_event(out, None, &body.to_string())
        }
        Format::Anthropic => crate::sse::write_event(out, Some("error"), &body.to_string()),
        Format::Responses => {
            let v = serde_json::json!({"type": "error", "sequence_number": seq.unwrap_or(0),
                "code": body["error"]["code"], "message": info.message, "param": null});
            crate::sse::write_event(out, Some("error"), &v.to_string());
        }
    }
}
