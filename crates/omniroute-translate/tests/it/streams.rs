//! Every recorded upstream stream in `fixtures/streams/<format>/` is translated to every client
//! format. The whole-stream output is snapshotted, and the output for every split of the input
//! into two pieces, and for byte-by-byte feeding, must equal it.

use std::path::{Path, PathBuf};

use omniroute_translate::{Format, ResponseContext, StreamTranslator, ToolNames};

use crate::repo_root;

pub(crate) fn recorded_streams() -> Vec<(Format, PathBuf)> {
    let mut out = Vec::new();
    for format in Format::ALL {
        let dir = repo_root().join("fixtures/streams").join(format.id());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sse"))
            .collect();
        files.sort();
        assert!(files.len() >= 5, "{} has too few recorded streams", dir.display());
        out.extend(files.into_iter().map(|f| (format, f)));
    }
    out
}

pub(crate) fn ctx() -> ResponseContext {
    ResponseContext {
        now: 1_760_000_000,
        include_usage: true,
        tool_names: ToolNames::default(),
        ..Default::default()
    }
}

/// Runs a stream through a translator fed with the given pieces.
pub(crate) fn run(upstream: Format, client: Format, pieces: &[&[u8]]) -> (Vec<u8>, String) {
    let mut t = StreamTranslator::new(upstream, client, ctx());
    let mut out = Vec::new();
    for p in pieces {
        t.feed(p, &mut out);
    }
    let end = match t.finish(&mut out) {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    (out, end)
}

fn name(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

#[test]
fn recorded_streams_translate_the_same_however_split() {
    let streams = recorded_streams();
    assert!(streams.len() >= 20);
    for (upstream, path) in streams {
        let bytes = std::fs::read(&path).unwrap();
        for client in Format::ALL {
            let (whole, end) = run(upstream, client, &[&bytes]);
            for i in 0..=bytes.len() {
                let (split, split_end) = run(upstream, client, &[&bytes[..i], &bytes[i..]]);
                assert!(
                    split == whole && split_end == end,
                    "{} -> {client}: output differs when split at byte {i}",
                    path.display()
                );
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            let (bytewise, bytewise_end) = run(upstream, client, &singles);
            assert!(
                bytewise == whole && bytewise_end == end,
                "{} -> {client}: byte-by-byte differs",
                path.display()
            );

            if upstream == client {
                // Same format: forwarded byte for byte, plus a terminal error if cut short.
                assert!(
                    whole.starts_with(&bytes),
                    "{}: passthrough changed the bytes",
                    path.display()
                );
                if end == "ok" {
                    assert_eq!(whole, bytes, "{}: passthrough added bytes", path.display());
                }
                continue;
            }
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(path.parent().unwrap().join("snapshots"));
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(&path);
            settings.set_omit_expression(true);
            settings.bind(|| {
                insta::assert_snapshot!(
                    format!("{}.to-{}", name(&path), client.id()),
                    format!("{}\n--- end: {end} ---", String::from_utf8_lossy(&whole))
                );
            });
        }
    }
}

#[test]
fn usage_is_estimated_only_when_the_upstream_gives_none() {
    let dir = repo_root().join("fixtures/streams/openai");
    let with = std::fs::read(dir.join("text-usage.sse")).unwrap();
    let without = std::fs::read(dir.join("length-crlf.sse")).unwrap();
    let run_usage = |bytes: &[u8]| {
        let ctx = ResponseContext { estimated_input_tokens: 1000, ..ctx() };
        let mut t = StreamTranslator::new(Format::OpenAiChat, Format::Anthropic, ctx);
        let mut out = Vec::new();
        t.feed(bytes, &mut out);
        t.finish(&mut out).unwrap();
        (t.usage().unwrap(), t.usage_is_estimate())
    };
    let (u, estimated) = run_usage(&with);
    assert!(!estimated);
    assert_ne!(u.input, 1000, "reported counts are never replaced by the estimate");
    let (u, estimated) = run_usage(&without);
    assert!(estimated);
    assert_eq!(u.input, 1000);
    assert!(u.output > 0);
}

/// Found by the `streams` fuzz target: several invalid events in one chunk wrote one error
/// event each when fed whole, but only the first when split.
#[test]
fn invalid_events_end_the_stream_once_however_split() {
    let bytes = b"data: {\"type\": tru}\n\ndata: {\"type\": fals}\n\ndata: [1,\n\n";
    for (upstream, client) in
        [(Format::Anthropic, Format::OpenAiChat), (Format::Gemini, Format::OpenAiChat)]
    {
        let (whole, end) = run(upstream, client, &[bytes]);
        assert_eq!(String::from_utf8_lossy(&whole).matches("\"error\"").count(), 1);
        for i in 0..=bytes.len() {
            assert_eq!(
                run(upstream, client, &[&bytes[..i], &bytes[i..]]),
                (whole.clone(), end.clone()),
                "split at {i}"
            );
        }
    }
}
