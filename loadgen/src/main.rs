//! ringside-loadgen: drive a ringside server and measure it.
//!
//! One subcommand per job. Adding one is a variant of [`Command`] (its flags
//! as a clap `Args` struct) and an arm in [`run`]; the work itself belongs in
//! the library, so tests can reach it.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use loadgen::ctxsw;

#[derive(Debug, Parser)]
#[command(name = "ringside-loadgen", version, about = "Drive a ringside server and measure it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure what a context switch (two threads on one CPU) and a cross-CPU
    /// wake-up cost on this machine, with a pinned pipe ping-pong.
    Ctxsw(CtxswArgs),
}

#[derive(Debug, Args)]
struct CtxswArgs {
    #[command(flatten)]
    options: ctxsw::Options,

    /// Print the whole calibration as one line of JSON instead of the report.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringside-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // clap prints help, version and usage errors itself (exit code 2).
    let cli = Cli::parse();
    match cli.command {
        Command::Ctxsw(args) => ctxsw(&args),
    }
}

fn ctxsw(args: &CtxswArgs) -> anyhow::Result<()> {
    let cal = ctxsw::calibrate(&args.options)?;
    let text = if args.json { serde_json::to_string(&cal)? } else { cal.to_string() };
    print(&text)
}

/// Print `text` and a newline to stdout; a closed stdout (`| head`) is not an
/// error.
fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["ringside-loadgen"].iter().chain(args))
    }

    #[test]
    fn ctxsw_flags() {
        let Command::Ctxsw(a) = parse(&["ctxsw"]).unwrap().command;
        assert_eq!(a.options, ctxsw::Options::default());
        assert!(!a.json);

        let Command::Ctxsw(a) =
            parse(&["ctxsw", "--cpus", "1,0", "--round-trips", "100", "--samples", "5", "--json"])
                .unwrap()
                .command;
        assert_eq!(a.options, ctxsw::Options { cpus: [1, 0], round_trips: 100, samples: 5 });
        assert!(a.json);
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&[]).is_err(), "a subcommand is required");
        assert!(parse(&["ctxsw", "--cpus", "0,0"]).is_err());
        assert!(parse(&["ctxsw", "--cpus", "x"]).is_err());
        assert!(parse(&["ctxsw", "--round-trips", "0"]).is_err());
        assert!(parse(&["nonsense"]).is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
