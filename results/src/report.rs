//! `ringside-results report`: not written yet (issue 5).

use std::process::ExitCode;

/// The flags of `ringside-results report`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`report` is not written yet")
}
