//! `ringside-loadgen sweep`: the main job. Every backend, each started
//! fresh and pinned, over a grid of protocols × connections × sizes ×
//! offered rates × repetitions (or a capacity search per backend); then a
//! comparison table, and one results-CSV row per run.
//!
//! In four parts below this one, each used only from here: `plan` (the
//! grid from the command line, the runs in order, the plan as printed),
//! `server` (one server process), `table` (the tables at the end) and
//! `search` (`--capacity`). This module holds the flags, the loop
//! ([`sweep`], and `Runner::point`: one run, one row) and the calibration.
//!
//! Order of events: check that the CSV can be written; ask the server binary
//! which backends it has (its `--help`); make the [`Plan`] and print it
//! (`--dry-run` stops there); measure what a context switch costs, once;
//! then for each repetition, each cell, each backend: start a fresh server
//! pinned to the server CPUs, wait for its `stats on` and `listening on`
//! lines, run the load in this process with [`run::run`] pinned to the
//! client CPUs, stop the server with SIGTERM, append the run's row and print
//! a progress line. At the end, print per cell the median over the
//! repetitions for each backend ([`summarize`], [`render_table`]).
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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Parser};
use platform::cpus::{CpuList, check_cores, parse_cores};
use protocol::Protocol;

use crate::capacity::{SearchOptions, Slo};
use crate::csv_row;
use crate::ctxsw;
use crate::engine;
use crate::proto::Shape;
use crate::report::{fmt_us, thousands};
use crate::run::{self, Io, Report, RunArgs};
use crate::server_stats::PerRequest;

mod plan;
mod search;
mod server;
mod table;

pub use plan::*;
pub use search::*;
pub use server::*;
pub use table::*;

/// Start every backend, pinned, over a grid of protocols × connections ×
/// sizes × repetitions; print a comparison table and append one CSV row per
/// run.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Backends to compare, comma-separated, in the order they run within
    /// each repetition. Default: every backend the server lists in its
    /// --help, in that order.
    #[arg(long, value_name = "LIST", value_parser = parse_names)]
    pub backends: Option<List<String>>,

    /// Protocols, comma-separated: echo, rr, http. Each is a cell of its
    /// own.
    #[arg(long, value_name = "LIST", default_value = "http", value_parser = parse_protocols)]
    pub protocols: List<Protocol>,

    /// Connection counts, comma-separated. Each is a cell of its own.
    #[arg(long, value_name = "LIST", default_value = "50,500", value_parser = parse_counts)]
    pub connections: List<u32>,

    /// Payload bytes per request for echo and rr (rr asks for responses of
    /// the same size), comma-separated; each is a cell of its own. http
    /// sends a GET and ignores this, so http runs are not multiplied by
    /// sizes.
    #[arg(long, value_name = "LIST", default_value = "128", value_parser = parse_counts)]
    pub sizes: List<u32>,

    /// How many times to run the whole grid. The table gives the median
    /// over the repetitions and the range of req/s.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repetitions: u32,

    /// Measured window of each run, e.g. `2s`, `500ms`.
    #[arg(long, default_value = "2s", value_parser = run::parse_duration)]
    pub duration: Duration,

    /// Load before each run's window, excluded from its results.
    #[arg(long, default_value = "0.5s", value_parser = run::parse_duration)]
    pub warmup: Duration,

    /// CPUs the server is pinned to (its --cores), e.g. `0` or `0,2`.
    #[arg(long, value_name = "LIST", default_value = "0", value_parser = parse_cores)]
    pub server_cores: CpuList,

    /// CPUs the load threads are pinned to, one thread per CPU.
    #[arg(long, value_name = "LIST", default_value = "1", value_parser = parse_cores)]
    pub client_cores: CpuList,

    /// The ringside-server binary to start. Default: `ringside-server` next
    /// to this program (`cargo build --release` builds both).
    #[arg(long, value_name = "PATH")]
    pub server: Option<PathBuf>,

    /// Results file: one row per run is appended (with the header if the
    /// file is new). Checked writable before anything runs.
    #[arg(long, value_name = "FILE", default_value = "ringside-sweep.csv")]
    pub csv: PathBuf,

    /// An extra server flag for one backend, as `BACKEND=ARG`, e.g.
    /// `thread-pool=--threads=512` or `io-uring=--sqpoll`. One argument
    /// each (write `--flag=value`); repeat for more. A --threads given this
    /// way replaces the thread pool's automatic size.
    #[arg(long = "server-arg", value_name = "BACKEND=ARG", value_parser = parse_server_arg)]
    pub server_args: Vec<ServerArg>,

    /// Print the plan and the estimated time; run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Requests outstanding per connection (as `run --pipeline`; default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub pipeline: Option<u32>,

    /// Open loop: this many requests per second in total, in every run (as
    /// `run --rate`). Default: closed loop.
    #[arg(long, value_name = "REQ/S", conflicts_with_all = ["rates", "capacity"])]
    pub rate: Option<f64>,

    /// An offered-load grid: open loop at each of these rates in total,
    /// req/s, `k` and `M` allowed (`20k,40k,80k`). Each rate is a cell of
    /// its own; the table then shows per backend the latency-throughput
    /// curve (achieved req/s and p99 at each offered rate), and
    /// `ringside-results report` draws it.
    #[arg(long, value_name = "LIST", value_parser = parse_rates, conflicts_with = "capacity")]
    pub rates: Option<List<u64>>,

    /// Find each backend's capacity under a latency objective (--slo): the
    /// highest offered rate whose achieved rate is at least 99% of it and
    /// whose latency percentile meets the objective. Per cell and
    /// repetition: a closed-loop run per backend for a first estimate, then
    /// open-loop probes (each a fresh server; the backends' searches
    /// interleaved, a probe of each in turn): a scan at 25%, 50%, 70%, 85%
    /// and 100% of the estimate (on past a failure on latency alone, which
    /// light load can cause; stopped by a failure to keep up), then
    /// bisection between the highest pass and the failure above it to
    /// within --resolution; then runs at 50% and 80% of each capacity. Every probe is a row
    /// (phase=probe), each capacity a row of its own (phase=capacity, its
    /// target_rate the capacity); the table gives the capacity and p50/p99
    /// at 50%, 80% and 100% of it.
    #[arg(long)]
    pub capacity: bool,

    /// The latency objective of --capacity: a percentile of the corrected
    /// latency and its bound, `p99=1ms`, `p99.9=5ms` (percentiles p50, p90,
    /// p99, p99.9, p99.99).
    #[arg(long, value_name = "pNN=TIME", default_value = "p99=1ms", value_parser = Slo::parse)]
    pub slo: Slo,

    /// --capacity: stop when the lowest failing rate is within this many
    /// percent above the highest passing one.
    #[arg(long, value_name = "PERCENT", default_value_t = 3.0)]
    pub resolution: f64,

    /// --capacity: most probes per search (the closed-loop estimate not
    /// counted); a search that runs out says so in the table.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_probes: u32,

    /// The load threads' event loop (as `run --io`; default io-uring).
    #[arg(long, value_enum)]
    pub io: Option<Io>,

    /// A request unanswered this long breaks its connection (as `run
    /// --timeout`; default 2s).
    #[arg(long, value_parser = run::parse_duration)]
    pub timeout: Option<Duration>,

    /// Open loop: busy-poll this long before each due send instead of
    /// sleeping (as `run --spin`; default 0).
    #[arg(long, value_parser = run::parse_duration, value_name = "DURATION")]
    pub spin: Option<Duration>,
}

