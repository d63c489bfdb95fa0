//! ringside-loadgen: drive a ringside server and measure it.
//!
//! One subcommand per job. Adding one is a variant of [`Command`] (its flags
//! as a clap `Args` struct) and an arm in [`dispatch`]; the work itself
//! belongs in the library, so tests can reach it.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};
use loadgen::{args, csv_row, ctxsw, json, report, run, sweep};
use platform::exit;

#[derive(Debug, Parser)]
#[command(
    name = "ringside-loadgen",
    version = platform::VERSION,
    about = "Drive a ringside server with load and measure it",
    after_help = exit::TABLE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive one server: closed or open loop, pinned threads, HDR latency,
    /// the server's and our own CPU and context switches per request.
    Run(Box<args::RunArgs>),
    /// Measure what a context switch (two threads on one CPU) and a cross-CPU
    /// wake-up cost on this machine, with a pinned pipe ping-pong.
    Ctxsw(CtxswArgs),
    /// The main job: start every backend itself, pinned, over a grid of
    /// protocols, connection counts, sizes and repetitions (backends
    /// interleaved within each repetition, a fresh server per run); print a
    /// comparison table and append one CSV row per run. Exit 0 if every
    /// run completed, 3 (incomplete) if any failed or a backend was skipped
    /// (the results are still written).
    Sweep(Box<sweep::SweepArgs>),
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
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringside-loadgen: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run_once(&args),
        Command::Sweep(args) => {
            let outcome = sweep::sweep(&args, stop_on_signal()?)?;
            Ok(ExitCode::from(if outcome.all_complete() { exit::OK } else { exit::INCOMPLETE }))
        }
        Command::Ctxsw(args) => {
            let cal = ctxsw::calibrate(&args.options)?;
            let text = if args.json { serde_json::to_string(&cal)? } else { cal.to_string() };
            print(&text)?;
            Ok(ExitCode::from(exit::OK))
        }
    }
}

/// `run`: one measured run, its summary, and the files asked for. Exit 0,
/// or 3 (incomplete) when the run was cut short (what was measured is
/// still written).
fn run_once(args: &args::RunArgs) -> anyhow::Result<ExitCode> {
    // Refuse an unwritable destination before measuring, not after.
    if let Some(path) = &args.csv {
        results::check_writable(path)?;
    }
    let r = run::run(args, stop_on_signal()?)?;
    let context = csv_row::Context {
        run_id: args.run_id.clone().unwrap_or_else(|| results::timestamp_utc(r.window_started)),
        repetition: 1,
        ctxsw_same_cpu_ns: r.switch_cost.map_or(0.0, |c| c.same_cpu_ns),
        ctxsw_cross_cpu_ns: r.switch_cost.map_or(0.0, |c| c.cross_cpu_ns),
        ..Default::default()
    };
    let row = csv_row::row(&r, &context);
    if args.json {
        // stdout is the document's alone; the text goes to stderr.
        if !args.quiet {
            eprintln!("{}", report::summary(&r).trim_end());
        }
        print(json::document(&r, &row).trim_end())?;
    } else {
        print(report::summary(&r).trim_end())?;
    }
    if let Some(path) = &args.hgrm {
        report::write_hgrm(path, &r.corrected)?;
    }
    if let Some(path) = &args.csv {
        results::append(path, &row)?;
        eprintln!("ringside-loadgen: appended a row to {}", path.display());
    }
    Ok(ExitCode::from(if r.incomplete.is_some() { exit::INCOMPLETE } else { exit::OK }))
}

/// The first Ctrl-C (or SIGTERM) sets the flag returned: the run or sweep
/// ends early and keeps its results. A second one exits at once.
fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
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
        let Command::Ctxsw(a) = parse(&["ctxsw"]).unwrap().command else { panic!("not ctxsw") };
        assert_eq!(a.options, ctxsw::Options::default());
        assert!(!a.json);

        let Command::Ctxsw(a) =
            parse(&["ctxsw", "--cpus", "1,0", "--round-trips", "100", "--samples", "5", "--json"])
                .unwrap()
                .command
        else {
            panic!("not ctxsw")
        };
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
        assert!(parse(&["run", "--rate", "x"]).is_err());
        assert!(parse(&["run", "--duration", "1 fortnight"]).is_err());
        assert!(parse(&["sweep", "--connections", "0"]).is_err());
        assert!(parse(&["sweep", "--server-arg", "thread-pool"]).is_err());
        assert!(parse(&["sweep", "--protocols", "http,ftp"]).is_err());
    }

    #[test]
    fn sweep_flags() {
        let Command::Sweep(a) =
            parse(&["sweep", "--dry-run", "--server-arg", "thread-pool=--threads=512"]).unwrap().command
        else {
            panic!("not sweep")
        };
        assert!(a.dry_run);
        assert_eq!(a.server_args[0].arg, "--threads=512");
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
