//! `fixtures/translate/<from>-to-<to>/<case>/`: the request in the client's format, and the
//! upstream's response or error in the target format. Each case's translated request, response
//! and error are snapshotted next to the case.

use std::path::Path;

use omniroute_translate::{
    Format, RequestOptions, ResponseContext, translate_error, translate_request, translate_response,
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
