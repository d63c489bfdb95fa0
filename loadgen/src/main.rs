//! ringside-loadgen: drive a ringside server and measure it.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use loadgen::{report, run};

#[derive(Parser)]
#[command(name = "ringside-loadgen", version, about = "Drive a ringside server with load and measure it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive one server: closed or open loop, pinned threads, HDR latency,
    /// the server's and our own CPU and context switches per request.
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringside-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let stop = Arc::new(AtomicBool::new(false));
            // Ctrl-C (or SIGTERM) ends the run early; its results are kept.
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
                signal_hook::flag::register(signal, Arc::clone(&stop))?;
            }
            // Refuse an unwritable destination before measuring, not after.
            if let Some(path) = &args.csv {
                results::check_writable(path)?;
            }
            let r = run::run(&args, Arc::clone(&stop))?;
            print!("{}", report::summary(&r));
            if let Some(path) = &args.hgrm {
                report::write_hgrm(path, &r.corrected)?;
            }
            if let Some(path) = &args.csv {
                let context = loadgen::csv_row::Context {
                    run_id: results::timestamp_utc(r.window_started),
                    repetition: 1,
                    ..Default::default()
                };
                results::append(path, &loadgen::csv_row::row(&r, &context))?;
                eprintln!("ringside-loadgen: appended a row to {}", path.display());
            }
            let _ = stop.load(Ordering::Relaxed);
            Ok(if r.incomplete.is_some() { ExitCode::from(3) } else { ExitCode::SUCCESS })
        }
    }
}
