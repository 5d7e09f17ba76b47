//! The stream translator on arbitrary upstream bytes: never panics, split-invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniroute_translate::{Format, ResponseContext, StreamTranslator};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let from = Format::ALL[usize::from(sel & 3)];
    let to = Format::ALL[usize::from((sel >> 2) & 3)];
    let run = |pieces: &[&[u8]]| {
        let mut t = StreamTranslator::new(from, to, ResponseContext::default());
        let mut out = Vec::new();
        for p in pieces {
            t.feed(p, &mut out);
        }
        let r = t.finish(&mut out);
        (out, r)
    };
    let whole = run(&[body]);
    let cut = usize::from(sel >> 4) * body.len() / 16;
    assert_eq!(whole, run(&[&body[..cut], &body[cut..]]));
});
