//! `ringside-loadgen sweep`: the main job. Every backend, each started
//! fresh and pinned, over a grid of protocols × connections × sizes ×
//! offered rates × repetitions (or a capacity search per backend); then a
//! comparison table, and one results-CSV row per run.
//!
//! In parts below this one, each depending only on those listed after it:
//! `search` (`--capacity`: the searches interleaved, their table),
//! `runner` (one run: a fresh server, the load, one row, one line; the
//! [`Outcome`] so far), `table` (the tables at the end), `server` (one
//! server process) and `plan` (the flags, [`SweepArgs`], and the grid: the
//! runs in order, the plan as printed). This module holds the loop
//! ([`sweep`]) and the calibration.
//!
//! Order of events: check that the CSV can be written; ask the server binary
//! which backends it has (`--list-backends`); find out whether system calls
//! can be counted here (not for a dry run); make the [`Plan`] and print it
//! (`--dry-run` stops there); measure what a context switch costs, once;
//! then for each repetition, each cell, each backend: start a fresh server
//! pinned to the server CPUs, wait for its `stats on` and `listening on`
//! lines, run the load in this process with [`run::run`] pinned to the
//! client CPUs, stop the server with SIGTERM, append the run's row and print
//! a progress line. At the end, print per cell the median over the
//! repetitions for each backend ([`summarize`], [`render_table`]).
//!
//! System calls (`--syscalls`): counting them slows every counted call, so
//! by default (`once`) each cell's first repetition is preceded by one
//! counting run of every backend (phase `count`), made like any run, and no
//! other run counts: the table's req/s, latency and CPU come from the runs,
//! its syscalls/req from the counting runs. `every` counts in every run (the
//! figures then carry the cost), `off` in none.
//!
//! Backends are interleaved within each repetition, so that drift on a
//! shared machine (another job starting, a CPU changing frequency) falls on
//! every backend alike instead of on whichever ran last. A backend whose
//! server cannot start is skipped for the rest of the sweep, with the reason
//! printed and shown in the table; a run that fails is recorded as
//! incomplete and the sweep goes on.
//!
//! This module must never leave a server running: [`Server`] kills its
//! process when dropped, whatever path the sweep leaves by. It never waits
//! for a server by sleeping: it reads the lines the server prints.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use platform::cpus::check_cores;

use crate::csv_row;
use crate::ctxsw;
use crate::fmt::thousands;

mod plan;
mod runner;
mod search;
mod server;
mod table;

pub use plan::*;
pub use runner::Outcome;
use runner::Runner;
pub use search::*;
pub use server::*;
pub use table::*;

