//! Terminal safety of the CLI's human output.
//!
//! Connector manifests, card outputs and errors, log lines, stored
//! connections and upstream error messages are not trusted: a hostile
//! connector must not be able to move the cursor, change colours, rewrite
//! earlier lines, set the window title or hide text. Every line the CLI
//! prints for a person goes through [`escape`] (by way of [`outln!`] and
//! [`errln!`]); `--json` output is JSON and is written verbatim.
//!
//! Writing to stdout never panics: when the reader has gone
//! (`cardhost cards | head -1`) the write returns [`StdoutClosed`], which
//! [`super::main`] turns into a quiet, successful exit, as ripgrep does.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal as is: control characters (C0,
/// including ESC, CR and LF; DEL; C1, including the one-byte CSI U+009B),
/// Unicode bidi embeddings, overrides, isolates and marks (which can make
/// text display in another order than it is read, or hide it), and the
/// line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// A value made safe to print on a terminal: every unsafe character is shown
/// as a visible escape (`\n`, `\r`, `\t`, or `\u{1b}` and the like), so one
/// value stays on one line and can carry no terminal control sequence.
/// Escaping is idempotent: escaped text has nothing left to escape.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// [`escape`] for text that is several lines by construction (pretty JSON
/// of a card's output, whose strings serde_json has already escaped): its
/// newlines are kept, everything else unsafe is escaped.
pub(crate) fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_newlines && c == '\n';
    if !s.chars().any(|c| is_unsafe(c) && !kept(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if kept(c) || !is_unsafe(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.extend(c.escape_unicode()),
        }
    }
    Cow::Owned(out)
}

/// Stdout was closed by its reader (`cardhost cards | head -1`): the command
/// ends quietly and successfully.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether `e` is (or was caused by) [`StdoutClosed`].
pub(crate) fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<StdoutClosed>())
}

/// Writes `text` and a newline to stdout, without panicking.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Prints one line for a person, escaped. Use [`outln!`].
pub(crate) fn out_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    write_stdout(&escape(&args.to_string()))
}

/// Prints text of several lines for a person, escaped but for its newlines.
pub(crate) fn out_lines(text: &str) -> anyhow::Result<()> {
    write_stdout(&escape_lines(text))
}

/// Prints JSON (`--json`) verbatim: serde_json escapes control characters
/// in strings.
pub(crate) fn out_json(text: &str) -> anyhow::Result<()> {
    write_stdout(text)
}

/// Prints one line on stderr, escaped. A closed stderr is ignored: there is
/// nowhere left to report it. Use [`errln!`].
pub(crate) fn err_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", escape(&args.to_string()));
}

/// `println!` for the CLI's human output: the line is [`escape`]d and a
/// closed stdout is an `Err` ([`StdoutClosed`]) instead of a panic.
macro_rules! outln {
    () => {
        $crate::cli::term::out_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::term::out_line(format_args!($($arg)*))
    };
}

/// `eprintln!` for the CLI: the line is [`escape`]d and a closed stderr is
/// ignored.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::term::err_line(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched_and_borrowed() {
        for s in [
            "",
            "hello",
            "Grüße, 世界 — ok",
            "a\\u{1b}b",
            "tab-free  spaces",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        // Clear screen, cursor home, colours, a window title (OSC), and the
        // one-character CSI of C1.
        assert_eq!(escape("\x1b[2J\x1b[H"), "\\u{1b}[2J\\u{1b}[H");
        assert_eq!(escape("\x1b[31mred\x1b[0m"), "\\u{1b}[31mred\\u{1b}[0m");
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\u{1b}]0;pwned\\u{7}");
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape("a\u{7f}b\u{0}"), "a\\u{7f}b\\u{0}");
        assert_eq!(escape("\u{85}\u{9f}\u{80}"), "\\u{85}\\u{9f}\\u{80}");
        assert!(!escape("\x1b\u{9b}\x07\x08").chars().any(char::is_control));
    }

    #[test]
    fn a_value_stays_on_its_line() {
        // CR would let a value overwrite what precedes it; LF would forge a
        // new table row.
        assert_eq!(escape("ok\rFAILED"), "ok\\rFAILED");
        assert_eq!(escape("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape("row\u{2028}row\u{2029}"), "row\\u{2028}row\\u{2029}");
        assert_eq!(escape_lines("{\n  \"a\": 1\r\n}"), "{\n  \"a\": 1\\r\n}");
        assert_eq!(escape_lines("\x1b[2J\n"), "\\u{1b}[2J\n");
    }

    #[test]
    fn bidi_controls_are_shown() {
        // "Trojan Source": an override or isolate displays text in another
        // order than it is stored.
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            let s = c.to_string();
            assert_eq!(escape(&s), format!("\\u{{{:x}}}", c as u32));
        }
        assert_eq!(
            escape("\u{200e}\u{200f}\u{61c}"),
            "\\u{200e}\\u{200f}\\u{61c}"
        );
        // Right-to-left text itself is fine.
        assert_eq!(escape("שלום مرحبا"), "שלום مرحبا");
    }

    #[test]
    fn escaping_is_idempotent() {
        for s in ["\x1b[2J", "a\nb", "\u{202e}x", "\\u{1b}", "\r\u{9b}"] {
            let once = escape(s).into_owned();
            assert_eq!(escape(&once), once);
        }
    }

    #[test]
    fn serde_json_escapes_c0_controls_in_json_output() {
        // `--json` output is written verbatim: serde_json already escapes
        // C0 (ESC, CR, LF…) inside strings. DEL, C1 and bidi characters are
        // valid unescaped JSON and pass through; JSON is for programs.
        let json = serde_json::to_string(&serde_json::json!({"t": "\x1b[2J\r\n\x07"})).unwrap();
        assert_eq!(json, r#"{"t":"\u001b[2J\r\n\u0007"}"#);
        assert!(!json.bytes().any(|b| b < 0x20));
    }

    #[test]
    fn a_closed_stdout_is_recognised_through_context() {
        let e = anyhow::Error::new(StdoutClosed).context("printing the catalog");
        assert!(is_stdout_closed(&e));
        let other = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(!is_stdout_closed(&other), "only stdout's own broken pipe");
    }
}