impl SweepArgs {
    /// How each capacity search proceeds.
    pub fn search_options(&self) -> SearchOptions {
        SearchOptions { resolution: self.resolution / 100.0, max_probes: self.max_probes }
    }
}

/// The `run` flags every run starts from: `run`'s own defaults, with the
/// sweep's pass-through flags applied.
pub fn base_run_args(args: &SweepArgs) -> RunArgs {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        run: RunArgs,
    }
    let mut base = Defaults::try_parse_from(["run"]).expect("run's defaults parse").run;
    base.warmup = args.warmup;
    base.duration = args.duration;
    base.cores = Some(args.client_cores.clone());
    base.threads = None; // one per client CPU
    base.quiet = true;
    if let Some(p) = args.pipeline {
        base.pipeline = p;
    }
    if let Some(io) = args.io {
        base.io = io;
    }
    if let Some(t) = args.timeout {
        base.timeout = t;
    }
    if let Some(spin) = args.spin {
        base.spin = spin;
    }
    base
}

/// The run's flags for `cell` against a server at `target`, counters at
/// `stats`.
fn run_args(base: &RunArgs, cell: Cell, target: SocketAddr, stats: SocketAddr) -> RunArgs {
    let mut a = base.clone();
    a.rate = cell.rate.map(|r| r as f64);
    a.target = target.to_string();
    a.stats = Some(stats);
    a.protocol = cell.protocol;
    a.connections = cell.connections;
    if let Some(size) = cell.size {
        a.request_bytes = size;
        a.response_bytes = size;
    }
    a
}

