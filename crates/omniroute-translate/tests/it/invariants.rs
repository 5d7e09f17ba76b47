//! Protocol rules each client format's stream must follow, checked on the translation of every
//! recorded stream, plus cross-format agreement on text and tool arguments.

use omniroute_translate::Format;
use omniroute_translate::sse::{SseDecoder, SseEvent};
use serde_json::Value;

use crate::streams::{recorded_streams, run};

fn events(bytes: &[u8]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    d.finish(&mut out).expect("client stream must end on a complete line");
    out
}

fn json(e: &SseEvent) -> Value {
    serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("not JSON: {} ({err})", e.data))
}

/// What a client would assemble from the stream: text, reasoning text, tool calls (name, args).
#[derive(Debug, Default, PartialEq)]
struct Assembled {
    text: String,
    reasoning: String,
    calls: Vec<(String, Value)>,
}

fn args(s: &str) -> Value {
    if s.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(s).unwrap_or(Value::String(s.into()))
    }
}

fn check_openai(evs: &[SseEvent], ok: bool) -> Assembled {
    let mut a = Assembled::default();
    let mut calls: Vec<(String, String)> = Vec::new();
    let done = evs.iter().filter(|e| e.data == "[DONE]").count();
    assert_eq!(done, usize::from(ok), "[DONE] must appear once, only on a complete stream");
    if ok {
        assert_eq!(evs.last().unwrap().data, "[DONE]");
    }
    for e in evs {
        assert!(e.event.is_none(), "openai streams carry no event names");
        if e.data == "[DONE]" {
            continue;
        }
        let v = json(e);
        if v.get("error").is_some() {
            continue;
        }
        assert_eq!(v["object"], "chat.completion.chunk");
        for c in v["choices"].as_array().unwrap() {
            let d = &c["delta"];
            if let Some(t) = d["content"].as_str() {
                a.text += t;
            }
            if let Some(t) = d["reasoning_content"].as_str() {
                a.reasoning += t;
            }
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"].as_u64().unwrap() as usize;
                if let Some(n) = tc["function"]["name"].as_str() {
                    assert_eq!(i, calls.len(), "tool call indexes must be dense");
                    calls.push((n.into(), String::new()));
                }
                if let Some(x) = tc["function"]["arguments"].as_str() {
                    calls[i].1 += x;
                }
            }
        }
    }
    a.calls = calls.into_iter().map(|(n, s)| (n, args(&s))).collect();
    a
}

fn check_anthropic(evs: &[SseEvent], ok: bool) -> Assembled {
    let mut a = Assembled::default();
    let mut open: Option<(u64, String)> = None;
    let mut next = 0;
    let mut args_buf = String::new();
    for (i, e) in evs.iter().enumerate() {
        let v = json(e);
        let name = e.event.as_deref().expect("anthropic events are named");
        assert_eq!(v["type"], name, "event name must match data type");
        if i == 0 && name != "error" {
            assert_eq!(name, "message_start");
        }
        match name {
            "content_block_start" => {
                assert!(open.is_none(), "blocks must not overlap");
                assert_eq!(v["index"], next, "block indexes must count up");
                let b = &v["content_block"];
                let kind = b["type"].as_str().unwrap().to_owned();
                if kind == "tool_use" {
                    a.calls.push((b["name"].as_str().unwrap().into(), Value::Null));
                    args_buf.clear();
                }
                open = Some((next, kind));
                next += 1;
            }
            "content_block_delta" => {
                let (idx, _) = open.as_ref().expect("delta outside a block");
                assert_eq!(v["index"], *idx);
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => a.text += d["text"].as_str().unwrap(),
                    "thinking_delta" => a.reasoning += d["thinking"].as_str().unwrap(),
                    "input_json_delta" => args_buf += d["partial_json"].as_str().unwrap(),
                    "signature_delta" => {}
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let (idx, kind) = open.take().expect("stop outside a block");
                assert_eq!(v["index"], idx);
                if kind == "tool_use" {
                    a.calls.last_mut().unwrap().1 = args(&args_buf);
                }
            }
            "message_delta" => assert!(open.is_none(), "message_delta inside a block"),
            _ => {}
        }
    }
    let last = evs.last().and_then(|e| e.event.clone()).unwrap_or_default();
    if ok {
        assert_eq!(last, "message_stop");
    } else {
        assert_eq!(last, "error", "a cut stream must end with an error event");
    }
    a
}

