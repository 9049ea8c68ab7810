//! The `oomnitza-connect` binary: parse arguments, run, report errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = oomnitza_connect::cli::Args::parse();
    oomnitza_connect::cli::init_logging(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            oomnitza_connect::term::emit_err(&format!(
                "error: cannot start the async runtime: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(oomnitza_connect::cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            oomnitza_connect::term::emit_err(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
