//! ringside-results: what to do with the load generator's CSV files —
//! compare runs with statistics, gate CI on regressions, merge the results
//! of several load generators exactly, draw a report, and export them for
//! continuous benchmarking services — and, for figures no results file
//! holds, summarise a plain `label,value` table with the same statistics.
//!
//! One subcommand per job: a variant of [`Command`] whose flags are the
//! module's `Args`, and the module's `run`; the work lives in the library so
//! tests reach it. Exit statuses are `platform::exit`'s, the table all
//! three binaries share: 0 done (for `gate`, every rule passed), 1 an
//! error (bad input: nothing written), 2 usage, 4 a regression (`gate`).

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::exit;
use results::{compare, export, gate, merge, report, summarize};

#[derive(Debug, Parser)]
#[command(
    name = "ringside-results",
    version = platform::VERSION,
    about = "Compare, gate, merge, plot and export ringside results CSVs; summarise plain label,value tables",
    after_help = exit::TABLE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Compare(compare::Args),
    Export(export::Args),
    Gate(gate::Args),
    Merge(merge::Args),
    Report(report::Args),
    Summarize(summarize::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Compare(a) => compare::run(a),
        Command::Export(a) => export::run(a),
        Command::Gate(a) => gate::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Report(a) => report::run(a),
        Command::Summarize(a) => summarize::run(a),
    };
    match outcome {
        Ok(code) => code,
        // A closed stdout (`| head`) is not an error.
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => {
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "ringside-results: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