/// The report of a run that measured nothing: the server did not start, or
/// the load could not begin.
fn failed_report(args: &RunArgs, why: String) -> Report {
    Report {
        args: args.clone(),
        addr: args.target.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
        threads: 0,
        server_before: None,
        server_after: None,
        server: None,
        client: PerRequest::default(),
        corrected: engine::new_histogram(),
        raw: engine::new_histogram(),
        lag: engine::new_histogram(),
        completed: 0,
        late: 0,
        answered_in_window: 0,
        scheduled: 0,
        sent_in_window: 0,
        errors: engine::Errors::default(),
        answers_per_conn: Vec::new(),
        conns_unanswered: 0,
        window: Duration::ZERO,
        drain: Duration::ZERO,
        window_started: SystemTime::now(),
        incomplete: Some(why),
        notes: Vec::new(),
        switch_cost: None,
        shape: Shape {
            protocol: args.protocol,
            request_bytes: args.request_bytes,
            response_bytes: args.response_bytes,
            work: args.work,
            host: args.target.clone(),
        },
    }
}

/// How a sweep went, for the exit status.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub planned: usize,
    pub ran: usize,
    pub complete: usize,
    pub skipped: Vec<(String, String)>,
    pub interrupted: bool,
    /// Nothing was meant to run.
    pub dry_run: bool,
    /// Rows that could not be appended to the CSV, and those that were.
    pub unwritten: usize,
    pub rows: usize,
    /// Capacity searches that found no capacity or did not converge.
    pub searches_without_capacity: usize,
}

impl Outcome {
    /// A dry run, or every planned run ran, completed and was written.
    pub fn all_complete(&self) -> bool {
        self.dry_run
            || self.ran == self.planned
                && self.complete == self.ran
                && self.skipped.is_empty()
                && self.unwritten == 0
                && self.searches_without_capacity == 0
    }
}

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
    let plan = Plan::new(args, &known)?;
    check_cores("--server-cores", &args.server_cores.0)?;
    check_cores("--client-cores", &args.client_cores.0)?;
    let mut base = base_run_args(args);
    let mut plan_text = render_plan(&plan, args, &server, &base, args.dry_run);
    if let Some(e) = unwritable {
        let _ = writeln!(plan_text, "  WARNING: {e}");
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
        base.known_calibration = Some(run::SwitchCost { same_cpu_ns, cross_cpu_ns });
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
            runner.point(spec, None, results::Phase::Run, None);
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
        outcome.planned = outcome.ran;
        outcome.searches_without_capacity =
            capacities.iter().filter(|c| c.capacity.rate.is_none() || !c.capacity.converged).count();
    } else {
        let tables = summarize(&plan.cells, &plan.backends, &measurements, &skipped_map);
        let (curves, plain): (Vec<CellTable>, Vec<CellTable>) =
            tables.into_iter().partition(|t| t.cell.rate.is_some() && args.rates.is_some());
        text.push_str(&render_table(&plain, plan.repetitions));
        if !curves.is_empty() {
            text.push_str(&render_curves(&curves, plan.repetitions));
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

/// What every run of a sweep shares, and what the runs so far gave.
pub(super) struct Runner<'a> {
    server: &'a Path,
    csv: &'a Path,
    base: RunArgs,
    run_id: String,
    server_cores: String,
    same_cpu_ns: f64,
    cross_cpu_ns: f64,
    stop: Arc<AtomicBool>,
    repetitions: u32,
    /// Runs planned (a capacity sweep: its estimate), and run so far.
    total: usize,
    count: usize,
    outcome: Outcome,
    measurements: Vec<Measurement>,
    skipped: Vec<(String, String)>,
}

/// One run's report and the row written for it.
pub(super) struct Point {
    report: Report,
    row: results::Row,
}

impl Runner<'_> {
    /// Ctrl-C: no more runs.
    fn stopped(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            self.outcome.interrupted = true;
        }
        self.outcome.interrupted
    }

    /// Run `spec` against a fresh server, at `rate` if given (else its
    /// cell's), append its row (with `phase` and `slo`) and print its
    /// line. `None` if the backend was skipped or the sweep stopped.
    fn point(
        &mut self,
        spec: &RunSpec,
        rate: Option<f64>,
        phase: results::Phase,
        slo: Option<&Slo>,
    ) -> Option<Point> {
        if self.stopped() || self.skipped.iter().any(|(b, _)| b == &spec.backend) {
            return None;
        }
        self.count += 1;
        let cell = match rate {
            Some(r) => Cell { rate: Some(r.round().max(1.0) as u64), ..spec.cell },
            None => spec.cell,
        };
        let total =
            if self.total >= self.count { self.total.to_string() } else { format!("{}+", self.total) };
        let tag = format!(
            "[{:>w$}/{total}] rep {}/{}  {:<20} {:<16}",
            self.count,
            spec.repetition,
            self.repetitions,
            cell.short(),
            spec.backend,
            w = total.len()
        );
        let with_rate = |mut a: RunArgs| {
            if let Some(r) = rate {
                a.rate = Some(r);
            }
            a
        };
        let placeholder = with_rate(run_args(
            &self.base,
            cell,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ([127, 0, 0, 1], 0).into(),
        ));
        let started_server = Server::spawn(self.server, &spec.server_args)
            .map_err(|e| format!("{e:#}"))
            .and_then(|mut s| s.wait_ready(READY_TIMEOUT).map(|ready| (s, ready)));
        let start_failed = started_server.is_err();
        let (mut report, server_notes) = match started_server {
            Err(why) => {
                eprintln!("{tag} the server did not start: {why}");
                eprintln!("  skipping {} for the rest of the sweep", spec.backend);
                self.skipped.push((spec.backend.clone(), why.clone()));
                (failed_report(&placeholder, format!("the server did not start: {why}")), Vec::new())
            }
            Ok((mut srv, ready)) => {
                let a = with_rate(run_args(&self.base, cell, ready.listen, ready.stats));
                let report = match run::run(&a, Arc::clone(&self.stop)) {
                    Ok(r) => r,
                    Err(e) => failed_report(&a, format!("{e:#}")),
                };
                (report, srv.stop())
            }
        };
        self.outcome.ran += 1;
        report.notes.extend(server_notes);
        let context = csv_row::Context {
            run_id: self.run_id.clone(),
            repetition: spec.repetition,
            server_cores: self.server_cores.clone(),
            ctxsw_same_cpu_ns: self.same_cpu_ns,
            ctxsw_cross_cpu_ns: self.cross_cpu_ns,
        };
        let mut row = csv_row::row(&report, &context);
        if row.backend.is_empty() {
            row.backend = spec.backend.clone();
        }
        row.phase = phase;
        row.slo = slo.map(Slo::to_string).unwrap_or_default();
        self.append(&row);
        let spec = RunSpec { cell, ..spec.clone() };
        let m = Measurement::of(&report, &spec, &row.note);
        if m.complete {
            self.outcome.complete += 1;
        }
        if !start_failed {
            let shortfall = if report.rate_shortfall() {
                format!("  (offered {})", thousands(report.offered_rate().round() as u64))
            } else {
                String::new()
            };
            eprintln!(
                "{tag} {:>9} req/s{shortfall}  p99 {:>8}  server {} us/req{}{}",
                thousands(m.req_s.round() as u64),
                m.p99_us.map_or_else(|| "-".into(), fmt_us),
                m.server_cpu_us.map_or_else(|| "n/a".into(), |v| format!("{v:.2}")),
                if m.errors.total() > 0 {
                    format!("  errors: {}", describe_errors(&m.errors))
                } else {
                    String::new()
                },
                report.incomplete.as_ref().map(|w| format!("  INCOMPLETE: {w}")).unwrap_or_default()
            );
        }
        self.measurements.push(m);
        (!start_failed).then_some(Point { report, row })
    }

    fn append(&mut self, row: &results::Row) {
        match results::append(self.csv, row) {
            Ok(()) => self.outcome.rows += 1,
            Err(e) => {
                self.outcome.unwritten += 1;
                eprintln!("ringside-loadgen: cannot append a row: {e}");
            }
        }
    }
}