fn check_responses(evs: &[SseEvent], ok: bool) -> Assembled {
    let mut a = Assembled::default();
    let mut seq = None;
    for e in evs {
        let v = json(e);
        let name = e.event.as_deref().expect("responses events are named");
        assert_eq!(v["type"], name);
        let n = v["sequence_number"].as_u64().expect("sequence_number");
        assert!(seq.is_none_or(|s| n == s + 1), "sequence_number must count up by one");
        seq = Some(n);
        match name {
            "response.output_text.delta" => a.text += v["delta"].as_str().unwrap(),
            "response.reasoning_summary_text.delta" => a.reasoning += v["delta"].as_str().unwrap(),
            "response.output_item.done" if v["item"]["type"] == "function_call" => a.calls.push((
                v["item"]["name"].as_str().unwrap().into(),
                args(v["item"]["arguments"].as_str().unwrap()),
            )),
            _ => {}
        }
    }
    let last = evs.last().and_then(|e| e.event.clone()).unwrap_or_default();
    if ok {
        assert!(last == "response.completed" || last == "response.incomplete", "ended with {last}");
        let done = json(evs.last().unwrap());
        let output = done["response"]["output"].as_array().unwrap();
        assert!(output.iter().all(|o| o.is_object()), "completed output must list every item");
    } else {
        assert!(
            last == "response.failed" || last == "error",
            "a cut stream must end with an error, got {last}"
        );
    }
    a
}

fn check_gemini(evs: &[SseEvent], ok: bool) -> Assembled {
    let mut a = Assembled::default();
    for e in evs {
        assert!(e.event.is_none());
        let v = json(e);
        if v.get("error").is_some() {
            continue;
        }
        for p in v["candidates"][0]["content"]["parts"].as_array().into_iter().flatten() {
            if let Some(fc) = p.get("functionCall") {
                a.calls.push((fc["name"].as_str().unwrap().into(), fc["args"].clone()));
            } else if let Some(t) = p["text"].as_str() {
                if p["thought"] == true { a.reasoning += t } else { a.text += t }
            }
        }
    }
    if ok {
        let last = json(evs.last().unwrap());
        assert!(
            last["candidates"][0]["finishReason"].is_string(),
            "last chunk must carry finishReason"
        );
    } else {
        assert!(json(evs.last().unwrap()).get("error").is_some());
    }
    a
}

fn assemble(client: Format, out: &[u8], ok: bool) -> Assembled {
    let evs = events(out);
    assert!(!evs.is_empty());
    match client {
        Format::OpenAiChat => check_openai(&evs, ok),
        Format::Anthropic => check_anthropic(&evs, ok),
        Format::Responses => check_responses(&evs, ok),
        Format::Gemini => check_gemini(&evs, ok),
    }
}

#[test]
fn client_streams_follow_their_protocol_and_agree() {
    for (upstream, path) in recorded_streams() {
        let bytes = std::fs::read(&path).unwrap();
        let mut seen: Option<(Format, Assembled)> = None;
        for client in Format::ALL {
            let (out, end) = run(upstream, client, &[&bytes]);
            let ok = end == "ok";
            if upstream == client && !ok {
                continue; // passthrough of a cut stream: the upstream's own bytes, then the error
            }
            let a = assemble(client, &out, ok);
            let name = path.display();
            // Reasoning can only be compared among formats that carry it in the stream.
            match &seen {
                None => seen = Some((client, a)),
                Some((first, b)) => {
                    assert_eq!(a.text, b.text, "{name}: text differs between {first} and {client}");
                    assert_eq!(
                        a.calls, b.calls,
                        "{name}: tool calls differ between {first} and {client}"
                    );
                    if !a.reasoning.is_empty() && !b.reasoning.is_empty() {
                        assert_eq!(a.reasoning, b.reasoning, "{name}: reasoning differs");
                    }
                }
            }
        }
    }
}

#[test]
fn truncated_streams_are_reported_and_terminated() {
    for (upstream, path) in recorded_streams() {
        if !path.file_stem().unwrap().to_str().unwrap().starts_with("truncated") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for client in Format::ALL {
            let (out, end) = run(upstream, client, &[&bytes]);
            assert_eq!(
                end,
                "error: upstream stream ended before it was complete",
                "{}",
                path.display()
            );
            let tail = String::from_utf8_lossy(&out);
            assert!(
                tail.contains("error"),
                "{} -> {client}: no terminal error event",
                path.display()
            );
        }
    }
}
