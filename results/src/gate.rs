//! `ringside-results gate`: not written yet (issue 5).

use std::process::ExitCode;

/// The flags of `ringside-results gate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`gate` is not written yet")
}
