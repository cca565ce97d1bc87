//! Light formatting in message text, safe by construction: the text is cut into [`Piece`]s
//! that the view turns into elements (never into an HTML string), so nothing in a message can
//! become markup. What is recognised:
//!
//! - ```` ``` ```` fences around a code block (an unclosed fence is text);
//! - `` `code` ``, `**strong**` and `*emphasis*` within a line, the marks next to the text they
//!   enclose (`2 * 3 * 4` stays as it is);
//! - `http://` and `https://` links, up to white space, without trailing punctuation (a `)` that
//!   closes a `(` in the link stays). Any other scheme (`javascript:`, `data:`) stays text.

/// How a run of text is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Strong,
    Emphasis,
}

/// A piece of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str, Style),
    /// An `http(s)` URL, as written.
    Link(&'a str, Style),
    Code(&'a str),
    /// A fenced block, without the fences and the line break after the opening one.
    Block(&'a str),
}

/// Cuts `text` into pieces; joined, their texts give back `text` less the marks.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = find(rest, b"```") {
        let Some(len) = find(&rest[open + 3..], b"```") else {
            break;
        };
        inline(&rest[..open], &mut out);
        let code = &rest[open + 3..open + 3 + len];
        out.push(Piece::Block(code.strip_prefix('\n').unwrap_or(code)));
        rest = &rest[open + 3 + len + 3..];
    }
    inline(rest, &mut out);
    out
}

/// Code, strong and emphasis within a line, and links in the rest.
fn inline<'a>(text: &'a str, out: &mut Vec<Piece<'a>>) {
    let bytes = text.as_bytes();
    let mut plain = 0; // start of the text not yet pushed
    let mut i = 0;
    while i < bytes.len() {
        let found = match bytes[i] {
            b'`' => enclosed(text, i, "`", false).map(|end| (end, 1, None)),
            b'*' if bytes.get(i + 1) == Some(&b'*') => {
                enclosed(text, i, "**", true).map(|end| (end, 2, Some(Style::Strong)))
            }
            b'*' => enclosed(text, i, "*", true).map(|end| (end, 1, Some(Style::Emphasis))),
            _ => None,
        };
        let Some((end, mark, style)) = found else {
            i += 1;
            continue;
        };
        links(&text[plain..i], Style::Plain, out);
        let inner = &text[i + mark..end];
        match style {
            None => out.push(Piece::Code(inner)),
            Some(style) => links(inner, style, out),
        }
        i = end + mark;
        plain = i;
    }
    links(&text[plain..], Style::Plain, out);
}

/// Where the text marked by `mark` at `start` ends (the closing mark's index), on the same
/// line; with `tight`, the text may not begin or end with white space.
fn enclosed(text: &str, start: usize, mark: &str, tight: bool) -> Option<usize> {
    let from = start + mark.len();
    let line = text[from..].find('\n').map_or(text.len(), |n| from + n);
    let end = from + find(&text[from..line], mark.as_bytes())?;
    let inner = &text[from..end];
    let loose = inner.starts_with(char::is_whitespace) || inner.ends_with(char::is_whitespace);
    (!(inner.is_empty() || tight && loose)).then_some(end)
}

/// Where `needle` first is in `hay` (a plain loop: `str::find` with a `&str` brings a
/// searcher of its own into the bundle).
fn find(hay: &str, needle: &[u8]) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle)
}

/// `text` as text and links.
fn links<'a>(text: &'a str, style: Style, out: &mut Vec<Piece<'a>>) {
    let mut rest = text;
    let mut searched = 0;
    while let Some(at) = rest[searched..].find(['h', 'H']).map(|n| searched + n) {
        let tail = &rest[at..];
        let scheme = ["https://", "http://"].iter().find(|s| {
            tail.len() > s.len()
                && tail
                    .get(..s.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(s))
        });
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !shared::unicode::is_letter_or_digit(c));
        let len = link_len(tail);
        if !starts_word || scheme.is_none_or(|s| len <= s.len()) {
            searched = at + 1;
            continue;
        }
        if at > 0 {
            out.push(Piece::Text(&rest[..at], style));
        }
        out.push(Piece::Link(&tail[..len], style));
        rest = &tail[len..];
        searched = 0;
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest, style));
    }
}

/// The length of the link at the start of `tail`: up to white space or a character that
/// cannot be in a URL, less trailing punctuation.
fn link_len(tail: &str) -> usize {
    let mut len = tail
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
        .unwrap_or(tail.len());
    loop {
        let link = &tail[..len];
        let Some(last) = link.chars().next_back() else {
            return 0;
        };
        let trim = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | ']' | '}' => true,
            ')' => link.matches('(').count() < link.matches(')').count(),
            _ => false,
        };
        if !trim {
            return len;
        }
        len -= last.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::Piece::{Block, Code, Link, Text};
    use super::Style::{Emphasis, Plain, Strong};
    use super::*;

    #[test]
    fn plain_text_is_one_piece() {
        assert_eq!(pieces("hi there"), [Text("hi there", Plain)]);
        assert_eq!(pieces(""), []);
    }

    #[test]
    fn links_are_http_and_https_alone() {
        assert_eq!(
            pieces("see https://example.com/a?b=1#c, then"),
            [
                Text("see ", Plain),
                Link("https://example.com/a?b=1#c", Plain),
                Text(", then", Plain)
            ]
        );
        assert_eq!(
            pieces("(HTTP://x.org/wiki/A_(b)) ok."),
            [
                Text("(", Plain),
                Link("HTTP://x.org/wiki/A_(b)", Plain),
                Text(") ok.", Plain)
            ]
        );
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "xhttp://a.b",
            "http://",
            "https:// x",
            "httpx",
        ] {
            assert_eq!(pieces(text), [Text(text, Plain)], "{text}");
        }
    }

    #[test]
    fn code_strong_and_emphasis() {
        assert_eq!(
            pieces("a `b *c*` **d** *e http://f.g*"),
            [
                Text("a ", Plain),
                Code("b *c*"),
                Text(" ", Plain),
                Text("d", Strong),
                Text(" ", Plain),
                Text("e ", Emphasis),
                Link("http://f.g", Emphasis)
            ]
        );
        for text in ["2 * 3 * 4", "a ** b", "`", "*\nx*", "**", "* a*"] {
            assert_eq!(pieces(text), [Text(text, Plain)], "{text:?}");
        }
    }

    #[test]
    fn fenced_blocks_hold_their_text_as_is() {
        assert_eq!(
            pieces("run:\n```\nls *.rs\n<b>\n```\ndone"),
            [
                Text("run:\n", Plain),
                Block("ls *.rs\n<b>\n"),
                Text("\ndone", Plain)
            ]
        );
        assert_eq!(pieces("``` open"), [Text("``` open", Plain)]);
    }

    #[test]
    fn every_text_survives_less_its_marks() {
        for text in [
            "**",
            "*a**",
            "``x``",
            "h\u{e9}llo https://\u{e9}.fr/\u{e9}.",
            "a*b*c",
            // An `h` whose scheme-long prefix ends inside a character.
            "hello \u{1f600}",
            "hi \u{4f60}\u{597d}",
            "h\u{4f60}\u{597d}\u{5417}",
        ] {
            let joined: String = pieces(text)
                .iter()
                .map(|p| match p {
                    Text(s, _) | Link(s, _) | Code(s) | Block(s) => *s,
                })
                .collect();
            assert!(joined.len() <= text.len(), "{text:?}");
        }
    }
}
