use super::*;

fn decode_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, Result<(), Truncated>) {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c, &mut out);
    }
    let r = d.finish(&mut out);
    (out, r)
}

#[test]
fn line_endings_are_equivalent() {
    let lf = decode_all(&[b"event: a\ndata: 1\n\ndata: 2\n\n"]).0;
    let crlf = decode_all(&[b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n"]).0;
    let cr = decode_all(&[b"event: a\rdata: 1\r\rdata: 2\r\r"]).0;
    assert_eq!(lf.len(), 2);
    assert_eq!(lf, crlf);
    assert_eq!(lf, cr);
    assert_eq!(lf[0].event.as_deref(), Some("a"));
    assert_eq!(lf[1].event, None);
}

#[test]
fn crlf_split_between_chunks() {
    let (ev, r) = decode_all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n"]);
    assert!(r.is_ok());
    assert_eq!(ev.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["x", "y"]);
}

#[test]
fn multi_line_data_and_comments() {
    let (ev, _) = decode_all(&[b": keep-alive\n\ndata: a\ndata:b\n: note\n\n"]);
    assert_eq!(ev, vec![SseEvent { event: None, data: "a\nb".into() }]);
}

#[test]
fn missing_final_blank_line_still_delivers() {
    let (ev, r) = decode_all(&[b"data: [DONE]\n"]);
    assert!(r.is_ok());
    assert_eq!(ev[0].data, "[DONE]");
    let (ev, r) = decode_all(&[b"data: {\"a\":1}"]);
    assert!(r.is_ok());
    assert_eq!(ev[0].data, "{\"a\":1}");
}

#[test]
fn cut_field_name_is_truncation() {
    let (ev, r) = decode_all(&[b"data: 1\n\nev"]);
    assert_eq!(ev.len(), 1);
    assert_eq!(r, Err(Truncated { partial: "ev".into() }));
}

#[test]
fn encoder_round_trips() {
    let mut out = Vec::new();
    write_event(&mut out, Some("message_start"), "{\"a\":1}");
    write_event(&mut out, None, "x\ny");
    assert_eq!(out, b"event: message_start\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\n");
    let (ev, _) = decode_all(&[&out]);
    assert_eq!(ev[1].data, "x\ny");
}
