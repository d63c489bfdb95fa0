//! `ringside-results compare`: not written yet (issue 5).

use std::process::ExitCode;

/// The flags of `ringside-results compare`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`compare` is not written yet")
}
