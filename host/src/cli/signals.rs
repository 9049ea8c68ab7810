//! SIGINT and SIGTERM for the long-running verbs (`sync`, `serve`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Printer;

/// A flag raised by SIGINT or SIGTERM: the sync finishes the page in hand,
/// checkpoints and stops. A second signal exits at once (the state database
/// is consistent at every commit, so even that loses nothing).
pub fn stop_on_signal(printer: Printer) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        // One stream for the whole run: a second Ctrl-C that comes quickly
        // is not lost between two listeners.
        #[cfg(unix)]
        let mut int = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        {
            Ok(s) => s,
            Err(_) => return,
        };
        for _ in 0..2 {
            #[cfg(unix)]
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            if raised.swap(true, Ordering::SeqCst) {
                printer.err(
                    "second signal: exiting now; the next sync resumes from the last checkpoint",
                );
                std::process::exit(130);
            }
            printer.err("stopping after the page in hand (send the signal again to exit at once)");
        }
    });
    flag
}
