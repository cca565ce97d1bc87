//! A host's output as the operator sees it: UTF-8 (invalid bytes replaced), terminal control
//! sequences removed except SGR colour and style (`ESC [ … m`), and at most a budget of bytes
//! across both streams.
//!
//! Decisions: bytes are decoded incrementally per stream, so a character split across two
//! reads comes out whole. The decoded text then goes through a real terminal parser
//! (`anstyle-parse`, the VT500 state machine), so CSI, OSC, DCS and other escapes are dropped
//! whole, not just their `ESC`. Of the C0 controls only `\n` and `\t` are kept; `\r`,
//! backspace, BEL and the rest are dropped, as are C1 controls (U+0080–U+009F). An SGR is
//! rebuilt from its parsed parameters, so what is sent is always a well-formed sequence. The
//! budget is spent a character or a whole SGR at a time: once a piece does not fit, it and
//! everything after it are discarded.

use anstyle_parse::{Params, Parser, Perform};

/// One host's output budget in bytes of text, shared by its two streams.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
    truncated: bool,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Budget {
        Budget {
            left: bytes,
            truncated: false,
        }
    }

    /// Whether some output was discarded.
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }
}

/// One stream's decoder and parser state.
#[derive(Default)]
pub(crate) struct StreamFilter {
    /// The start of a UTF-8 character whose remaining bytes have not arrived yet (at most 3).
    pending: Vec<u8>,
    parser: Parser,
}

impl StreamFilter {
    /// Filters one read of raw bytes into the text to send (possibly empty).
    pub(crate) fn push(&mut self, bytes: &[u8], budget: &mut Budget) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(bytes);
        let mut text = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        self.parse(&text, budget)
    }

    /// The text still held at the stream's end: an incomplete character becomes U+FFFD.
    pub(crate) fn finish(&mut self, budget: &mut Budget) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.pending.clear();
        self.parse("\u{FFFD}", budget)
    }

    fn parse(&mut self, text: &str, budget: &mut Budget) -> String {
        let mut sink = Sink {
            out: String::with_capacity(text.len().min(budget.left)),
            budget,
        };
        for byte in text.bytes() {
            self.parser.advance(&mut sink, byte);
        }
        sink.out
    }
}

/// Collects what survives the parser, within the budget.
struct Sink<'a> {
    out: String,
    budget: &'a mut Budget,
}

impl Sink<'_> {
    fn put(&mut self, piece: &str) {
        if self.budget.truncated {
            return;
        }
        if piece.len() > self.budget.left {
            self.budget.truncated = true;
            return;
        }
        self.budget.left -= piece.len();
        self.out.push_str(piece);
    }
}

impl Perform for Sink<'_> {
    fn print(&mut self, c: char) {
        if !c.is_control() {
            self.put(c.encode_utf8(&mut [0; 4]));
        }
    }

    fn execute(&mut self, byte: u8) {
        if byte == b'\n' || byte == b'\t' {
            self.put(if byte == b'\n' { "\n" } else { "\t" });
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: u8) {
        if action != b'm' || ignore || !intermediates.is_empty() {
            return;
        }
        let mut sgr = String::from("\x1b[");
        for (i, param) in params.iter().enumerate() {
            if i > 0 {
                sgr.push(';');
            }
            for (j, sub) in param.iter().enumerate() {
                if j > 0 {
                    sgr.push(':');
                }
                sgr.push_str(&sub.to_string());
            }
        }
        sgr.push('m');
        self.put(&sgr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(chunks: &[&[u8]], cap: usize) -> (String, bool) {
        let mut budget = Budget::new(cap);
        let mut f = StreamFilter::default();
        let mut out: String = chunks.iter().map(|c| f.push(c, &mut budget)).collect();
        out.push_str(&f.finish(&mut budget));
        (out, budget.truncated())
    }

    fn clean(bytes: &[u8]) -> String {
        filter(&[bytes], usize::MAX).0
    }

    #[test]
    fn sgr_kept_everything_else_stripped() {
        let raw = b"\x1b[31mred\x1b[0m\x1b[2Jx\x1b]0;title\x07y\x1b[1;38:5:208mz\x1b[m";
        assert_eq!(clean(raw), "\x1b[31mred\x1b[0mxy\x1b[1;38:5:208mz\x1b[0m");
        assert_eq!(
            clean(b"a\x1b[?25lb\x1b[?1mc\x1bPq#0\x1b\\d\x1b(Be\x1b7f"),
            "abcdef"
        );
        assert_eq!(
            clean(b"a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b"),
            "alinkb"
        );
    }

    #[test]
    fn controls_keep_newline_and_tab_only() {
        assert_eq!(clean(b"a\tb\r\nc\x07\x08\x00d\x7fe\n"), "a\tb\ncde\n");
        assert_eq!(clean("x\u{85}y\u{9b}31mz".as_bytes()), "xy31mz");
    }

    #[test]
    fn utf8_split_across_reads_and_invalid_bytes() {
        let word = "héllo ✓ 😀".as_bytes();
        for cut in 0..=word.len() {
            let (a, b) = word.split_at(cut);
            assert_eq!(filter(&[a, b], usize::MAX).0, "héllo ✓ 😀", "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = word.chunks(1).collect();
        assert_eq!(filter(&bytes, usize::MAX).0, "héllo ✓ 😀");
        assert_eq!(clean(b"a\xffb\xc3"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(clean(b"\xe2\x9c"), "\u{FFFD}");
        assert_eq!(clean(b"\xe2\x9cz"), "\u{FFFD}z");
    }

    #[test]
    fn budget_counts_sent_bytes_and_stops_for_good() {
        let (out, truncated) = filter(&[b"abc", b"\x1b[2Jdef"], 5);
        assert_eq!((out.as_str(), truncated), ("abcde", true));
        let (out, truncated) = filter(&[b"abcde"], 5);
        assert_eq!((out.as_str(), truncated), ("abcde", false));
        // A character that does not fit whole is dropped, and so is what follows.
        let (out, truncated) = filter(&["ab✓c".as_bytes()], 4);
        assert_eq!((out.as_str(), truncated), ("ab", true));
        let (out, _) = filter(&[b"ab\x1b[31mc"], 5);
        assert_eq!(out, "ab");
    }

    #[test]
    fn two_streams_share_a_budget() {
        let mut budget = Budget::new(4);
        let (mut out, mut err) = (StreamFilter::default(), StreamFilter::default());
        assert_eq!(out.push(b"ab", &mut budget), "ab");
        assert_eq!(err.push(b"cd", &mut budget), "cd");
        assert_eq!(out.push(b"e", &mut budget), "");
        assert!(budget.truncated());
    }
}