/// A figure that noise can make negative, with thousands separators.
fn signed_thousands(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{}", thousands(v.abs().round() as u64))
}

/// Measure the context-switch costs once, quickly, on the first server CPU
/// and the first client CPU, and print them. Zeros (said so) if it cannot.
fn calibrate(args: &SweepArgs) -> (f64, f64) {
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
    use super::*;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sweep: SweepArgs,
    }
    pub(crate) fn args(argv: &[&str]) -> SweepArgs {
        Cli::try_parse_from(["sweep"].iter().chain(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}")).sweep
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
        assert_eq!(a.repetitions, 3);
        assert_eq!((a.duration, a.warmup), (Duration::from_secs(2), Duration::from_millis(500)));
        assert_eq!((a.server_cores.0.clone(), a.client_cores.0.clone()), (vec![0], vec![1]));
        assert_eq!(a.csv, PathBuf::from("ringside-sweep.csv"));
        assert!(a.backends.is_none() && a.server.is_none() && !a.dry_run);
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
        assert_eq!(tail("a\nb\n", 10), "a | b");
        assert_eq!(tail("0123456789", 4), "...6789");
        assert_eq!(tail_first_line("first\nsecond", 90), "first");
        assert_eq!(tail_first_line("abcdef", 3), "abc...");
        assert_eq!(signed_thousands(-1234.4), "-1,234");
    }
}