/// Print to stdout; a closed stdout (`| head`) is not an error.
fn out(text: &str) {
    let mut o = io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

/// Run the sweep `args` describes. `stop` (Ctrl-C) cuts the current run
/// short (recorded as incomplete) and ends the sweep there, with the table
/// of what was measured.
pub fn sweep(args: &SweepArgs, stop: Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    // Refuse an unwritable destination before anything runs.
    // (A dry run only warns.)
    let unwritable = match results::check_writable(&args.csv) {
        Ok(()) => None,
        Err(e) if args.dry_run => Some(e),
        Err(e) => return Err(e.into()),
    };
    let server = server_path(args)?;
    let known = server_backends(&server)?;
    // Whether system calls can be counted here: asked only by a sweep that
    // runs (as root, finding the tracepoints mounts tracefs if need be).
    let tracepoints =
        (!args.dry_run && args.syscalls_mode() != Syscalls::Off).then(crate::syscalls::Tracepoints::find);
    let not_counted = tracepoints.as_ref().and_then(|t| t.as_ref().err().cloned());
    let plan = Plan::with_counting(args, &known, not_counted)?;
    check_cores("--server-cores", &args.server_cores.0)?;
    check_cores("--client-cores", &args.client_cores.0)?;
    let mut base = base_run_args(args);
    let mut plan_text = render_plan(&plan, args, &server, &base, args.dry_run);
    if let Some(e) = unwritable {
        let _ = writeln!(plan_text, "  WARNING: {e}");
    }
    if let Some(Ok(tp)) = &tracepoints
        && let Some(at) = &tp.mounted
    {
        let _ = writeln!(
            plan_text,
            "  system calls: mounted tracefs at {} to read the tracepoints' ids",
            at.display()
        );
    }
    let overlap: Vec<usize> =
        args.server_cores.0.iter().copied().filter(|c| args.client_cores.0.contains(c)).collect();
    if !overlap.is_empty() {
        let _ = writeln!(
            plan_text,
            "  WARNING: server and load share CPU {}: they compete for it",
            csv_row::cpu_list(&overlap)
        );
    }
    out(&plan_text);
    let outcome = Outcome { planned: plan.runs.len(), dry_run: args.dry_run, ..Default::default() };
    if args.dry_run {
        return Ok(outcome);
    }

    let started = Instant::now();
    let run_id = results::timestamp_utc(SystemTime::now());
    let (same_cpu_ns, cross_cpu_ns) = calibrate(args);
    // Measured once here; no run measures it again.
    if same_cpu_ns > 0.0 {
        base.known_calibration = Some(crate::args::SwitchCost { same_cpu_ns, cross_cpu_ns });
    } else {
        base.no_calibrate = true;
    }
    let mut runner = Runner {
        server: &server,
        csv: &args.csv,
        base,
        run_id: run_id.clone(),
        server_cores: csv_row::cpu_list(&args.server_cores.0),
        same_cpu_ns,
        cross_cpu_ns,
        stop: Arc::clone(&stop),
        repetitions: plan.repetitions,
        total: plan.expected_runs,
        count: 0,
        outcome,
        measurements: Vec::new(),
        skipped: Vec::new(),
    };
    let capacities = if args.capacity {
        capacity_sweep(&mut runner, &plan, &args.slo, args.search_options())
    } else {
        for spec in &plan.runs {
            if runner.stopped() {
                break;
            }
            let phase = if spec.count { results::Phase::Count } else { results::Phase::Run };
            runner.point(spec, None, phase, None);
        }
        Vec::new()
    };
    let Runner { mut outcome, measurements, skipped, count, .. } = runner;
    if outcome.interrupted {
        eprintln!("ringside-loadgen: interrupted after {count} runs");
    }

    let skipped_map: HashMap<String, String> = skipped.iter().cloned().collect();
    let mut text = String::new();
    let _ = writeln!(text);
    if args.capacity {
        let found = summarize_capacity(&plan.cells, &plan.backends, &capacities, &skipped_map);
        text.push_str(&render_capacity(&found, &args.slo, plan.repetitions));
        text.push_str(&render_counted(&plan.cells, &plan.backends, &measurements, table::CAPACITY_COUNTED));
        outcome.planned = outcome.ran;
        outcome.searches_without_capacity =
            capacities.iter().filter(|c| c.capacity.rate.is_none() || !c.capacity.converged).count();
    } else {
        let tables = summarize(&plan.cells, &plan.backends, &measurements, &skipped_map);
        let (curves, plain): (Vec<CellTable>, Vec<CellTable>) =
            tables.into_iter().partition(|t| t.cell.rate.is_some() && args.rates.is_some());
        text.push_str(&render_table(&plain, plan.repetitions, plan.syscalls, plan.not_counted.as_deref()));
        if !curves.is_empty() {
            text.push_str(&render_curves(&curves, plan.repetitions));
            // The curves have no system-call column: the grid's counting
            // runs (one per rate and backend) get their own lines.
            let rated: Vec<Cell> = curves.iter().map(|t| t.cell).collect();
            text.push_str(&render_counted(&rated, &plan.backends, &measurements, table::GRID_COUNTED));
        }
    }
    let failures = render_failures(&measurements, &skipped);
    if !failures.is_empty() {
        let _ = writeln!(text);
        text.push_str(&failures);
    }
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "{} runs ({} complete) in {} (estimated {}); {} rows appended to {} (run_id {run_id})",
        outcome.ran,
        outcome.complete,
        fmt_duration(started.elapsed()),
        fmt_duration(plan.estimate),
        outcome.rows,
        args.csv.display()
    );
    out(&text);
    outcome.skipped = skipped;
    Ok(outcome)
}

/// A figure that noise can make negative, with thousands separators.
fn signed_thousands(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{}", thousands(v.abs().round() as u64))
}

