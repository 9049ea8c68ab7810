//! `console`: serves the local web console until Ctrl-C, printing its URL
//! (with the session token).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::Printer;

#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The address to listen on. Anything but loopback also needs
    /// `--allow-remote`: whoever reaches it and has the token can change the
    /// integration and run actions.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// The port (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Exit after this many seconds (for scripts and tests).
    #[arg(long, hide = true)]
    pub exit_after: Option<u64>,
}

pub async fn run(printer: Printer, config: &Path, args: ConsoleArgs) -> Result<ExitCode> {
    if !args.listen.is_loopback() && !args.allow_remote {
        anyhow::bail!(
            "--listen {} is not a loopback address: add --allow-remote to accept that anyone who can reach it and has the token can change the integration and run actions (see the README)",
            args.listen
        );
    }
    let config_path = std::path::absolute(config)?;
    // Fail now on a config that cannot even be read.
    crate::config::Config::load(&config_path)?;
    let (url, server) =
        crate::console::start(config_path, SocketAddr::new(args.listen, args.port)).await?;
    printer.out(format_args!("console: {url}"));
    printer.out(
        "(open it in a browser; the token in the URL is this session's key. Ctrl-C stops it.)",
    );
    match args.exit_after {
        Some(s) => {
            tokio::time::sleep(std::time::Duration::from_secs(s)).await;
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.abort();
    Ok(ExitCode::SUCCESS)
}
