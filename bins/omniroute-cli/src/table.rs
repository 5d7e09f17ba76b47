//! Plain aligned columns for human output: a header row, rows of strings, each column padded to
//! its widest cell, two spaces between columns, no trailing spaces.

/// A table being filled.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub(crate) fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The rendered table, ending in a newline; `(none)` when it has no rows.
    pub(crate) fn render(&self) -> String {
        if self.rows.is_empty() {
            return "(none)\n".to_owned();
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// US dollars with four decimals: `$0.0123`.
pub(crate) fn money(usd: f64) -> String {
    format!("${usd:.4}")
}

/// `s` cut to `max` characters, with `…` marking the cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `text` broken into lines of at most `width` characters at spaces (a longer word gets a line
/// of its own).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_the_widest_cell() {
        let mut t = Table::new(&["NAME", "TARGET"]);
        t.row(vec!["fast".into(), "mo/gpt-mock".into()]);
        t.row(vec!["a-longer-name".into(), "x".into()]);
        assert_eq!(
            t.render(),
            "NAME           TARGET\nfast           mo/gpt-mock\na-longer-name  x\n"
        );
    }

    #[test]
    fn empty_tables_say_none() {
        assert_eq!(Table::new(&["A"]).render(), "(none)\n");
    }

    #[test]
    fn short_rows_are_padded_and_trailing_blanks_trimmed() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(vec!["1".into()]);
        t.row(vec!["22".into(), "ü".into(), String::new()]);
        assert_eq!(t.render(), "A   B  C\n1\n22  ü\n");
    }

    #[test]
    fn money_has_four_decimals() {
        assert_eq!(money(0.0123), "$0.0123");
        assert_eq!(money(2.5), "$2.5000");
        assert_eq!(money(0.0), "$0.0000");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
    }

    #[test]
    fn wrapping_breaks_at_spaces() {
        assert_eq!(wrap("one two three four", 9), ["one two", "three", "four"]);
        assert_eq!(wrap("a  b\n c", 80), ["a b c"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("tiny enormousword x", 6), ["tiny", "enormousword", "x"]);
    }
}
