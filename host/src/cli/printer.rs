//! The one place the command line prints, in the manner of uv's `Printer`.
//!
//! Every line goes through the output boundary in `term` (`outln!`,
//! `errln!`, `errput!`, and so `term::clean`): text from a component or a
//! vendor never reaches the terminal as control characters. Results go to
//! stdout; status, prompts and the sync report to stderr. Machine-readable
//! output ([`Printer::data`], [`Printer::payloads`]) is written as it is when
//! stdout is not a terminal, since there it is data, not something a
//! terminal interprets.
//!
//! `--quiet` quiets logging (warnings and errors only) and the progress
//! bar; what a command was asked to print, it still prints.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

use crate::term::{errln, errput, outln};

/// Where the command line writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    quiet: bool,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// Whether a progress bar may be drawn: not `--quiet`, and stderr is a
    /// terminal.
    pub fn progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// A line of the command's result, on stdout.
    pub fn out(&self, line: impl Display) {
        outln!("{line}");
    }

    /// A line of status (or the sync report), on stderr.
    pub fn err(&self, line: impl Display) {
        errln!("{line}");
    }

    /// A question on stderr, without a newline; flushed.
    pub fn prompt(&self, text: impl Display) {
        errput!("{text}");
    }

    /// An error that ends the command: `error: ` and the whole chain.
    pub fn error(&self, e: &anyhow::Error) {
        errln!("error: {e:#}");
    }

    /// Machine-readable output (JSON, CSV). JSON escapes control
    /// characters itself; CSV keeps values as they are, so on a terminal it
    /// goes through the same cleaning as every line, and into a pipe or
    /// file unchanged.
    pub fn data(&self, text: &str) {
        if std::io::stdout().is_terminal() {
            for line in text.lines() {
                outln!("{line}");
            }
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            if !text.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
        }
    }

    /// Where a dry run writes its bulk payloads: JSON lines on stdout, as
    /// serde wrote them (JSON escapes every control character).
    pub fn payloads(&self) -> crate::sync::PayloadSink {
        crate::sync::PayloadSink::new(std::io::stdout())
    }
}
