//! The same-format fast path: the body is not parsed into the IR, and only the top-level
//! `model` value is replaced, byte for byte, leaving everything else as the client sent it.

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::TranslateError;
use crate::{Format, RequestOptions, ToolNames, TranslatedRequest};

/// The few top-level facts the gateway needs, read without building the whole document.
#[derive(Default)]
struct Facts<'a> {
    model: Option<&'a RawValue>,
    stream: bool,
    include_usage: bool,
    max_output: Option<u64>,
}

struct FactsVisitor;

impl<'de> Visitor<'de> for FactsVisitor {
    type Value = Facts<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut facts = Facts::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "model" => facts.model = Some(map.next_value::<&RawValue>()?),
                "stream" => facts.stream = map.next_value::<Option<bool>>()?.unwrap_or(false),
                // Chat (`max_tokens`, `max_completion_tokens`), Anthropic (`max_tokens`),
                // Responses (`max_output_tokens`).
                "max_tokens" | "max_completion_tokens" | "max_output_tokens" => {
                    if let Some(n) = map.next_value::<Option<f64>>()? {
                        facts.max_output = Some(n.max(0.0) as u64);
                    }
                }
                "generationConfig" | "generation_config" => {
                    #[derive(Deserialize)]
                    struct Gen {
                        #[serde(alias = "max_output_tokens", rename = "maxOutputTokens")]
                        max_output_tokens: Option<f64>,
                    }
                    let g = map.next_value::<Option<Gen>>()?;
                    if let Some(n) = g.and_then(|g| g.max_output_tokens) {
                        facts.max_output = Some(n.max(0.0) as u64);
                    }
                }
                "stream_options" => {
                    #[derive(Deserialize)]
                    struct Opts {
                        include_usage: Option<bool>,
                    }
                    let o = map.next_value::<Option<Opts>>()?;
                    facts.include_usage = o.and_then(|o| o.include_usage).unwrap_or(false);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(facts)
    }
}

impl<'de> Deserialize<'de> for Facts<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FactsVisitor)
    }
}

/// What the gateway needs to know about a request before choosing where it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The `model` field (Gemini bodies have none: the model is in the URL).
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true` (OpenAI Chat).
    pub include_usage: bool,
    /// The output token limit the client set, in whichever field its format uses.
    pub max_output_tokens: Option<u64>,
}

/// Reads a request's model and stream flag without building the document.
pub fn peek_request(format: Format, body: &[u8]) -> Result<RequestFacts, TranslateError> {
    let facts: Facts<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::invalid(format, e))?;
    Ok(RequestFacts {
        model: facts.model.and_then(|m| serde_json::from_str::<String>(m.get()).ok()),
        stream: facts.stream,
        include_usage: facts.include_usage,
        max_output_tokens: facts.max_output,
    })
}

pub(crate) fn request(
    format: Format,
    body: &[u8],
    opts: &RequestOptions,
) -> Result<TranslatedRequest, TranslateError> {
    let text = std::str::from_utf8(body).map_err(|e| TranslateError::invalid(format, e))?;
    let facts: Facts<'_> =
        serde_json::from_str(text).map_err(|e| TranslateError::invalid(format, e))?;
    let client_model = facts.model.and_then(|m| serde_json::from_str::<String>(m.get()).ok());
    let body = match (&opts.model, facts.model) {
        (Some(new), Some(raw)) if format != Format::Gemini => {
            // `raw` borrows from `text`, so its offset inside the body is a plain subtraction.
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            let end = start + raw.get().len();
            let quoted =
                serde_json::to_string(new).map_err(|e| TranslateError::Encode(e.to_string()))?;
            let mut out = Vec::with_capacity(body.len() + quoted.len());
            out.extend_from_slice(&body[..start]);
            out.extend_from_slice(quoted.as_bytes());
            out.extend_from_slice(&body[end..]);
            out
        }
        _ => body.to_vec(),
    };
    Ok(TranslatedRequest {
        body,
        stream: opts.stream.unwrap_or(facts.stream),
        client_model,
        include_usage: facts.include_usage,
        tool_names: ToolNames::default(),
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_the_output_limit_of_every_format() {
        let peek = |f, s: &str| peek_request(f, s.as_bytes()).unwrap().max_output_tokens;
        assert_eq!(peek(Format::OpenAiChat, r#"{"model":"m","max_completion_tokens":7}"#), Some(7));
        assert_eq!(peek(Format::Anthropic, r#"{"max_tokens":1024,"model":"m"}"#), Some(1024));
        assert_eq!(peek(Format::Responses, r#"{"max_output_tokens":5}"#), Some(5));
        assert_eq!(
            peek(Format::Gemini, r#"{"generationConfig":{"temperature":0,"maxOutputTokens":9}}"#),
            Some(9)
        );
        assert_eq!(
            peek(Format::Gemini, r#"{"generation_config":{"max_output_tokens":3}}"#),
            Some(3)
        );
        assert_eq!(peek(Format::OpenAiChat, r#"{"model":"m","max_tokens":null}"#), None);
    }
}
