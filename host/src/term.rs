//! The one output boundary: text from a component (names, error texts,
//! record ids, action details) is hostile when it reaches a terminal. An
//! escape sequence could retitle the window, clear the screen, paint a fake
//! green "OK", write the clipboard (OSC 52) or plant a link (OSC 8).
//!
//! [`clean`] shows every control character visibly instead of sending it:
//! C0 controls other than newline and tab, DEL, the C1 controls (U+0080 to
//! U+009F: U+009B alone starts a CSI sequence on some terminals), and the
//! bidirectional overrides that reorder what a line appears to say. Every
//! line the binary prints goes through the command line's `Printer`
//! (`cli::Printer`), which writes with [`outln!`], [`errln!`] and
//! [`errput!`] (lib.rs denies `clippy::print_stdout` and `print_stderr`, and
//! only the `Printer` uses these macros), and writers that take a `Write`
//! get a [`CleanWriter`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates (Trojan Source).
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `s` with every unsafe character written as a visible escape (`\x1b`,
/// `\r`, `\u{202e}`). Borrowed when nothing needed escaping.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\r' => out.write_str("\\r"),
            '\u{0}'..='\u{7f}' => write!(out, "\\x{:02x}", c as u32),
            _ => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

/// Like [`clean`], and also escapes newlines and tabs: for a value that
/// must stay on one line (a table cell, an id).
pub fn clean_line(s: &str) -> Cow<'_, str> {
    if !s.contains(['\n', '\t']) {
        return clean(s);
    }
    Cow::Owned(clean(s).replace('\n', "\\n").replace('\t', "\\t"))
}

/// Prints a line on stdout, cleaned. The only way the binary prints.
macro_rules! outln {
    () => { $crate::term::emit_out("") };
    ($($arg:tt)*) => { $crate::term::emit_out(&format!($($arg)*)) };
}
pub(crate) use outln;

/// Prints a line on stderr, cleaned.
macro_rules! errln {
    () => { $crate::term::emit_err("") };
    ($($arg:tt)*) => { $crate::term::emit_err(&format!($($arg)*)) };
}
pub(crate) use errln;

/// Prints on stderr without a newline (a prompt), cleaned.
macro_rules! errput {
    ($($arg:tt)*) => { $crate::term::emit_err_partial(&format!($($arg)*)) };
}
pub(crate) use errput;

#[doc(hidden)]
pub fn emit_out(line: &str) {
    let mut out = io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(out, "{}", clean(line));
}

#[doc(hidden)]
pub fn emit_err(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", clean(line));
}

#[doc(hidden)]
pub fn emit_err_partial(text: &str) {
    let mut err = io::stderr().lock();
    let _ = write!(err, "{}", clean(text));
    let _ = err.flush();
}

/// A writer that cleans what passes through it, a line at a time (so a
/// multi-byte character split across writes is seen whole).
pub struct CleanWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> CleanWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(clean(&text).as_bytes())
    }
}

impl<W: Write> Write for CleanWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last_nl) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(last_nl + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.pending.len();
        self.emit(n)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for CleanWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(clean("Ana López\tok\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[32mOK\x1b[0m\x1b]52;c;ZXZpbA==\x07\u{9b}31m\r\u{202e}gnp.exe";
        let shown = clean(hostile);
        for bad in ['\x1b', '\x07', '\u{9b}', '\r', '\u{202e}'] {
            assert!(!shown.contains(bad), "{bad:?} in {shown}");
        }
        assert!(shown.contains("\\x1b]0;pwned\\x07"), "{shown}");
        assert!(shown.contains("\\u{9b}31m"), "{shown}");
        assert!(shown.contains("\\u{202e}"), "{shown}");
    }

    #[test]
    fn one_line_values_escape_newlines() {
        assert_eq!(clean_line("a\nb\tc"), "a\\nb\\tc");
    }

    #[test]
    fn writer_cleans_characters_split_across_writes() {
        let mut out = Vec::new();
        {
            let mut w = CleanWriter::new(&mut out);
            let bytes = "x\u{9b}y\n".as_bytes();
            w.write_all(&bytes[..2]).unwrap();
            w.write_all(&bytes[2..]).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "x\\u{9b}y\n");
    }
}
