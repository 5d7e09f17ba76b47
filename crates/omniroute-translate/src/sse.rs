//! An incremental Server-Sent Events codec.
//!
//! [`SseDecoder`] takes bytes in whatever pieces the network delivers and yields complete events;
//! its output does not depend on where the input was split. It follows the WHATWG parsing rules
//! that matter for LLM streams: `\n`, `\r\n` and lone `\r` line endings, multi-line `data:`
//! fields joined with `\n`, comment lines (keep-alives) skipped, and an optional space after the
//! colon. [`write_event`] is the matching encoder.

/// One complete SSE event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event named one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed bytes, collect events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a `\n` at the start of the next one belongs to it.
    pending_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Set once any byte has been seen, so `finish` can tell an empty stream from a cut one.
    seen_bytes: bool,
}

/// What was left unparsed when the input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// The bytes of the incomplete line or event, lossily decoded.
    pub partial: String,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of bytes and appends every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if chunk.is_empty() {
            return;
        }
        self.seen_bytes = true;
        if self.pending_cr {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            self.line.extend_from_slice(&chunk[..pos]);
            if chunk[pos] == b'\r' {
                match chunk.get(pos + 1) {
                    Some(b'\n') => chunk = &chunk[pos + 2..],
                    Some(_) => chunk = &chunk[pos + 1..],
                    None => {
                        self.pending_cr = true;
                        chunk = &[];
                    }
                }
            } else {
                chunk = &chunk[pos + 1..];
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(chunk);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment, usually a keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                match std::str::from_utf8(value) {
                    Ok(v) => self.data.push_str(v),
                    Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // `id:`, `retry:` and unknown fields carry nothing a translator needs
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }

    /// Ends the stream. An event that was complete except for its final blank line is still
    /// delivered (many servers close right after the last `data:` line); a line cut in the
    /// middle is reported as [`Truncated`].
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), Truncated> {
        self.pending_cr = false;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let partial = String::from_utf8_lossy(&line).into_owned();
            // A cut `data:` line is only harmless if it is a complete JSON value or `[DONE]`;
            // callers judge the payload, so hand it over and let them decide.
            self.process_line(&line, out);
            if !line.starts_with(b"data:") {
                self.reset();
                return Err(Truncated { partial });
            }
        }
        self.dispatch(out);
        self.reset();
        Ok(())
    }

    /// True once any byte was fed.
    pub fn seen_bytes(&self) -> bool {
        self.seen_bytes
    }

    fn reset(&mut self) {
        self.line.clear();
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

/// Appends one SSE event to `out`: an optional `event:` line, the data (one `data:` line per
/// line of data) and the blank line that ends it.
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    if memchr::memchr(b'\n', data.as_bytes()).is_none() {
        // The common case: JSON on one line.
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
        return;
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests;
