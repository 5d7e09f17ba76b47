//! `context-relay` handoffs. A conversation (a session) is remembered with the target that last
//! served it. When its next request must go to another target (the old one is cooling down,
//! out of quota, or too small for the prompt), the combo's `handoff_model` writes a summary of
//! the conversation, and the request goes on as an OpenAI Chat request whose history is the
//! system prompt, the summary, and the most recent turns.
//!
//! A session is named by the client's `x-session-id` header, else by the client key, the
//! combo and the conversation's first user message.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use omniroute_translate::{Format, RequestOptions, translate_request};
use serde_json::{Value, json};

/// Sessions are forgotten after five hours without a request.
const SESSION_TTL_MS: u64 = 5 * 3_600_000;
/// Recent messages kept verbatim after a handoff.
const KEEP_RECENT: usize = 6;
/// The transcript given to the summarizer, at most (characters, most recent kept).
const MAX_TRANSCRIPT: usize = 200_000;

pub(crate) const HANDOFF_PROMPT: &str = "You are handing a conversation over to another assistant \
that cannot see it. Summarize it so the conversation can continue seamlessly: the user's goal, \
decisions made and why, the current state of the work (files, code, results), open questions \
and the next steps. Be concise and factual; write only the summary.";

/// The last target per session.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    sessions: Mutex<HashMap<String, (String, u64)>>,
}

impl Relay {
    /// The target that served the session last.
    pub(crate) fn last(&self, session: &str, now: u64) -> Option<String> {
        let map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(session).filter(|(_, at)| at + SESSION_TTL_MS > now).map(|(t, _)| t.clone())
    }

    /// How many sessions are remembered.
    pub(crate) fn len(&self) -> usize {
        self.sessions.lock().map_or(0, |m| m.len())
    }

    /// Records the target that served the session.
    pub(crate) fn served(&self, session: &str, target: &str, now: u64) {
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, at)| *at + SESSION_TTL_MS > now);
        map.insert(session.to_owned(), (target.to_owned(), now));
    }
}

/// The request as OpenAI Chat JSON (what handoffs work on).
pub(crate) fn as_chat(format: Format, body: &[u8]) -> Option<Value> {
    let t = translate_request(format, Format::OpenAiChat, body, &RequestOptions::default()).ok()?;
    serde_json::from_slice(&t.body).ok()
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().or_else(|| p["content"].as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The session's name: the client's header, else derived from the conversation's start.
pub(crate) fn session_id(header: Option<&str>, scope: &str, model: &str, chat: &Value) -> String {
    if let Some(h) = header {
        return format!("{scope}\u{1f}{model}\u{1f}h:{h}");
    }
    let first = chat["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let digest = omniroute_storage::hash_client_key(&first);
    format!("{scope}\u{1f}{model}\u{1f}{digest}")
}

/// The conversation as plain text for the summarizer, most recent part if it is long.
pub(crate) fn transcript(chat: &Value) -> String {
    let mut out = String::new();
    for m in chat["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("?");
        let mut text = text_of(&m["content"]);
        if let Some(calls) = m["tool_calls"].as_array() {
            for c in calls {
                text.push_str(&format!(
                    "\n[tool call {}: {}]",
                    c["function"]["name"].as_str().unwrap_or("?"),
                    c["function"]["arguments"].as_str().unwrap_or("")
                ));
            }
        }
        out.push_str(&format!("{role}: {text}\n\n"));
    }
    if out.len() > MAX_TRANSCRIPT {
        let mut cut = out.len() - MAX_TRANSCRIPT;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = out[cut..].to_owned();
    }
    out
}

/// The summarizer's request.
pub(crate) fn summary_request(model: &str, chat: &Value) -> Bytes {
    json!({
        "model": model,
        "max_tokens": 1024,
        "messages": [
            {"role": "system", "content": HANDOFF_PROMPT},
            {"role": "user", "content": transcript(chat)},
        ],
    })
    .to_string()
    .into()
}

/// The request after a handoff: system messages, the summary, the recent turns (starting at a
/// user turn, so no tool result is left without its call).
pub(crate) fn with_summary(mut chat: Value, summary: &str, from: &str) -> Bytes {
    let messages = chat["messages"].as_array().cloned().unwrap_or_default();
    let (system, rest): (Vec<Value>, Vec<Value>) =
        messages.into_iter().partition(|m| m["role"] == "system" || m["role"] == "developer");
    let mut start = rest.len().saturating_sub(KEEP_RECENT);
    while start > 0 && rest.get(start).is_some_and(|m| m["role"] != "user") {
        start -= 1;
    }
    let mut out = system;
    out.push(json!({
        "role": "system",
        "content": format!(
            "This conversation was handed over from {from}. Summary of the conversation so far:\n\n{summary}"
        ),
    }));
    out.extend(rest.into_iter().skip(start));
    chat["messages"] = Value::Array(out);
    chat.to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoffs_keep_system_summary_and_recent_turns() {
        let mut messages = vec![json!({"role": "system", "content": "be brief"})];
        for i in 0..10 {
            messages.push(json!({"role": "user", "content": format!("q{i}")}));
            messages.push(json!({"role": "assistant", "content": format!("a{i}")}));
        }
        let chat = json!({"model": "m", "messages": messages, "temperature": 0});
        let body: Value = serde_json::from_slice(&with_summary(chat.clone(), "S", "x/y")).unwrap();
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m[0]["content"], "be brief");
        assert!(m[1]["content"].as_str().unwrap().ends_with("S"));
        assert_eq!(m[2], json!({"role": "user", "content": "q7"}));
        assert_eq!(m.len(), 2 + KEEP_RECENT);
        assert_eq!(body["temperature"], 0);
        assert!(transcript(&chat).starts_with("system: be brief\n\nuser: q0"));
        let a = session_id(None, "k", "c", &chat);
        let mut next = chat.clone();
        next["messages"].as_array_mut().unwrap().push(json!({"role": "user", "content": "q10"}));
        assert_eq!(a, session_id(None, "k", "c", &next), "the first user turn names it");
        assert_ne!(a, session_id(Some("s1"), "k", "c", &chat));
        let r = Relay::default();
        r.served(&a, "p/m", 0);
        assert_eq!(r.last(&a, 1).as_deref(), Some("p/m"));
        assert_eq!(r.last(&a, SESSION_TTL_MS + 1), None);
    }
}
