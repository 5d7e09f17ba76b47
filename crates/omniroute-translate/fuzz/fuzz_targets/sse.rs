//! The SSE codec: never panics, and splitting the input anywhere changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniroute_translate::sse::SseDecoder;

fuzz_target!(|data: &[u8]| {
    let decode = |pieces: &[&[u8]]| {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, &mut out);
        }
        let r = d.finish(&mut out);
        (out, r)
    };
    let whole = decode(&[data]);
    let cut = data.first().map_or(0, |b| usize::from(*b)) % (data.len() + 1);
    assert_eq!(whole, decode(&[&data[..cut], &data[cut..]]));
});
