//! Stream text as a terminal shows it.
//!
//! Progress bars (tqdm, pip, curl) rewrite a line with `\r` and step back
//! with `\b`; storing the raw bytes would show every frame of the bar one
//! after another. A `TerminalText` applies those controls as they arrive, so
//! a chunk ending in `\r` correctly lets the next chunk overwrite the line.
//! ANSI colour sequences are kept for the renderer.

/// Text with a cursor on its last line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TerminalText {
    /// Complete lines, each ending in `\n`.
    done: String,
    /// The line the cursor is on.
    line: Vec<char>,
    /// Cursor column in `line`.
    col: usize,
}

impl TerminalText {
    pub fn push(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '\n' => {
                    self.done.extend(self.line.drain(..));
                    self.done.push('\n');
                    self.col = 0;
                }
                '\r' => self.col = 0,
                '\u{8}' => self.col = self.col.saturating_sub(1),
                c => {
                    if self.col < self.line.len() {
                        self.line[self.col] = c;
                    } else {
                        self.line.push(c);
                    }
                    self.col += 1;
                }
            }
        }
    }

    /// What is on screen.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.done.len() + self.line.len());
        out.push_str(&self.done);
        out.extend(self.line.iter());
        out
    }

    /// Bytes on screen, without rendering.
    pub fn len_bytes(&self) -> usize {
        self.done.len() + self.line.iter().map(|c| c.len_utf8()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(chunks: &[&str]) -> String {
        let mut t = TerminalText::default();
        for c in chunks {
            t.push(c);
        }
        t.render()
    }

    #[test]
    fn carriage_return_rewrites_the_line() {
        assert_eq!(render(&["10%\r", "20%\r", "100%\n"]), "100%\n");
        assert_eq!(render(&["loading... \r", "done"]), "doneing... ");
        assert_eq!(render(&["a\r\nb"]), "a\nb");
    }

    #[test]
    fn backspace_steps_back_and_overwrites() {
        assert_eq!(render(&["abc\u{8}\u{8}X"]), "aXc");
        assert_eq!(render(&["\u{8}\u{8}x"]), "x");
    }

    #[test]
    fn a_tqdm_bar_ends_as_its_last_frame() {
        let frames: Vec<String> = (0..=10)
            .map(|i| format!("\r{:3}%|{:<10}| {i}/10", i * 10, "#".repeat(i)))
            .collect();
        let mut chunks: Vec<&str> = frames.iter().map(|s| s.as_str()).collect();
        chunks.push("\n");
        assert_eq!(render(&chunks), "100%|##########| 10/10\n");
    }

    #[test]
    fn ansi_colours_are_kept() {
        assert_eq!(
            render(&["\u{1b}[31mred\u{1b}[0m\n"]),
            "\u{1b}[31mred\u{1b}[0m\n"
        );
    }
}
