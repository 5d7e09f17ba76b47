//! `fixtures/translate/<from>-to-<to>/<case>/`: the request in the client's format, and the
//! upstream's response or error in the target format. Each case's translated request, response
//! and error are snapshotted next to the case.

use std::path::Path;

use omniroute_translate::{
    Format, RequestOptions, ResponseContext, StreamTranslator, translate_error, translate_request,
    translate_response,
};

use crate::{dirs, pretty, repo_root};

const MIN_CASES_PER_PAIR: usize = 8;

fn pair_formats(pair: &Path) -> (Format, Format) {
    let name = pair.file_name().unwrap().to_str().unwrap();
    let (from, to) = name.split_once("-to-").unwrap_or_else(|| panic!("bad pair dir {name}"));
    (from.parse().unwrap(), to.parse().unwrap())
}

fn notes_text(notes: &[omniroute_translate::Note]) -> String {
    if notes.is_empty() {
        return "(none)".into();
    }
    notes.iter().map(|n| format!("- {n}")).collect::<Vec<_>>().join("\n")
}

fn check_case(from: Format, to: Format, case: &Path) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(case.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(case.join("request.json"));
    settings.set_omit_expression(true);
    let _guard = settings.bind_to_scope();

    let request = std::fs::read(case.join("request.json")).expect("request.json");
    let opts =
        RequestOptions { model: Some(format!("upstream-{}", to.id())), ..Default::default() };
    let translated = translate_request(from, to, &request, &opts)
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", case.display()));
    // The output must be valid JSON of the target's request shape: parse it back through the
    // target's own translator.
    let back = translate_request(to, from, &translated.body, &RequestOptions::default());
    assert!(
        back.is_ok(),
        "{}: translated request does not parse as {to}: {:?}",
        case.display(),
        back.err()
    );
    insta::assert_snapshot!(
        "request",
        format!("{}\n--- notes ---\n{}", pretty(&translated.body), notes_text(&translated.notes))
    );

    let ctx = ResponseContext {
        tool_names: translated.tool_names.clone(),
        now: 1_760_000_000,
        include_usage: translated.include_usage,
        ..Default::default()
    };
    if let Ok(response) = std::fs::read_to_string(case.join("response.json")) {
        // The fixture writes `__TOOL_NAME_MAPPED__<name>` where the upstream saw a stand-in.
        let mut response = response;
        for (client, upstream) in translated.tool_names.pairs() {
            response = response.replace(&format!("__TOOL_NAME_MAPPED__{client}"), upstream);
        }
        assert!(
            !response.contains("__TOOL_NAME_MAPPED__"),
            "{}: a placeholder name was not mapped",
            case.display()
        );
        let out = translate_response(to, from, response.as_bytes(), &ctx)
            .unwrap_or_else(|e| panic!("{}: response failed: {e}", case.display()));
        let text = String::from_utf8(out.body.clone()).unwrap();
        for (_, upstream) in translated.tool_names.pairs() {
            assert!(
                !text.contains(&format!("\"{upstream}\"")),
                "{}: stand-in `{upstream}` leaked",
                case.display()
            );
        }
        insta::assert_snapshot!(
            "response",
            format!("{}\n--- notes ---\n{}", pretty(&out.body), notes_text(&out.notes))
        );
    }
    if let Ok(error) = std::fs::read(case.join("error.json")) {
        let (status, body) = translate_error(to, from, 429, &error);
        insta::assert_snapshot!("error", format!("status: {status}\n{}", pretty(&body)));
    }
}

#[test]
fn every_pair_translates_its_cases() {
    let root = repo_root().join("fixtures/translate");
    let pairs = dirs(&root);
    assert_eq!(pairs.len(), 12, "expected all 12 directed pairs under {}", root.display());
    for pair in &pairs {
        let (from, to) = pair_formats(pair);
        assert_ne!(from, to);
        let cases = dirs(pair);
        assert!(cases.len() >= MIN_CASES_PER_PAIR, "{} has {} cases", pair.display(), cases.len());
        for case in cases {
            check_case(from, to, &case);
        }
    }
}

