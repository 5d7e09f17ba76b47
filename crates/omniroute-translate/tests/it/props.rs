//! Property tests: nothing panics on any input, and the SSE codec and stream translator do not
//! depend on how input is split.

use omniroute_translate::sse::SseDecoder;
use omniroute_translate::{
    Format, RequestOptions, ResponseContext, StreamTranslator, translate_request,
    translate_response,
};
use proptest::prelude::*;
use serde_json::Value;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("model"),
            Just("text"),
            Just("function")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("messages".to_owned()),
                    Just("contents".to_owned()),
                    Just("input".to_owned()),
                    Just("role".to_owned()),
                    Just("content".to_owned()),
                    Just("parts".to_owned()),
                    Just("type".to_owned()),
                    Just("text".to_owned()),
                    Just("tools".to_owned()),
                    Just("tool_calls".to_owned()),
                    Just("functionCall".to_owned()),
                    "[a-z_]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn sse_decoding_is_split_invariant(bytes in prop::collection::vec(
        prop_oneof![Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(b'd'), Just(b'a'), Just(b't'), any::<u8>()], 0..200),
        cut in any::<prop::sample::Index>()) {
        let whole = {
            let mut d = SseDecoder::new();
            let mut out = Vec::new();
            d.feed(&bytes, &mut out);
            let r = d.finish(&mut out);
            (out, r)
        };
        let i = cut.index(bytes.len() + 1);
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(&bytes[..i], &mut out);
        d.feed(&bytes[i..], &mut out);
        let r = d.finish(&mut out);
        prop_assert_eq!(whole, (out, r));
    }

    #[test]
    fn request_translation_never_panics(v in arb_json(), from in arb_format(), to in arb_format()) {
        let body = serde_json::to_vec(&v).unwrap();
        let _ = translate_request(from, to, &body, &RequestOptions::default());
    }

    #[test]
    fn response_translation_never_panics(v in arb_json(), from in arb_format(), to in arb_format()) {
        let body = serde_json::to_vec(&v).unwrap();
        let _ = translate_response(from, to, &body, &ResponseContext::default());
    }

    #[test]
    fn stream_translation_never_panics(events in prop::collection::vec(arb_json(), 0..8),
        from in arb_format(), to in arb_format(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Vec::new();
        for e in &events {
            bytes.extend_from_slice(b"data: ");
            bytes.extend_from_slice(&serde_json::to_vec(e).unwrap());
            bytes.extend_from_slice(b"\n\n");
        }
        let i = cut.index(bytes.len() + 1);
        let mut t = StreamTranslator::new(from, to, ResponseContext::default());
        let mut out = Vec::new();
        t.feed(&bytes[..i], &mut out);
        t.feed(&bytes[i..], &mut out);
        let _ = t.finish(&mut out);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), from in arb_format(), to in arb_format()) {
        let _ = translate_request(from, to, &bytes, &RequestOptions::default());
        let _ = translate_response(from, to, &bytes, &ResponseContext::default());
        let mut t = StreamTranslator::new(from, to, ResponseContext::default());
        let mut out = Vec::new();
        t.feed(&bytes, &mut out);
        let _ = t.finish(&mut out);
    }

    #[test]
    fn tool_names_round_trip(name in "[ -~]{1,90}", to in arb_format()) {
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}]});
        let t = translate_request(Format::OpenAiChat, to, &serde_json::to_vec(&body).unwrap(), &RequestOptions::default()).unwrap();
        let upstream = t.tool_names.to_upstream(&name).to_owned();
        prop_assert_eq!(t.tool_names.to_client(&upstream), name.as_str());
        let text = String::from_utf8(t.body).unwrap();
        prop_assert!(text.contains(&serde_json::to_string(&upstream).unwrap()));
    }
}
