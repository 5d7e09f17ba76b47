//! Criterion benchmarks: a typical 20-message request with tools, and a 1,000-event stream.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]
//! Run with `cargo xtask bench`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use omniroute_translate::{
    Format, RequestOptions, ResponseContext, StreamTranslator, translate_request,
};
use serde_json::json;

fn openai_request() -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": "You are a careful coding assistant. Answer briefly."}),
    ];
    for i in 0..6 {
        messages.push(json!({"role": "user", "content": format!("Step {i}: read the file src/module_{i}.rs and explain what it does.")}));
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": format!("call_{i}"), "type": "function", "function": {"name": "read_file", "arguments": format!("{{\"path\":\"src/module_{i}.rs\"}}")}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": "fn main() {\n    println!(\"hello\");\n}\n".repeat(8)}));
    }
    messages.push(json!({"role": "user", "content": "Now summarise all of it."}));
    assert_eq!(messages.len(), 20);
    let tools: Vec<_> = ["read_file", "write_file", "list_dir", "search"]
        .iter()
        .map(|n| json!({"type": "function", "function": {"name": n, "description": format!("{n} tool"),
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "query": {"type": "string"}}, "required": ["path"]}}}))
        .collect();
    serde_json::to_vec(
        &json!({"model": "gpt-4o", "messages": messages, "tools": tools, "tool_choice": "auto",
        "temperature": 0.2, "max_tokens": 2048, "stream": true}),
    )
    .unwrap()
}

fn anthropic_stream(events: usize) -> Vec<u8> {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n",
    );
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for i in 0..events - 5 {
        s.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} \"}}}}\n\n"));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":995}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

fn openai_stream(events: usize) -> Vec<u8> {
    let mut s = String::new();
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
    for i in 0..events - 3 {
        s.push_str(&format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}},\"finish_reason\":null}}]}}\n\n"));
    }
    s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

fn requests(c: &mut Criterion) {
    let body = openai_request();
    let opts = RequestOptions::default();
    let mut g = c.benchmark_group("request_20_messages");
    for to in [Format::Anthropic, Format::Gemini, Format::Responses, Format::OpenAiChat] {
        g.bench_function(format!("openai_to_{to}"), |b| {
            b.iter(|| translate_request(Format::OpenAiChat, to, black_box(&body), &opts).unwrap())
        });
    }
    let claude =
        translate_request(Format::OpenAiChat, Format::Anthropic, &body, &opts).unwrap().body;
    g.bench_function("anthropic_to_openai", |b| {
        b.iter(|| {
            translate_request(Format::Anthropic, Format::OpenAiChat, black_box(&claude), &opts)
                .unwrap()
        })
    });
    g.finish();
}

fn streams(c: &mut Criterion) {
    const EVENTS: usize = 1000;
    let mut g = c.benchmark_group("stream_1000_events");
    g.throughput(Throughput::Elements(EVENTS as u64));
    let cases = [
        ("anthropic_to_openai", Format::Anthropic, Format::OpenAiChat, anthropic_stream(EVENTS)),
        ("openai_to_anthropic", Format::OpenAiChat, Format::Anthropic, openai_stream(EVENTS)),
        ("openai_to_responses", Format::OpenAiChat, Format::Responses, openai_stream(EVENTS)),
        ("openai_to_gemini", Format::OpenAiChat, Format::Gemini, openai_stream(EVENTS)),
        ("openai_passthrough", Format::OpenAiChat, Format::OpenAiChat, openai_stream(EVENTS)),
    ];
    for (name, from, to, bytes) in cases {
        // Fed in 512-byte network-sized chunks.
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut t = StreamTranslator::new(from, to, ResponseContext::default());
                let mut out = Vec::with_capacity(bytes.len() * 2);
                for chunk in bytes.chunks(512) {
                    t.feed(black_box(chunk), &mut out);
                }
                t.finish(&mut out).unwrap();
                out
            })
        });
    }
    g.finish();
}

criterion_group!(benches, requests, streams);
criterion_main!(benches);
