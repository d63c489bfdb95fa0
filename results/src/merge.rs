//! `ringside-results merge`: not written yet (issue 5).

use std::process::ExitCode;

/// The flags of `ringside-results merge`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`merge` is not written yet")
}
