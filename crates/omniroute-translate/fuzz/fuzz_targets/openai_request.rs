//! openai request and response bodies into the IR and out to every other format: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniroute_translate::{Format, RequestOptions, ResponseContext, translate_request, translate_response};

fuzz_target!(|data: &[u8]| {
    for to in Format::ALL {
        if let Ok(t) = translate_request(Format::OpenAiChat, to, data, &RequestOptions::default()) {
            // Whatever came out must be readable by the target's own parser.
            let _ = translate_request(to, Format::OpenAiChat, &t.body, &RequestOptions::default());
        }
        let _ = translate_response(Format::OpenAiChat, to, data, &ResponseContext::default());
    }
});
