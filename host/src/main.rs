//! The `oomnitza-connect` binary: parse arguments, run, report errors.

use std::process::ExitCode;

use clap::Parser;
use oomnitza_connect::cli::{self, Args, Printer};

fn main() -> ExitCode {
    let args = Args::parse();
    let printer = Printer::new(args.quiet);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            printer.error(&e);
            ExitCode::FAILURE
        }
    }
}
