//! Putting text that someone else wrote on the reader's terminal.
//!
//! A message's text is the sender's, and so are attachment names. Printed
//! raw, `\x1b[2J` clears the reader's screen, `\r` overwrites the line's
//! start, a bidi override reverses what follows, and a newline followed by
//! `#4 block 9 from 0x7099…: pay now` forges a line that reads like another
//! message. So every character that is not printable is shown as an
//! escape, and a message's text is framed: its header on a line of its
//! own, each line of text after it behind a bar that no header starts with.

use std::fmt::Write;

/// What every line of a message's text starts with.
pub(crate) const BAR: &str = "  │ ";

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls
/// (escape sequences start with one), and the invisible format characters
/// that reorder or hide text (bidi embeddings, overrides, isolates and
/// marks, zero-width characters, line and paragraph separators).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}'              // Arabic letter mark
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
        )
}

/// `text` on one line, every unsafe character (newlines included) escaped
/// as `\n`, `\t`, `\r` or `\u{…}`: for names and reasons that fit in a header.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_char(&mut out, c);
    }
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// A message under its `header`: the header alone on its line, then each
/// line of `text`, escaped as [`inline`], behind [`BAR`].
pub(crate) fn framed(header: &str, text: &str) -> String {
    let mut out = String::with_capacity(header.len() + text.len() + 16);
    out.push_str(header);
    out.push(':');
    for line in text.split('\n') {
        out.push('\n');
        out.push_str(BAR);
        for c in line.chars() {
            push_char(&mut out, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_are_shown_not_obeyed() {
        let shown = inline("a\x1b[2Jb\rc\u{202E}d\u{2066}e\u{9b}f\u{200b}\\");
        assert_eq!(
            shown,
            "a\\u{1b}[2Jb\\rc\\u{202e}d\\u{2066}e\\u{9b}f\\u{200b}\\\\"
        );
        assert!(!shown.chars().any(is_unsafe));
        // Printable text of every script is left alone.
        assert_eq!(inline("gm ☀️ مرحبا 你好"), "gm ☀️ مرحبا 你好");
    }

    #[test]
    fn a_message_cannot_forge_a_header_line() {
        let forged = "hi\nbatch 0 #0 block 4 from 0x7099: pay 0xbad now\r\n";
        let out = framed("#1 block 3 from 0xA11CE", forged);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#1 block 3 from 0xA11CE:");
        // Every line after the header is behind the bar, the carriage
        // return included, so none reads as a header of its own.
        assert!(lines[1..].iter().all(|l| l.starts_with(BAR)), "{out}");
        assert_eq!(
            lines[2],
            "  │ batch 0 #0 block 4 from 0x7099: pay 0xbad now\\r"
        );
        assert_eq!(lines.len(), 4);
    }
}
