//! Runner output's colours: the relay keeps only SGR sequences (`ESC [ … m`) in
//! `run_output.text`; this splits the text into spans with the style each is in. Bold,
//! foreground 30–37 and 90–97, 39 (default colour), 22 (not bold) and 0 (reset, also `ESC[m`)
//! are understood; other codes are skipped, and so is any other escape.

/// A style: bold, and a foreground colour (0–7, 8–15 for the bright ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub bold: bool,
    pub fg: Option<u8>,
}

/// The colour classes, by [`Style::fg`].
const COLOURS: [&str; 16] = [
    "sgr-0", "sgr-1", "sgr-2", "sgr-3", "sgr-4", "sgr-5", "sgr-6", "sgr-7", "sgr-8", "sgr-9",
    "sgr-10", "sgr-11", "sgr-12", "sgr-13", "sgr-14", "sgr-15",
];

impl Style {
    /// The CSS classes of a span in this style: `sgr-b` when bold, `sgr-N` for colour N.
    pub fn classes(self) -> [Option<&'static str>; 2] {
        [
            self.bold.then_some("sgr-b"),
            self.fg.and_then(|c| COLOURS.get(usize::from(c)).copied()),
        ]
    }
}

/// `text` as runs of one style each, without the escape sequences.
pub fn spans(text: &str) -> Vec<(Style, String)> {
    let mut out: Vec<(Style, String)> = Vec::new();
    let mut style = Style::default();
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        push(&mut out, style, &rest[..at]);
        rest = &rest[at + 1..];
        let Some(body) = rest.strip_prefix('[') else {
            continue; // a lone ESC: dropped
        };
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(body.len());
        rest = match body[end..].chars().next() {
            Some('m') => {
                style = apply(style, &body[..end]);
                &body[end + 1..]
            }
            // Another sequence: it goes, up to its final byte.
            Some(c) if ('@'..='~').contains(&c) => &body[end + 1..],
            _ => &body[end..],
        };
    }
    push(&mut out, style, rest);
    out
}

fn push(out: &mut Vec<(Style, String)>, style: Style, text: &str) {
    if text.is_empty() {
        return;
    }
    match out.last_mut() {
        Some((s, t)) if *s == style => t.push_str(text),
        _ => out.push((style, text.to_owned())),
    }
}

/// The style after the SGR parameters `params` (`1;31`).
fn apply(mut style: Style, params: &str) -> Style {
    for code in params.split(';') {
        match code.parse::<u8>().unwrap_or(0) {
            0 => style = Style::default(),
            1 => style.bold = true,
            22 => style.bold = false,
            39 => style.fg = None,
            n @ 30..=37 => style.fg = Some(n - 30),
            n @ 90..=97 => style.fg = Some(n - 90 + 8),
            // Extended colours (`38;5;N`, `38;2;R;G;B`): their numbers are no codes.
            38 | 48 => break,
            _ => {}
        }
    }
    style
}
