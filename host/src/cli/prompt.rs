//! Questions to the operator: confirming destructive steps, reading a
//! secret without echo.

use std::io::IsTerminal;

use anyhow::Result;

use super::Printer;

/// Asks before steps that need confirmation (every action not listed in
/// `[actions] safe`); `--yes` answers for the operator.
pub fn confirm(printer: Printer, plan: &crate::workflow::Plan, yes: bool) -> Result<bool> {
    let steps = plan.steps_to_confirm();
    if steps == 0 || yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{steps} step(s) need confirmation (actions not listed in [actions] safe): run on a terminal, or pass --yes"
        );
    }
    printer.prompt(format_args!(
        "Run {steps} step(s) that need confirmation? [y/N] "
    ));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Reads a secret from stdin: a prompt without echo on a terminal, else the
/// first line.
pub fn read_secret(key: &str) -> Result<zeroize::Zeroizing<String>> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value for `{key}` (not echoed): "))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    };
    let value = zeroize::Zeroizing::new(value.trim().to_string());
    if value.is_empty() {
        anyhow::bail!("no value given for `{key}` on standard input");
    }
    Ok(value)
}
