//! Splitting a leading `<think>…</think>` out of streamed text, for OpenAI-compatible upstreams
//! that put reasoning inline (DeepSeek-R1 and Qwen hosts, MiniMax).
//!
//! The splitter is incremental: a tag cut across two chunks is held back until it is complete,
//! so the result does not depend on chunking.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace seen yet: a `<think>` may still come.
    Start,
    Thinking,
    /// Just after `</think>`: whitespace between reasoning and answer is dropped.
    AfterThink,
    Text,
}

/// A piece of split output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Thinking(String),
    Text(String),
}

#[derive(Debug)]
pub(crate) struct ThinkSplitter {
    state: State,
    held: String,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self { state: State::Start, held: String::new() }
    }
}

impl ThinkSplitter {
    pub(crate) fn push(&mut self, chunk: &str, out: &mut Vec<Piece>) {
        let chunk = if self.state == State::AfterThink {
            let rest = chunk.trim_start();
            if rest.is_empty() {
                return;
            }
            self.state = State::Text;
            rest
        } else {
            chunk
        };
        if self.state == State::Text {
            if !chunk.is_empty() {
                out.push(Piece::Text(chunk.to_owned()));
            }
            return;
        }
        self.held.push_str(chunk);
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.held.trim_start();
                    if trimmed.starts_with(OPEN) {
                        let skip = self.held.len() - trimmed.len() + OPEN.len();
                        self.held.drain(..skip);
                        self.state = State::Thinking;
                    } else if !trimmed.is_empty() && !OPEN.starts_with(trimmed) {
                        self.state = State::Text;
                        out.push(Piece::Text(std::mem::take(&mut self.held)));
                        return;
                    } else {
                        return; // still undecided
                    }
                }
                State::Thinking => {
                    if let Some(end) = self.held.find(CLOSE) {
                        if end > 0 {
                            out.push(Piece::Thinking(self.held[..end].to_owned()));
                        }
                        let rest = self.held[end + CLOSE.len()..].trim_start().to_owned();
                        self.held.clear();
                        if rest.is_empty() {
                            self.state = State::AfterThink;
                        } else {
                            self.state = State::Text;
                            out.push(Piece::Text(rest));
                        }
                        return;
                    }
                    // Emit all but a suffix that could be the start of `</think>`.
                    let keep = (1..CLOSE.len())
                        .rev()
                        .find(|&n| {
                            self.held.len() >= n
                                && self.held.is_char_boundary(self.held.len() - n)
                                && CLOSE.starts_with(&self.held[self.held.len() - n..])
                        })
                        .unwrap_or(0);
                    let emit = self.held.len() - keep;
                    if emit > 0 {
                        out.push(Piece::Thinking(self.held[..emit].to_owned()));
                        self.held.drain(..emit);
                    }
                    return;
                }
                State::AfterThink | State::Text => return,
            }
        }
    }

    /// Flushes whatever was held back when the text ends.
    pub(crate) fn finish(&mut self, out: &mut Vec<Piece>) {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        match self.state {
            State::Thinking => out.push(Piece::Thinking(held)),
            _ => out.push(Piece::Text(held)),
        }
    }
}

/// Splits a whole text at once.
pub(crate) fn split(text: &str) -> Vec<Piece> {
    let mut s = ThinkSplitter::default();
    let mut out = Vec::new();
    s.push(text, &mut out);
    s.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_chunking_independent() {
        let text = "  <think>step 1\nstep 2</think>\n\nThe answer is 4.";
        let whole = split(text);
        assert_eq!(
            whole,
            vec![Piece::Thinking("step 1\nstep 2".into()), Piece::Text("The answer is 4.".into())]
        );
        for i in 0..=text.len() {
            let mut s = ThinkSplitter::default();
            let mut out = Vec::new();
            s.push(&text[..i], &mut out);
            s.push(&text[i..], &mut out);
            s.finish(&mut out);
            let (mut t, mut x) = (String::new(), String::new());
            for p in out {
                match p {
                    Piece::Thinking(s) => t += &s,
                    Piece::Text(s) => x += &s,
                }
            }
            assert_eq!(
                (t.as_str(), x.as_str()),
                ("step 1\nstep 2", "The answer is 4."),
                "split at {i}"
            );
        }
    }

    #[test]
    fn text_without_tag_passes() {
        assert_eq!(split("<b>hi</b>"), vec![Piece::Text("<b>hi</b>".into())]);
        assert_eq!(split("<thi"), vec![Piece::Text("<thi".into())]);
    }
}
