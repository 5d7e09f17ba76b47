//! Tool names the target would reject, mapped reversibly.
//!
//! Clients name tools freely (`repo.search`, `ns:lookup`, 70-character MCP names), and each
//! format has its own rule. A name the target accepts passes untouched, case and prefixes
//! included. One it rejects gets a deterministic, valid stand-in, and every response and stream
//! event maps the stand-in back, so the client only ever sees its own names.

use crate::Format;
use crate::ir::{Part, Request, Response, ToolChoice};

/// The names changed for one request: `(client name, upstream name)` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames {
    pairs: Vec<(String, String)>,
    /// Client names of Responses `custom` (free-text) tools, answered as `custom_tool_call`.
    freeform: Vec<String>,
}

impl ToolNames {
    /// True when no name had to change and no tool needs special handling on the way back.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.freeform.is_empty()
    }

    /// Client names of the free-text tools.
    pub(crate) fn freeform_names(&self) -> impl Iterator<Item = &str> {
        self.freeform.iter().map(String::as_str)
    }

    /// Whether the client declared this tool as a Responses `custom` (free-text) tool.
    pub fn is_freeform(&self, client_name: &str) -> bool {
        self.freeform.iter().any(|n| n == client_name)
    }

    /// The client's name for a name the upstream used (unchanged if it was never mapped).
    pub fn to_client<'a>(&'a self, upstream: &'a str) -> &'a str {
        self.pairs.iter().find(|(_, u)| u == upstream).map_or(upstream, |(c, _)| c)
    }

    /// The upstream's name for a client name (unchanged if it was never mapped).
    pub fn to_upstream<'a>(&'a self, client: &'a str) -> &'a str {
        self.pairs.iter().find(|(c, _)| c == client).map_or(client, |(_, u)| u)
    }

    /// Every `(client name, upstream name)` pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(c, u)| (c.as_str(), u.as_str()))
    }

    pub(crate) fn restore_response(&self, resp: &mut Response) {
        if self.pairs.is_empty() {
            return;
        }
        for part in &mut resp.parts {
            if let Part::ToolCall(call) = part {
                call.name = self.to_client(&call.name).to_owned();
            }
        }
    }
}

/// Whether `format` accepts `name` as a function name.
pub(crate) fn is_valid(format: Format, name: &str) -> bool {
    let b = name.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-';
    match format {
        Format::OpenAiChat | Format::Responses => (1..=64).contains(&b.len()) && b.iter().all(word),
        Format::Anthropic => (1..=128).contains(&b.len()) && b.iter().all(word),
        Format::Gemini => {
            (1..=64).contains(&b.len())
                && (b[0].is_ascii_alphabetic() || b[0] == b'_')
                && b.iter().all(|c| word(c) || *c == b'.' || *c == b':')
        }
    }
}

fn max_len(format: Format) -> usize {
    match format {
        Format::Anthropic => 128,
        _ => 64,
    }
}

/// FNV-1a: a stable, dependency-free hash for short, readable suffixes.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn stand_in(format: Format, name: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let mut base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    if base.is_empty() || !(base.as_bytes()[0].is_ascii_alphabetic() || base.starts_with('_')) {
        base.insert(0, '_');
    }
    let limit = max_len(format);
    if base.len() <= limit && is_valid(format, &base) && !taken(&base) {
        return base;
    }
    let suffix = format!("_{:08x}", fnv(name) as u32);
    base.truncate(limit - suffix.len());
    base + &suffix
}

/// Maps every tool name of `req` the target rejects, in definitions, `tool_choice` and the
/// conversation's tool calls and results, and returns the mapping.
pub(crate) fn map_tools(req: &mut Request, to: Format) -> ToolNames {
    let mut names = ToolNames {
        pairs: Vec::new(),
        freeform: req.tools.iter().filter(|t| t.freeform).map(|t| t.name.clone()).collect(),
    };
    let all: Vec<String> = req.tools.iter().map(|t| t.name.clone()).collect();
    let consider = |name: &str, names: &mut ToolNames| {
        if is_valid(to, name) || names.pairs.iter().any(|(c, _)| c == name) {
            return;
        }
        let mapped = {
            let taken =
                |n: &str| all.iter().any(|a| a == n) || names.pairs.iter().any(|(_, u)| u == n);
            stand_in(to, name, &taken)
        };
        names.pairs.push((name.to_owned(), mapped));
    };
    for t in &req.tools {
        consider(&t.name, &mut names);
    }
    for m in &req.messages {
        for p in &m.parts {
            match p {
                Part::ToolCall(c) => consider(&c.name, &mut names),
                Part::ToolResult { name: Some(n), .. } => consider(n, &mut names),
                _ => {}
            }
        }
    }
    if names.pairs.is_empty() {
        return names;
    }
    for t in &mut req.tools {
        t.name = names.to_upstream(&t.name).to_owned();
    }
    match &mut req.tool_choice {
        Some(ToolChoice::Tool(n)) => *n = names.to_upstream(n).to_owned(),
        Some(ToolChoice::AnyOf(list)) => {
            for n in list {
                *n = names.to_upstream(n).to_owned();
            }
        }
        _ => {}
    }
    for m in &mut req.messages {
        for p in &mut m.parts {
            match p {
                Part::ToolCall(c) => c.name = names.to_upstream(&c.name).to_owned(),
                Part::ToolResult { name: Some(n), .. } => *n = names.to_upstream(n).to_owned(),
                _ => {}
            }
        }
    }
    names
}

#[cfg(test)]
mod tests;