#[test]
fn reasoning_history_can_be_left_out_for_strict_upstreams() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"a"}]},
        {"role":"user","content":"q2"}],"max_tokens":10}"#;
    let keep =
        translate_request(Format::Anthropic, Format::OpenAiChat, body, &RequestOptions::default())
            .unwrap();
    assert!(String::from_utf8(keep.body).unwrap().contains(r#""reasoning_content":"hmm""#));
    let opts = RequestOptions { reasoning_content_history: false, ..Default::default() };
    let strict = translate_request(Format::Anthropic, Format::OpenAiChat, body, &opts).unwrap();
    assert!(!String::from_utf8(strict.body).unwrap().contains("reasoning_content"));
}

#[test]
fn same_format_requests_only_change_the_model() {
    let body = br#"{ "model" : "gpt-4o", "messages":[{"role":"user","content":"hi"}], "x_vendor": {"a":1}, "stream": true }"#;
    let opts = RequestOptions { model: Some("gpt-4o-2024-08-06".into()), ..Default::default() };
    let t = translate_request(Format::OpenAiChat, Format::OpenAiChat, body, &opts).unwrap();
    let expected = br#"{ "model" : "gpt-4o-2024-08-06", "messages":[{"role":"user","content":"hi"}], "x_vendor": {"a":1}, "stream": true }"#;
    assert_eq!(t.body, expected.to_vec());
    assert!(t.stream);
    assert_eq!(t.client_model.as_deref(), Some("gpt-4o"));
    let bad = translate_request(Format::Anthropic, Format::Anthropic, b"{not json", &opts);
    assert!(bad.is_err());
}

#[test]
fn unknown_fields_survive_between_openai_formats_only() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"k":"v"},"x_custom_flag":true}"#;
    let to_responses =
        translate_request(Format::OpenAiChat, Format::Responses, body, &RequestOptions::default())
            .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&to_responses.body).unwrap();
    assert_eq!(v["metadata"]["k"], "v");
    assert!(v.get("x_custom_flag").is_none());
    assert!(to_responses.notes.iter().any(|n| n.0.contains("x_custom_flag")));
}

#[test]
fn gemini_accepts_proto_json_snake_case_names() {
    // Google's SDKs send some fields in snake_case (proto JSON allows both spellings).
    let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],
        "system_instruction":{"parts":[{"text":"be nice"}]},
        "tools":[{"function_declarations":[{"name":"f","parameters_json_schema":{"type":"object","required":["x"]}}]}],
        "generation_config":{"max_output_tokens":7}}"#;
    let t = translate_request(Format::Gemini, Format::OpenAiChat, body, &RequestOptions::default())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(v["messages"][0]["content"], "be nice");
    assert_eq!(v["tools"][0]["function"]["parameters"]["required"][0], "x");
    assert_eq!(v["max_tokens"], 7);
}

/// Codex declares `apply_patch` as a Responses `custom` (free-text) tool. Other formats carry it
/// as a function with one string parameter; answers come back to Codex as `custom_tool_call`.
#[test]
fn responses_custom_tools_round_trip_through_other_formats() {
    let body = br#"{"model":"gpt-5-codex","input":[
        {"type":"message","role":"user","content":[{"type":"input_text","text":"fix it"}]},
        {"type":"custom_tool_call","call_id":"call_1","name":"apply_patch","input":"*** Begin Patch\n*** End Patch"},
        {"type":"custom_tool_call_output","call_id":"call_1","output":"Done"}],
        "tools":[{"type":"custom","name":"apply_patch","description":"Edit files",
            "format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch"}}]}"#;
    let t =
        translate_request(Format::Responses, Format::Anthropic, body, &RequestOptions::default())
            .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    let tool = &v["tools"][0];
    assert_eq!(tool["name"], "apply_patch");
    assert_eq!(tool["input_schema"]["required"][0], "input");
    assert!(
        tool["input_schema"]["properties"]["input"]["description"]
            .as_str()
            .unwrap()
            .contains("start: begin_patch")
    );
    assert_eq!(v["messages"][1]["content"][0]["input"]["input"], "*** Begin Patch\n*** End Patch");
    assert!(t.tool_names.is_freeform("apply_patch"));

    let upstream = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[
        {"type":"tool_use","id":"toolu_1","name":"apply_patch","input":{"input":"*** Begin Patch\n*** Add File: a\n*** End Patch"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":5}}"#;
    let ctx = ResponseContext { tool_names: t.tool_names.clone(), ..Default::default() };
    let r = translate_response(Format::Anthropic, Format::Responses, upstream, &ctx).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["output"][0]["type"], "custom_tool_call");
    assert_eq!(v["output"][0]["input"], "*** Begin Patch\n*** Add File: a\n*** End Patch");

    let sse = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"apply_patch\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"input\\\": \\\"*** Begin\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" Patch\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":3}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let mut s = StreamTranslator::new(Format::Anthropic, Format::Responses, ctx);
    let mut out = Vec::new();
    s.feed(sse.as_bytes(), &mut out);
    s.finish(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("event: response.custom_tool_call_input.done"), "{text}");
    assert!(text.contains(r#""type":"custom_tool_call","status":"completed","call_id":"toolu_1","name":"apply_patch","input":"*** Begin Patch""#), "{text}");
    assert!(!text.contains("function_call_arguments"), "{text}");
}
