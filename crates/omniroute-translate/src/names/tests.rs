use super::*;

#[test]
fn validity_rules_per_format() {
    assert!(is_valid(Format::OpenAiChat, "mcp__github__create_issue"));
    assert!(!is_valid(Format::OpenAiChat, "repo.search"));
    assert!(is_valid(Format::Gemini, "repo.search"));
    assert!(is_valid(Format::Gemini, "ns:lookup"));
    assert!(!is_valid(Format::Gemini, "9lives"));
    assert!(!is_valid(Format::Anthropic, "a b"));
    assert!(is_valid(Format::Anthropic, &"x".repeat(128)));
    assert!(!is_valid(Format::OpenAiChat, &"x".repeat(65)));
}

#[test]
fn stand_ins_are_valid_unique_and_reversible() {
    let taken = |n: &str| n == "repo_search";
    let a = stand_in(Format::OpenAiChat, "repo.search", &taken);
    assert_ne!(a, "repo_search");
    assert!(is_valid(Format::OpenAiChat, &a));
    let long = "a".repeat(70);
    let b = stand_in(Format::OpenAiChat, &long, &|_| false);
    assert!(is_valid(Format::OpenAiChat, &b));
    assert_eq!(b.len(), 64);
    let names = ToolNames { pairs: vec![("repo.search".into(), a.clone())], freeform: Vec::new() };
    assert_eq!(names.to_client(&a), "repo.search");
    assert_eq!(names.to_client("Read"), "Read");
}