/// Measure the context-switch costs once, quickly, on the first server CPU
/// and the first client CPU, and print them. Zeros (said so) if it cannot.
fn calibrate(args: &SweepArgs) -> (f64, f64) {
    if args.no_calibrate {
        out("context switches: not calibrated (--no-calibrate); the ctxsw columns hold 0\n");
        return (0.0, 0.0);
    }
    let (Some(&server), Some(&client)) = (args.server_cores.0.first(), args.client_cores.0.first()) else {
        return (0.0, 0.0);
    };
    if server == client {
        out(&format!(
            "context switches: not calibrated, the server and the load share CPU {server} (the cross-CPU \
             figure needs two); the ctxsw columns hold 0\n"
        ));
        return (0.0, 0.0);
    }
    let opts = ctxsw::Options {
        cpus: [server, client],
        round_trips: CALIBRATION_ROUND_TRIPS,
        samples: CALIBRATION_SAMPLES,
    };
    let t = Instant::now();
    match ctxsw::calibrate(&opts) {
        Ok(cal) => {
            out(&format!(
                "context switches (CPUs {server} and {client}, {} samples of {} round trips, {:.1} s): a switch \
                 on one CPU costs {} ns of CPU, waking a thread on the other CPU takes {} ns; every \
                 row carries them (ctxsw_same_cpu_ns, ctxsw_cross_cpu_ns, switch_share_pct)\n",
                opts.samples,
                opts.round_trips,
                t.elapsed().as_secs_f64(),
                signed_thousands(cal.same_cpu_switch_ns),
                signed_thousands(cal.cross_cpu_wakeup_ns)
            ));
            (cal.same_cpu_switch_ns, cal.cross_cpu_wakeup_ns)
        }
        Err(e) => {
            out(&format!("context switches: calibration failed ({e:#}); the ctxsw columns hold 0\n"));
            (0.0, 0.0)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::Parser;
    use platform::cpus::CpuList;
    use protocol::Protocol;

    use super::*;
    use crate::args::Io;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sweep: SweepArgs,
    }
    pub(crate) fn args(argv: &[&str]) -> SweepArgs {
        Cli::try_parse_from(["sweep"].iter().chain(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}")).sweep
    }
    /// The flags, or clap's message.
    pub(crate) fn try_args(argv: &[&str]) -> Result<SweepArgs, String> {
        Cli::try_parse_from(["sweep"].iter().chain(argv)).map(|c| c.sweep).map_err(|e| e.to_string())
    }
    pub(crate) fn known() -> Vec<String> {
        ["thread-per-conn", "thread-pool", "epoll", "io-uring", "tokio", "tokio-uring"]
            .map(String::from)
            .to_vec()
    }
    pub(crate) fn plan(argv: &[&str]) -> Plan {
        Plan::new(&args(argv), &known()).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"))
    }

    #[test]
    fn defaults() {
        let a = args(&[]);
        assert_eq!(a.protocols, List(vec![Protocol::Http]));
        assert_eq!(a.connections, List(vec![50, 500]));
        assert_eq!(a.sizes, List(vec![128]));
        assert_eq!(a.repetitions, 6);
        assert_eq!((a.duration, a.warmup), (Duration::from_secs(2), Duration::from_millis(500)));
        assert_eq!((a.server_cores.0.clone(), a.client_cores.0.clone()), (vec![0], vec![1]));
        assert_eq!(a.csv, PathBuf::from("ringside-sweep.csv"));
        assert!(a.backends.is_none() && a.server.is_none() && !a.dry_run);
        assert_eq!(a.syscalls_mode(), Syscalls::Once);
        // The run flags not given keep run's own defaults.
        let base = base_run_args(&a);
        assert_eq!((base.pipeline, base.rate, base.io), (1, None, Io::IoUring));
        assert_eq!(base.cores, Some(CpuList(vec![1])));
        let base =
            base_run_args(&args(&["--pipeline", "4", "--rate", "1000", "--io", "epoll", "--timeout", "5s"]));
        assert_eq!((base.pipeline, base.io), (4, Io::Epoll));
        // A rate is the cell's: every run of `--rate` is open loop at it.
        let p = plan(&["--rate", "1000"]);
        assert!(p.cells.iter().all(|c| c.rate == Some(1000)));
        assert_eq!(base.timeout, Duration::from_secs(5));
        assert!(Cli::try_parse_from(["sweep", "--repetitions", "0"]).is_err());
        assert!(Cli::try_parse_from(["sweep", "--pipeline", "0"]).is_err());
    }

    /// The default grid: six backends × http × {50, 500} × 3, interleaved
    /// within each repetition, in about two minutes.
    #[test]
    fn durations_and_tails() {
        assert_eq!(fmt_duration(Duration::from_millis(1440)), "1.4 s");
        assert_eq!(fmt_duration(Duration::from_secs(42)), "42 s");
        assert_eq!(fmt_duration(Duration::from_secs(98)), "1 min 38 s");
        assert_eq!(tail_first_line("first\nsecond", 90), "first");
        assert_eq!(tail_first_line("abcdef", 3), "abc...");
        assert_eq!(signed_thousands(-1234.4), "-1,234");
    }
}
