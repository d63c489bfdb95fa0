//! `ringside-loadgen sweep`: the main job. Every backend, each started
//! fresh and pinned, over a grid of protocols × connections × sizes ×
//! repetitions; then a comparison table, and one results-CSV row per run.
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
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, ValueEnum};
use platform::Unsupported;
use platform::cpus::{CpuList, check_cores, parse_cores};
use protocol::Protocol;

use crate::capacity::{self, Search, SearchOptions, Slo};
use crate::csv_row;
use crate::ctxsw::{self, Spread};
use crate::engine;
use crate::proto::Shape;
use crate::report::{fmt_us, thousands};
use crate::run::{self, Io, Report, RunArgs};
use crate::server_stats::PerRequest;

/// The backend whose pool must hold every connection (see [`Plan::new`]).
pub const THREAD_POOL: &str = "thread-pool";
/// The thread pool's smallest size in a sweep: its own default.
pub const POOL_MIN_THREADS: u32 = 64;
/// How long a server may take to print `listening on`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// What a run costs beyond its warm-up and window, for the estimate:
/// starting and stopping the server, connecting, the threads' start, the
/// drain after the window. About 50 ms on the developers' 2-CPU VM (the
/// default sweep: 92.5 s for 36 runs of 2.5 s and a 0.9 s calibration);
/// rounded up for 500 connections on a busier machine.
pub const RUN_OVERHEAD: Duration = Duration::from_millis(100);
/// Probes a capacity search typically takes (the five of the scan and
/// three or four of bisection with a fair estimate).
pub const TYPICAL_PROBES: usize = 9;
/// The context-switch calibration the sweep runs once: quick (about 0.9 s
/// on the developers' VM, where a cross-CPU hand-off takes about 50 µs),
/// against the 11 × 5000 round trips of `ringside-loadgen ctxsw`.
pub const CALIBRATION_ROUND_TRIPS: u32 = 1000;
pub const CALIBRATION_SAMPLES: u32 = 7;
pub const CALIBRATION_ESTIMATE: Duration = Duration::from_millis(1000);

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
}

impl SweepArgs {
    /// How each capacity search proceeds.
    pub fn search_options(&self) -> SearchOptions {
        SearchOptions { resolution: self.resolution / 100.0, max_probes: self.max_probes }
    }
}

/// A comma-separated list from the command line (a newtype, so clap takes
/// it as one value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

/// Split `s` at commas, trim each item, parse it with `item`; refuse empty
/// items and repeated ones.
fn parse_list<T: PartialEq>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<List<T>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("empty item in `{s}`: expected a comma-separated list such as a,b"));
        }
        let value = item(part)?;
        if out.contains(&value) {
            return Err(format!("`{part}` appears twice in `{s}`"));
        }
        out.push(value);
    }
    Ok(List(out))
}

fn backend_name(s: &str) -> Result<String, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(format!("bad backend name `{s}`: expected a name such as epoll or thread-pool"));
    }
    Ok(s.to_string())
}

/// Backend names, e.g. `epoll,io-uring`.
pub fn parse_names(s: &str) -> Result<List<String>, String> {
    parse_list(s, backend_name)
}

/// Protocols, e.g. `http,echo`.
pub fn parse_protocols(s: &str) -> Result<List<Protocol>, String> {
    parse_list(s, |p| p.parse::<Protocol>())
}

/// Whole numbers of at least 1, e.g. `50,500`.
pub fn parse_counts(s: &str) -> Result<List<u32>, String> {
    parse_list(s, |p| {
        p.parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("bad number `{p}`: expected a whole number of at least 1"))
    })
}

/// Offered rates, req/s: `20000`, `20k`, `1.5M`; each at least 1.
pub fn parse_rates(s: &str) -> Result<List<u64>, String> {
    parse_list(s, |p| {
        let bad = || format!("bad rate `{p}`: expected requests per second such as 20000, 20k or 1.5M");
        let (number, scale) = match p.strip_suffix(['k', 'K']) {
            Some(n) => (n, 1e3),
            None => match p.strip_suffix('M') {
                Some(n) => (n, 1e6),
                None => (p, 1.0),
            },
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        let rate = (v * scale).round();
        if !(rate >= 1.0 && rate.is_finite()) {
            return Err(bad());
        }
        Ok(rate as u64)
    })
}

/// One `--server-arg`: an argument added to one backend's command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerArg {
    pub backend: String,
    pub arg: String,
}

/// `BACKEND=ARG`, split at the first `=` (so `thread-pool=--threads=512`
/// gives `--threads=512`).
pub fn parse_server_arg(s: &str) -> Result<ServerArg, String> {
    let bad = || format!("bad --server-arg `{s}`: expected BACKEND=ARG, e.g. thread-pool=--threads=512");
    let (backend, arg) = s.split_once('=').ok_or_else(bad)?;
    let backend = backend_name(backend.trim()).map_err(|_| bad())?;
    if arg.is_empty() {
        return Err(bad());
    }
    Ok(ServerArg { backend, arg: arg.to_string() })
}

/// One point of the grid: what the load is, whichever backend serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub protocol: Protocol,
    pub connections: u32,
    /// Payload bytes per request; `None` for http, which ignores it.
    pub size: Option<u32>,
    /// Open loop at this rate in total, req/s (`--rates`, `--rate`); `None`:
    /// closed loop.
    pub rate: Option<u64>,
}

impl Cell {
    /// The cell in a few characters, for progress lines: `http c=50`,
    /// `echo c=50 128B`.
    pub fn short(&self) -> String {
        let mut s = match self.size {
            None => format!("{} c={}", self.protocol, self.connections),
            Some(size) => format!("{} c={} {size}B", self.protocol, self.connections),
        };
        if let Some(rate) = self.rate {
            s.push_str(&format!(" @{}", short_rate(rate as f64)));
        }
        s
    }

    /// The same cell in closed loop: what a curve's points share.
    pub fn base(&self) -> Cell {
        Cell { rate: None, ..*self }
    }
}

/// `20k`, `1.5M`, `750`: a rate in a few characters.
pub fn short_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{}M", trim_zeros(rate / 1e6))
    } else if rate >= 1e3 {
        format!("{}k", trim_zeros(rate / 1e3))
    } else {
        format!("{rate:.0}")
    }
}

fn trim_zeros(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} connections", self.protocol, self.connections)?;
        if let Some(size) = self.size {
            write!(f, ", {size}-byte requests")?;
        }
        match self.rate {
            None => Ok(()),
            Some(rate) => write!(f, ", open loop at {} req/s", thousands(rate)),
        }
    }
}

/// One run: a fresh server of `backend` under the load of `cell`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Counting from 1.
    pub repetition: u32,
    pub cell: Cell,
    pub backend: String,
    /// The server's whole command line, without the program.
    pub server_args: Vec<String>,
}

/// Everything a sweep will run, in order.
#[derive(Clone, Debug)]
pub struct Plan {
    pub backends: Vec<String>,
    pub cells: Vec<Cell>,
    pub repetitions: u32,
    pub runs: Vec<RunSpec>,
    /// How many runs to expect: `runs`, or for a capacity sweep (whose
    /// `runs` are one per search) the typical count, and the most.
    pub expected_runs: usize,
    pub most_runs: usize,
    /// Choices the plan made that a reader should know about.
    pub notes: Vec<String>,
    /// Roughly how long the sweep takes, calibration included.
    pub estimate: Duration,
}

impl Plan {
    /// The runs `args` asks for, given the backends the server knows (in
    /// its order). Cells are protocol × connections × size (http: one size);
    /// runs are, for each repetition, for each cell, every backend.
    ///
    /// The thread pool gets `--threads max(connections, 64)` unless a
    /// `--server-arg` sets its --threads: its workers keep a connection for
    /// life, so a pool smaller than the connection count leaves the extra
    /// connections unanswered by design, which is a separate experiment.
    pub fn new(args: &SweepArgs, known: &[String]) -> anyhow::Result<Plan> {
        let backends = match &args.backends {
            Some(List(chosen)) => {
                for b in chosen {
                    if !known.contains(b) {
                        bail!("unknown backend `{b}` in --backends; the server knows {}", known.join(", "));
                    }
                }
                chosen.clone()
            }
            None => known.to_vec(),
        };
        if backends.is_empty() {
            bail!("no backends to run: the server lists none in its --help");
        }
        for sa in &args.server_args {
            if !known.contains(&sa.backend) {
                bail!(
                    "unknown backend `{}` in --server-arg {}={}; the server knows {}",
                    sa.backend,
                    sa.backend,
                    sa.arg,
                    known.join(", ")
                );
            }
            if !backends.contains(&sa.backend) {
                bail!(
                    "--server-arg {}={} is for a backend this sweep does not run (--backends {})",
                    sa.backend,
                    sa.arg,
                    backends.join(",")
                );
            }
        }
        if args.duration.is_zero() {
            bail!("--duration must be more than 0");
        }
        if let Some(rate) = args.rate
            && !(rate > 0.0 && rate.is_finite())
        {
            bail!("--rate must be a positive number of requests per second");
        }

        if args.capacity && !(args.resolution > 0.0 && args.resolution < 100.0) {
            bail!("--resolution must be a percentage above 0 and below 100");
        }
        let rates: Vec<Option<u64>> = match (&args.rates, args.rate) {
            (Some(List(rates)), _) => rates.iter().copied().map(Some).collect(),
            (None, Some(rate)) => vec![Some(rate.round().max(1.0) as u64)],
            (None, None) => vec![None],
        };
        let mut cells = Vec::new();
        for &protocol in &args.protocols.0 {
            for &connections in &args.connections.0 {
                let sizes: Vec<Option<u32>> = if protocol == Protocol::Http {
                    vec![None]
                } else {
                    args.sizes.0.iter().copied().map(Some).collect()
                };
                for &size in &sizes {
                    for &rate in &rates {
                        cells.push(Cell { protocol, connections, size, rate });
                    }
                }
            }
        }

        let extra = |backend: &str| -> Vec<String> {
            args.server_args.iter().filter(|a| a.backend == backend).map(|a| a.arg.clone()).collect()
        };
        let server_cores = csv_row::cpu_list(&args.server_cores.0);
        let mut runs = Vec::new();
        for repetition in 1..=args.repetitions {
            for &cell in &cells {
                for backend in &backends {
                    let mut argv: Vec<String> = [
                        "--backend",
                        backend,
                        "--protocol",
                        cell.protocol.name(),
                        "--listen",
                        "127.0.0.1:0",
                        "--cores",
                        &server_cores,
                        "--stats-listen",
                        "127.0.0.1:0",
                    ]
                    .map(String::from)
                    .to_vec();
                    let extra = extra(backend);
                    if backend == THREAD_POOL && !sets_threads(&extra) {
                        argv.push("--threads".into());
                        argv.push(pool_threads(cell.connections).to_string());
                    }
                    argv.extend(extra);
                    runs.push(RunSpec { repetition, cell, backend: backend.clone(), server_args: argv });
                }
            }
        }

        let mut notes = Vec::new();
        if backends.iter().any(|b| b == THREAD_POOL) {
            if sets_threads(&extra(THREAD_POOL)) {
                notes.push(format!(
                    "{THREAD_POOL}: --threads as given by --server-arg; where the pool is smaller than the \
                     connection count, the extra connections are never answered (by design)"
                ));
            } else {
                let sizes: Vec<String> = args
                    .connections
                    .0
                    .iter()
                    .map(|&c| format!("{c} connections: {}", pool_threads(c)))
                    .collect();
                notes.push(format!(
                    "{THREAD_POOL}: --threads max(connections, {POOL_MIN_THREADS}) ({}), so every connection \
                     has a worker; a pool smaller than the connection count starves connections by design, a \
                     separate experiment (--server-arg {THREAD_POOL}=--threads=N runs it)",
                    sizes.join(", ")
                ));
            }
        }
        for b in &backends {
            let extra = extra(b);
            if !extra.is_empty() {
                notes.push(format!("{b}: extra server flags {}", extra.join(" ")));
            }
        }

        // A capacity search: the closed-loop estimate, its probes (typically
        // TYPICAL_PROBES, at most --max-probes), and the runs at 50% and 80%.
        let (expected_runs, most_runs) = if args.capacity {
            let searches = runs.len();
            (searches * (1 + TYPICAL_PROBES + 2), searches * (1 + args.max_probes as usize + 2))
        } else {
            (runs.len(), runs.len())
        };
        let per_run = args.warmup + args.duration + RUN_OVERHEAD;
        let estimate = per_run * expected_runs as u32 + CALIBRATION_ESTIMATE;
        Ok(Plan {
            backends,
            cells,
            repetitions: args.repetitions,
            runs,
            expected_runs,
            most_runs,
            notes,
            estimate,
        })
    }
}

/// The thread pool's size for `connections`: every connection a worker.
pub fn pool_threads(connections: u32) -> u32 {
    connections.max(POOL_MIN_THREADS)
}

/// Whether server arguments set --threads (`--threads N`, `--threads=N`,
/// `-t N`, `-tN`).
fn sets_threads(args: &[String]) -> bool {
    args.iter().any(|a| {
        a == "--threads" || a.starts_with("--threads=") || (a.starts_with("-t") && !a.starts_with("--"))
    })
}

/// The backends listed under `--backend` in `ringside-server --help`
/// (clap's "Possible values:" list, `- name: summary`), in order.
pub fn backends_in_help(help: &str) -> Vec<String> {
    // The flag's own line, not the usage line that also names it.
    let mut lines =
        help.lines().skip_while(|l| !(l.trim_start().starts_with('-') && l.contains("--backend <")));
    lines.next();
    let mut names = Vec::new();
    for line in lines {
        let t = line.trim_start();
        if t.starts_with('-') && !t.starts_with("- ") {
            break; // the next flag
        }
        if let Some(rest) = t.strip_prefix("- ")
            && let Some((name, _)) = rest.split_once(':')
            && backend_name(name).is_ok()
        {
            names.push(name.to_string());
        }
    }
    names
}

/// Ask the server binary for its backends.
pub fn server_backends(server: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new(server)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --help", server.display()))?;
    if !out.status.success() {
        bail!(
            "{} --help failed ({}): {}",
            server.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let names = backends_in_help(&String::from_utf8_lossy(&out.stdout));
    if names.is_empty() {
        bail!("{} --help lists no backends: is it ringside-server?", server.display());
    }
    Ok(names)
}

/// `--server`, or `ringside-server` next to this program; an error that says
/// how to build it if it is missing.
pub fn server_path(args: &SweepArgs) -> anyhow::Result<PathBuf> {
    let path = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("cannot find this program's path; pass --server PATH")?
            .parent()
            .context("this program's path has no directory; pass --server PATH")?
            .join("ringside-server"),
    };
    if !path.is_file() {
        bail!(
            "no server binary at {}: build it with `cargo build --release` (it lands next to \
             target/release/ringside-loadgen), or pass --server PATH",
            path.display()
        );
    }
    Ok(path)
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

/// A running `ringside-server`, killed when dropped if it still runs.
pub struct Server {
    child: Child,
    /// Its stdout, line by line; disconnected at end of file.
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

/// The addresses a server printed.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub listen: SocketAddr,
    pub stats: SocketAddr,
}

impl Server {
    pub fn spawn(path: &Path, args: &[String]) -> anyhow::Result<Server> {
        let mut child = Command::new(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        let out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        let stdout = std::thread::Builder::new().name("server-stdout".into()).spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::Builder::new().name("server-stderr".into()).spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        // Dropping `child` here would leave it running: kill it first.
        let (stdout, stderr) = match (stdout, stderr) {
            (Ok(o), Ok(e)) => (o, e),
            (o, e) => {
                let _ = child.kill();
                let _ = child.wait();
                let e = o.err().or(e.err()).expect("one failed");
                return Err(anyhow::Error::new(e).context("cannot start a thread to read the server"));
            }
        };
        Ok(Server { child, lines, stdout: Some(stdout), stderr: Some(stderr) })
    }

    /// Wait for `stats on` and `listening on`. On failure the server is
    /// gone and the error says why; [`Unsupported`]'s
    /// exit status 3 is named as such.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, String> {
        let deadline = Instant::now() + timeout;
        let mut stats = None;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("stats on ") {
                        stats = addr.trim().parse().ok();
                    } else if let Some(addr) = line.strip_prefix("listening on ") {
                        let listen = addr.trim().parse::<SocketAddr>();
                        return match (listen, stats) {
                            (Ok(listen), Some(stats)) => Ok(Ready { listen, stats }),
                            (Err(_), _) => {
                                self.kill();
                                Err(format!("the server printed an address that does not parse: {line:?}"))
                            }
                            (Ok(_), None) => {
                                self.kill();
                                Err("the server printed `listening on` but no `stats on` line".into())
                            }
                        };
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    let stderr = self.stderr_text();
                    return Err(format!(
                        "no `listening on` line within {} s; killed it{}",
                        timeout.as_secs_f64(),
                        stderr_suffix(&stderr)
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(STOP_TIMEOUT);
                    let stderr = self.stderr_text();
                    let status = match status {
                        Some(s) if s.code() == Some(i32::from(Unsupported::EXIT_CODE)) => {
                            format!("this kernel cannot run it (exit status {})", Unsupported::EXIT_CODE)
                        }
                        Some(s) => format!("it exited ({s}) before listening"),
                        None => "it closed its stdout before listening".into(),
                    };
                    return Err(format!("{status}{}", stderr_suffix(&stderr)));
                }
            }
        }
    }

    /// SIGTERM, then wait for the exit (SIGKILL after [`STOP_TIMEOUT`]).
    /// Returns notes for the run's row: anything unusual, and whatever the
    /// server wrote on stderr.
    pub fn stop(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        match self.child.try_wait() {
            Ok(Some(status)) => notes.push(format!("the server had exited ({status}) before it was stopped")),
            _ => {
                let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
                // The child is not reaped yet, so the pid is still its own.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                match self.wait_exit(STOP_TIMEOUT) {
                    Some(status) if status.success() => {}
                    Some(status) => notes.push(format!("the server exited with {status} when stopped")),
                    None => notes.push(format!(
                        "the server did not exit within {} s of SIGTERM; killed",
                        STOP_TIMEOUT.as_secs()
                    )),
                }
            }
        }
        let stderr = self.stderr_text();
        if !stderr.trim().is_empty() {
            notes.push(format!("server stderr: {}", tail(&stderr, 300)));
        }
        notes
    }

    /// Wait until the server closes its stdout (it exits), at most
    /// `timeout`; then reap it. Kills it if it does not go. `None` if it had
    /// to be killed.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(_) => continue, // `stopped: ...`
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return None;
                }
            }
        }
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        // Its stdout is closed, so it has exited or is exiting now.
        self.child.wait().ok()
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Everything the server wrote on stderr (once it has exited).
    fn stderr_text(&mut self) -> String {
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() { String::new() } else { format!(": {}", tail(s, 600)) }
}

/// The last `max` bytes (about) of `s`, on one line.
fn tail(s: &str, max: usize) -> String {
    let one_line = s.trim().replace('\n', " | ");
    if one_line.len() <= max {
        return one_line;
    }
    let mut start = one_line.len() - max;
    while !one_line.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &one_line[start..])
}

/// What the table needs from one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub cell: Cell,
    pub backend: String,
    pub repetition: u32,
    pub complete: bool,
    pub req_s: f64,
    /// Latency from the intended send time, µs; `None` if nothing completed.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Per request; `None` if the server's counters could not be read.
    pub server_cpu_us: Option<f64>,
    pub server_vcs: Option<f64>,
    pub client_cpu_us: f64,
    /// Connections that broke during the window, by cause.
    pub errors: engine::Errors,
    /// Connections with a request outstanding in the window and no answer
    /// in it (the server never served them).
    pub unanswered: usize,
    /// The row's `note`: why it is incomplete, warnings.
    pub note: String,
}

impl Measurement {
    fn of(r: &Report, spec: &RunSpec, note: &str) -> Measurement {
        let q = |q: f64| results::hdr::quantile_us(&r.corrected, q);
        Measurement {
            cell: spec.cell,
            backend: spec.backend.clone(),
            repetition: spec.repetition,
            complete: r.incomplete.is_none(),
            req_s: r.achieved_rate(),
            p50_us: q(0.5),
            p99_us: q(0.99),
            server_cpu_us: r.server.map(|p| p.cpu_us()),
            server_vcs: r.server.map(|p| p.vcs),
            client_cpu_us: r.client.cpu_us(),
            errors: r.errors,
            unanswered: r.conns_unanswered,
            note: note.to_string(),
        }
    }
}

/// One backend's figures in one cell: medians over its complete runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Medians {
    /// Runs of this backend in the cell, and how many were complete.
    pub runs: usize,
    pub complete: usize,
    pub req_s: Spread,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub server_cpu_us: Option<f64>,
    pub server_vcs: Option<f64>,
    pub client_cpu_us: f64,
    /// Errors (broken connections) over all its complete runs.
    pub errors: u64,
    /// Median req/s over the cell's best median req/s.
    pub ratio: f64,
    /// Its req/s range overlaps the best backend's: the difference is
    /// within the run-to-run spread.
    pub within_noise: bool,
}

/// A table line: a backend's figures, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub backend: String,
    pub figures: Result<Medians, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CellTable {
    pub cell: Cell,
    pub lines: Vec<Line>,
}

fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    if v.is_empty() { None } else { Some(Spread::of(&v).median) }
}

/// Per cell, per backend (in the order given): the medians over the
/// backend's complete runs, and its ratio to the cell's best; "n/a" with a
/// reason for a backend with no complete run there (`skipped` gives the
/// reason for backends the sweep gave up on).
pub fn summarize(
    cells: &[Cell],
    backends: &[String],
    measurements: &[Measurement],
    skipped: &HashMap<String, String>,
) -> Vec<CellTable> {
    let mut tables = Vec::new();
    for &cell in cells {
        let mut lines: Vec<Line> = backends
            .iter()
            .map(|b| {
                let all: Vec<&Measurement> =
                    measurements.iter().filter(|m| m.cell == cell && &m.backend == b).collect();
                let ok: Vec<&Measurement> = all.iter().copied().filter(|m| m.complete).collect();
                let figures = if ok.is_empty() {
                    Err(match (skipped.get(b), all.len()) {
                        (Some(why), _) => format!("skipped: {why}"),
                        (None, 0) => "not run".to_string(),
                        (None, n) => format!("no complete run of {n}"),
                    })
                } else {
                    let rates: Vec<f64> = ok.iter().map(|m| m.req_s).collect();
                    Ok(Medians {
                        runs: all.len(),
                        complete: ok.len(),
                        req_s: Spread::of(&rates),
                        p50_us: median_of(ok.iter().filter_map(|m| m.p50_us)),
                        p99_us: median_of(ok.iter().filter_map(|m| m.p99_us)),
                        server_cpu_us: median_of(ok.iter().filter_map(|m| m.server_cpu_us)),
                        server_vcs: median_of(ok.iter().filter_map(|m| m.server_vcs)),
                        client_cpu_us: Spread::of(&ok.iter().map(|m| m.client_cpu_us).collect::<Vec<_>>())
                            .median,
                        errors: ok.iter().map(|m| m.errors.total()).sum(),
                        ratio: f64::NAN,
                        within_noise: false,
                    })
                };
                Line { backend: b.clone(), figures }
            })
            .collect();
        let best = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.figures.as_ref().ok().map(|m| (i, m.req_s)))
            .max_by(|a, b| a.1.median.total_cmp(&b.1.median));
        if let Some((best_line, best)) = best {
            for (i, line) in lines.iter_mut().enumerate() {
                if let Ok(m) = &mut line.figures {
                    m.ratio = if best.median > 0.0 { m.req_s.median / best.median } else { f64::NAN };
                    m.within_noise = i != best_line && m.req_s.max >= best.min;
                }
            }
        }
        tables.push(CellTable { cell, lines });
    }
    tables
}

/// The comparison table, one block per cell.
pub fn render_table(tables: &[CellTable], repetitions: u32) -> String {
    let mut s = String::new();
    let reps =
        if repetitions == 1 { "1 repetition".to_string() } else { format!("{repetitions} repetitions") };
    let _ = writeln!(
        s,
        "Medians over {reps}, complete runs only. p50, p99: latency from the intended send time. Per \
         request: server us, the server's CPU time (us); server vcs, its voluntary context switches; \
         client us, the load generator's CPU time. vs best: req/s over the cell's best median; \
         \"~\" where its req/s range overlaps the best one's (a difference within the run-to-run spread). \
         errors: connections broken during the windows (a timeout breaks its connection), all runs \
         together; see below."
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "n/a".to_string(), f);
    for t in tables {
        let _ = writeln!(s);
        let _ = writeln!(s, "{}", t.cell);
        let _ = writeln!(
            s,
            "  {:<16} {:>9} {:>17} {:>9} {:>9} {:>11} {:>11} {:>11} {:>8} {:>7}",
            "backend",
            "req/s",
            "req/s min-max",
            "p50",
            "p99",
            "server us",
            "server vcs",
            "client us",
            "vs best",
            "errors"
        );
        for line in &t.lines {
            match &line.figures {
                Err(why) => {
                    let _ = writeln!(s, "  {:<16} n/a ({})", line.backend, tail_first_line(why, 90));
                }
                Ok(m) => {
                    let range = format!(
                        "{}-{}",
                        thousands(m.req_s.min.round() as u64),
                        thousands(m.req_s.max.round() as u64)
                    );
                    let ratio = if m.ratio.is_nan() {
                        "n/a".to_string()
                    } else {
                        format!("{}{:.2}", if m.within_noise { "~" } else { "" }, m.ratio)
                    };
                    let _ = write!(
                        s,
                        "  {:<16} {:>9} {:>17} {:>9} {:>9} {:>11} {:>11} {:>11.2} {:>8} {:>7}",
                        line.backend,
                        thousands(m.req_s.median.round() as u64),
                        range,
                        opt(m.p50_us, &|v| fmt_us(v)),
                        opt(m.p99_us, &|v| fmt_us(v)),
                        opt(m.server_cpu_us, &|v| format!("{v:.2}")),
                        opt(m.server_vcs, &|v| format!("{v:.3}")),
                        m.client_cpu_us,
                        ratio,
                        m.errors
                    );
                    if m.complete < m.runs {
                        let _ = write!(s, "  ({} of {} runs complete)", m.complete, m.runs);
                    }
                    let _ = writeln!(s);
                }
            }
        }
    }
    s
}

/// The first line of `s`, shortened to about `max` characters.
fn tail_first_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= max {
        return first.to_string();
    }
    let cut: String = first.chars().take(max).collect();
    format!("{cut}...")
}

/// Errors by kind, e.g. `149 timed out, 2 reset or closed`.
pub fn describe_errors(e: &engine::Errors) -> String {
    let kinds = [
        (e.connect, "failed to connect"),
        (e.reset, "reset or closed"),
        (e.timeout, "timed out"),
        (e.bad_response, "bad answer"),
    ];
    let parts: Vec<String> =
        kinds.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    parts.join(", ")
}

/// The complete runs that had errors, the incomplete and failed runs with
/// their notes, and the skipped backends; empty if none.
pub fn render_failures(measurements: &[Measurement], skipped: &[(String, String)]) -> String {
    let mut s = String::new();
    let with_errors: Vec<&Measurement> =
        measurements.iter().filter(|m| m.complete && m.errors.total() > 0).collect();
    if !with_errors.is_empty() {
        let _ =
            writeln!(s, "Runs with broken connections (complete, but with fewer connections by the end):");
        for m in with_errors {
            let _ = writeln!(
                s,
                "  rep {}, {}, {}: {}",
                m.repetition,
                m.cell.short(),
                m.backend,
                describe_errors(&m.errors)
            );
        }
    }
    let starved: Vec<&Measurement> = measurements.iter().filter(|m| m.complete && m.unanswered > 0).collect();
    if !starved.is_empty() {
        let _ =
            writeln!(s, "Runs with connections never answered in the window (the server left them waiting):");
        for m in starved {
            let _ = writeln!(
                s,
                "  rep {}, {}, {}: {} of {} connections",
                m.repetition,
                m.cell.short(),
                m.backend,
                m.unanswered,
                m.cell.connections
            );
        }
    }
    let failed: Vec<&Measurement> = measurements.iter().filter(|m| !m.complete).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "Incomplete or failed runs:");
        for m in failed {
            let _ = writeln!(s, "  rep {}, {}, {}: {}", m.repetition, m.cell.short(), m.backend, m.note);
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "Skipped backends:");
        for (b, why) in skipped {
            let _ = writeln!(s, "  {b}: {why}");
        }
    }
    s
}

/// `1 min 38 s`, `42 s`, `1.4 s`.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        return format!("{:.1} s", d.as_secs_f64());
    }
    let secs = d.as_secs_f64().round() as u64;
    if secs < 60 { format!("{secs} s") } else { format!("{} min {} s", secs / 60, secs % 60) }
}

/// The plan as printed: what runs, how, and how long it should take.
/// `list_runs` adds one line per run (for --dry-run).
pub fn render_plan(plan: &Plan, args: &SweepArgs, server: &Path, base: &RunArgs, list_runs: bool) -> String {
    let mut s = String::new();
    if args.capacity {
        let _ = writeln!(
            s,
            "sweep: capacity of {} backends x {} cells x {} repetitions = {} searches of about {} runs each \
             (at most {}); estimated time {} (at most {}, plus the drains of overloaded probes)",
            plan.backends.len(),
            plan.cells.len(),
            plan.repetitions,
            plan.runs.len(),
            1 + TYPICAL_PROBES + 2,
            1 + args.max_probes + 2,
            fmt_duration(plan.estimate),
            fmt_duration(plan.estimate.mul_f64(plan.most_runs as f64 / plan.expected_runs.max(1) as f64)),
        );
    } else {
        let _ = writeln!(
            s,
            "sweep: {} backends x {} cells x {} repetitions = {} runs; estimated time {}",
            plan.backends.len(),
            plan.cells.len(),
            plan.repetitions,
            plan.runs.len(),
            fmt_duration(plan.estimate)
        );
    }
    let _ = writeln!(s, "  backends: {} (server {})", plan.backends.join(", "), server.display());
    let cells: Vec<String> = plan.cells.iter().map(Cell::short).collect();
    let _ = writeln!(s, "  cells: {}", cells.join("; "));
    let mode = if args.capacity {
        format!(
            "a capacity search under {} per cell and backend (see below), pipeline {}",
            args.slo, base.pipeline
        )
    } else if plan.cells.iter().any(|c| c.rate.is_some()) {
        format!("open loop at the cell's rate, pipeline {}", base.pipeline)
    } else {
        format!("closed loop, pipeline {}", base.pipeline)
    };
    let io = base.io.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
    let _ = writeln!(
        s,
        "  each run: a fresh server pinned to CPU {}; {} s warm-up + {} s measured; load pinned to CPU {} \
         ({} thread{}, {io}), {mode}, timeout {} s",
        csv_row::cpu_list(&args.server_cores.0),
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        csv_row::cpu_list(&args.client_cores.0),
        args.client_cores.0.len(),
        if args.client_cores.0.len() == 1 { "" } else { "s" },
        base.timeout.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "  order: in each repetition, for each cell, every backend in turn (interleaved, so drift hits \
         them alike)"
    );
    for note in &plan.notes {
        let _ = writeln!(s, "  {note}");
    }
    let _ = writeln!(
        s,
        "  estimate: {} runs x ({} s + about {} s to start, connect and stop) + {} s calibration",
        plan.expected_runs,
        (args.warmup + args.duration).as_secs_f64(),
        RUN_OVERHEAD.as_secs_f64(),
        CALIBRATION_ESTIMATE.as_secs_f64()
    );
    let _ = writeln!(s, "  results: one row per run appended to {}", args.csv.display());
    if args.capacity {
        let _ = writeln!(
            s,
            "  capacity: per cell and repetition, a closed-loop run of each backend estimates its capacity; \
             then open-loop probes (each a fresh server, the backends in turn): a scan at 25-100% of the \
             estimate, then bisection to within {2}% between the highest pass (achieved >= {0:.0}% of \
             offered and {1}) and the failure above it; then each backend at 50% and 80% of its capacity. Rows: phase=probe, phase=capacity (one per search), \
             phase=run (the 50% and 80% points)",
            100.0 * capacity::KEEP_UP,
            args.slo,
            args.resolution
        );
    }
    if list_runs {
        let width = plan.runs.len().to_string().len();
        for (i, r) in plan.runs.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {:>width$}  rep {}  {:<14} ringside-server {}",
                i + 1,
                r.repetition,
                r.cell.short(),
                r.server_args.join(" ")
            );
        }
    }
    s
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
struct Runner<'a> {
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
struct Point {
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

/// One capacity search's result: which, and what it found.
#[derive(Clone, Debug)]
pub struct CapacityRun {
    pub repetition: u32,
    pub cell: Cell,
    pub backend: String,
    pub capacity: capacity::Capacity,
    /// Corrected p50 and p99 (µs) at 50%, 80% and 100% of the capacity.
    pub at: [(Option<f64>, Option<f64>); 3],
}

/// The shares of each capacity at which the table gives the latency.
pub const CAPACITY_SHARES: [f64; 3] = [0.5, 0.8, 1.0];

/// A backend's search under way: its runs, the search, and each probe's
/// rate and point.
type Searching<'a> = (&'a RunSpec, Search, Vec<(f64, Point)>);

/// The capacity searches: per repetition and cell, a closed-loop run of
/// each backend for the estimate, then the backends' probes in turn until
/// every search is over, then each backend at 50% and 80% of its capacity.
fn capacity_sweep(
    runner: &mut Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    options: SearchOptions,
) -> Vec<CapacityRun> {
    let mut found = Vec::new();
    for repetition in 1..=plan.repetitions {
        for &cell in &plan.cells {
            let specs: Vec<&RunSpec> =
                plan.runs.iter().filter(|r| r.repetition == repetition && r.cell == cell).collect();
            // The estimates: closed loop, interleaved.
            let mut searches: Vec<Searching<'_>> = Vec::new();
            for spec in &specs {
                let Some(p) = runner.point(spec, None, results::Phase::Probe, Some(slo)) else { continue };
                let estimate = p.report.achieved_rate();
                if p.report.incomplete.is_none() && estimate > 0.0 {
                    searches.push((spec, Search::new(estimate, options), Vec::new()));
                } else {
                    eprintln!(
                        "  {}: no estimate of its capacity (the closed-loop run failed); no search",
                        spec.backend
                    );
                }
            }
            // The probes, a probe of each backend in turn.
            loop {
                let mut probed = false;
                for (spec, search, points) in &mut searches {
                    let Some(rate) = search.next_rate() else { continue };
                    let Some(p) = runner.point(spec, Some(rate), results::Phase::Probe, Some(slo)) else {
                        continue;
                    };
                    probed = true;
                    let verdict = capacity::judge(&p.report, slo);
                    eprintln!(
                        "  {}: {} at {}: {}",
                        spec.backend,
                        if verdict.pass { "pass" } else { "fail" },
                        thousands(rate.round() as u64),
                        verdict.why
                    );
                    search.record(rate, verdict);
                    points.push((rate, p));
                }
                if !probed || runner.stopped() {
                    break;
                }
            }
            // The capacities, as rows; then 50% and 80% of each.
            let mut results: Vec<CapacityRun> = Vec::new();
            for (spec, search, points) in &searches {
                let c = search.result();
                let mut run = CapacityRun {
                    repetition,
                    cell,
                    backend: spec.backend.clone(),
                    capacity: c,
                    at: [(None, None); 3],
                };
                if let Some(rate) = c.rate
                    && let Some((_, p)) = points.iter().find(|(r, _)| *r == rate)
                {
                    let mut row = p.row.clone();
                    row.phase = results::Phase::Capacity;
                    row.complete = c.converged;
                    let note = format!("capacity under {slo}: {}", c.describe());
                    row.note = if row.note.is_empty() { note } else { format!("{note}; {}", row.note) };
                    runner.append(&row);
                    run.at[2] = (Some(p.row.lat_p50_us), Some(p.row.lat_p99_us));
                }
                eprintln!("  {}: capacity under {slo}: {}", spec.backend, c.describe());
                results.push(run);
            }
            for (i, share) in CAPACITY_SHARES[..2].iter().enumerate() {
                for (k, (spec, search, _)) in searches.iter().enumerate() {
                    let Some(rate) = search.result().rate else { continue };
                    if let Some(p) = runner.point(spec, Some(share * rate), results::Phase::Run, Some(slo)) {
                        let q = |q: f64| results::hdr::quantile_us(&p.report.corrected, q);
                        results[k].at[i] = (q(0.5), q(0.99));
                    }
                }
            }
            found.extend(results);
            if runner.stopped() {
                return found;
            }
        }
    }
    found
}

/// One backend's capacity in one cell, over the repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityLine {
    pub backend: String,
    /// The capacities found (req/s), their spread, the searches that found
    /// none or did not converge, and the median probes per search; or why
    /// there is nothing.
    pub figures: Result<CapacityFigures, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CapacityFigures {
    pub capacity: Spread,
    pub searches: usize,
    pub without: usize,
    pub not_converged: usize,
    /// Searches in which a rate below the capacity failed.
    pub failed_below: usize,
    pub probes: f64,
    /// Median p50 and p99 (µs) at 50%, 80%, 100% of the capacity.
    pub at: [(Option<f64>, Option<f64>); 3],
}

/// Per cell, per backend: the capacities over the repetitions.
pub fn summarize_capacity(
    cells: &[Cell],
    backends: &[String],
    runs: &[CapacityRun],
    skipped: &HashMap<String, String>,
) -> Vec<(Cell, Vec<CapacityLine>)> {
    cells
        .iter()
        .map(|&cell| {
            let lines = backends
                .iter()
                .map(|b| {
                    let mine: Vec<&CapacityRun> =
                        runs.iter().filter(|r| r.cell == cell && &r.backend == b).collect();
                    let rates: Vec<f64> = mine.iter().filter_map(|r| r.capacity.rate).collect();
                    let figures = if rates.is_empty() {
                        Err(match (skipped.get(b), mine.len()) {
                            (Some(why), _) => format!("skipped: {why}"),
                            (None, 0) => "no search".to_string(),
                            (None, n) => format!("no capacity found in {n} searches (every probe failed)"),
                        })
                    } else {
                        let mut at = [(None, None); 3];
                        for (i, slot) in at.iter_mut().enumerate() {
                            *slot = (
                                median_of(mine.iter().filter_map(|r| r.at[i].0)),
                                median_of(mine.iter().filter_map(|r| r.at[i].1)),
                            );
                        }
                        Ok(CapacityFigures {
                            capacity: Spread::of(&rates),
                            searches: mine.len(),
                            without: mine.len() - rates.len(),
                            not_converged: mine
                                .iter()
                                .filter(|r| r.capacity.rate.is_some() && !r.capacity.converged)
                                .count(),
                            failed_below: mine.iter().filter(|r| r.capacity.failed_below).count(),
                            probes: Spread::of(
                                &mine.iter().map(|r| f64::from(r.capacity.probes)).collect::<Vec<_>>(),
                            )
                            .median,
                            at,
                        })
                    };
                    CapacityLine { backend: b.clone(), figures }
                })
                .collect();
            (cell, lines)
        })
        .collect()
}

/// The capacity table, one block per cell.
pub fn render_capacity(cells: &[(Cell, Vec<CapacityLine>)], slo: &Slo, repetitions: u32) -> String {
    let mut s = String::new();
    let reps = if repetitions == 1 { "1 search".to_string() } else { format!("{repetitions} searches") };
    let _ = writeln!(
        s,
        "Capacity under {slo}: the highest offered rate a backend kept up with (achieved >= {:.0}% of offered) \
         with its {} within the bound; median over {reps} and their range. Then p50/p99 from the intended \
         send time at 50%, 80% and 100% of that capacity (medians). probes: per search, the closed-loop \
         estimate not counted.",
        100.0 * capacity::KEEP_UP,
        slo.name()
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), fmt_us);
    for (cell, lines) in cells {
        let _ = writeln!(s);
        let _ = writeln!(s, "{cell}");
        let _ = writeln!(
            s,
            "  {:<16} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}",
            "backend", "capacity", "min-max", "p50/p99 @50%", "p50/p99 @80%", "p50/p99 @100%", "probes"
        );
        for line in lines {
            match &line.figures {
                Err(why) => {
                    let _ = writeln!(s, "  {:<16} n/a ({})", line.backend, tail_first_line(why, 90));
                }
                Ok(f) => {
                    let range = format!(
                        "{}-{}",
                        thousands(f.capacity.min.round() as u64),
                        thousands(f.capacity.max.round() as u64)
                    );
                    let at: Vec<String> =
                        f.at.iter().map(|(p50, p99)| format!("{}/{}", opt(*p50), opt(*p99))).collect();
                    let _ = write!(
                        s,
                        "  {:<16} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}",
                        line.backend,
                        thousands(f.capacity.median.round() as u64),
                        range,
                        at[0],
                        at[1],
                        at[2],
                        format!("{:.0}", f.probes)
                    );
                    if f.not_converged > 0 || f.without > 0 {
                        let _ = write!(
                            s,
                            "  ({} of {} searches did not converge, {} found none)",
                            f.not_converged, f.searches, f.without
                        );
                    }
                    if f.failed_below > 0 {
                        let _ = write!(
                            s,
                            "  (in {} of {} searches a lower rate failed: latency that falls as load rises)",
                            f.failed_below, f.searches
                        );
                    }
                    let _ = writeln!(s);
                }
            }
        }
    }
    s
}

/// The latency-throughput curves of an offered-load grid: per base cell, a
/// line per offered rate, and per backend the median achieved req/s and p99.
pub fn render_curves(tables: &[CellTable], repetitions: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nLatency-throughput curves (offered-load grid; medians over {repetitions} repetition{}): per offered \
         rate and backend, the achieved req/s (answers received in the window) / p99 from the intended send \
         time. An achieved rate below the offered one: the backend could not keep up.",
        if repetitions == 1 { "" } else { "s" }
    );
    let mut bases: Vec<Cell> = Vec::new();
    for t in tables {
        if !bases.contains(&t.cell.base()) {
            bases.push(t.cell.base());
        }
    }
    for base in bases {
        let rows: Vec<&CellTable> = tables.iter().filter(|t| t.cell.base() == base).collect();
        let backends: Vec<&str> = rows[0].lines.iter().map(|l| l.backend.as_str()).collect();
        let _ = writeln!(s);
        let _ = writeln!(s, "{base}");
        let mut head = format!("  {:>10}", "offered");
        for b in &backends {
            let _ = write!(head, " {b:>20}");
        }
        let _ = writeln!(s, "{head}");
        for t in rows {
            let mut line = format!("  {:>10}", thousands(t.cell.rate.unwrap_or(0)));
            for l in &t.lines {
                let cell = match &l.figures {
                    Ok(m) => format!(
                        "{} / {}",
                        thousands(m.req_s.median.round() as u64),
                        m.p99_us.map_or_else(|| "-".into(), fmt_us)
                    ),
                    Err(_) => "n/a".into(),
                };
                let _ = write!(line, " {cell:>20}");
            }
            let _ = writeln!(s, "{line}");
        }
    }
    s
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
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sweep: SweepArgs,
    }

    fn args(argv: &[&str]) -> SweepArgs {
        Cli::try_parse_from(["sweep"].iter().chain(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}")).sweep
    }

    fn known() -> Vec<String> {
        ["thread-per-conn", "thread-pool", "epoll", "io-uring", "tokio", "tokio-uring"]
            .map(String::from)
            .to_vec()
    }

    fn plan(argv: &[&str]) -> Plan {
        Plan::new(&args(argv), &known()).unwrap_or_else(|e| panic!("{argv:?}: {e:#}"))
    }

    #[test]
    fn lists() {
        assert_eq!(parse_counts("50,500"), Ok(List(vec![50, 500])));
        assert_eq!(parse_counts(" 4 , 16 "), Ok(List(vec![4, 16])));
        for (bad, error) in [
            ("", "empty item"),
            ("50,,500", "empty item"),
            ("50,", "empty item"),
            ("0", "at least 1"),
            ("-1", "at least 1"),
            ("x", "bad number `x`"),
            ("50,50", "`50` appears twice"),
        ] {
            let e = parse_counts(bad).unwrap_err();
            assert!(e.contains(error), "{bad:?}: {e}");
        }
        assert_eq!(parse_protocols("http,echo"), Ok(List(vec![Protocol::Http, Protocol::Echo])));
        assert!(parse_protocols("ftp").unwrap_err().contains("unknown protocol `ftp`"));
        assert!(parse_protocols("rr,rr").unwrap_err().contains("appears twice"));
        assert_eq!(parse_names("epoll,io-uring"), Ok(List(vec!["epoll".into(), "io-uring".into()])));
        assert!(parse_names("epoll,Epoll!").unwrap_err().contains("bad backend name"));
        assert!(parse_names("epoll,epoll").unwrap_err().contains("appears twice"));
    }

    #[test]
    fn server_args() {
        assert_eq!(
            parse_server_arg("thread-pool=--threads=512"),
            Ok(ServerArg { backend: "thread-pool".into(), arg: "--threads=512".into() })
        );
        assert_eq!(
            parse_server_arg("io-uring=--sqpoll"),
            Ok(ServerArg { backend: "io-uring".into(), arg: "--sqpoll".into() })
        );
        for bad in ["", "thread-pool", "thread-pool=", "=--threads=5", "Thread Pool=-t"] {
            assert!(parse_server_arg(bad).unwrap_err().contains("expected BACKEND=ARG"), "{bad:?}");
        }
        let a = args(&["--server-arg", "io-uring=--sqpoll", "--server-arg", "io-uring=--fixed-files"]);
        assert_eq!(a.server_args.len(), 2);
        assert!(sets_threads(&["--threads".into(), "9".into()]));
        assert!(sets_threads(&["--threads=9".into()]));
        assert!(sets_threads(&["-t9".into()]));
        assert!(!sets_threads(&["--queue=9".into(), "--tail".into()]));
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
    fn default_plan() {
        let p = plan(&[]);
        assert_eq!(p.backends, known());
        assert_eq!(p.runs.len(), 36);
        let order: Vec<(u32, u32, &str)> =
            p.runs.iter().map(|r| (r.repetition, r.cell.connections, r.backend.as_str())).collect();
        let mut expected = Vec::new();
        for rep in 1..=3 {
            for c in [50, 500] {
                for b in ["thread-per-conn", "thread-pool", "epoll", "io-uring", "tokio", "tokio-uring"] {
                    expected.push((rep, c, b));
                }
            }
        }
        assert_eq!(order, expected);
        assert!(p.runs.iter().all(|r| r.cell.protocol == Protocol::Http && r.cell.size.is_none()));
        assert!(
            p.estimate >= Duration::from_secs(90) && p.estimate <= Duration::from_secs(130),
            "{:?}",
            p.estimate
        );
        let first = &p.runs[0].server_args;
        assert_eq!(
            first.join(" "),
            "--backend thread-per-conn --protocol http --listen 127.0.0.1:0 --cores 0 --stats-listen 127.0.0.1:0"
        );
    }

    #[test]
    fn http_is_not_multiplied_by_sizes() {
        let p = plan(&[
            "--protocols",
            "http,echo,rr",
            "--connections",
            "4",
            "--sizes",
            "64,1024",
            "--backends",
            "epoll",
        ]);
        let cells: Vec<String> = p.cells.iter().map(Cell::short).collect();
        assert_eq!(cells, ["http c=4", "echo c=4 64B", "echo c=4 1024B", "rr c=4 64B", "rr c=4 1024B"]);
        assert_eq!(p.runs.len(), 5 * 3);
        // A subset of backends keeps the order given.
        let p = plan(&["--backends", "tokio,epoll", "--repetitions", "1"]);
        let b: Vec<&str> = p.runs.iter().map(|r| r.backend.as_str()).collect();
        assert_eq!(b, ["tokio", "epoll", "tokio", "epoll"]);
    }

    #[test]
    fn thread_pool_gets_a_worker_per_connection() {
        let threads = |p: &Plan, c: u32, backend: &str| -> Vec<String> {
            let r = p.runs.iter().find(|r| r.cell.connections == c && r.backend == backend).unwrap();
            r.server_args.iter().skip_while(|a| !a.starts_with("--threads")).cloned().collect()
        };
        let p = plan(&["--connections", "10,64,500"]);
        assert_eq!(threads(&p, 10, "thread-pool"), ["--threads", "64"]);
        assert_eq!(threads(&p, 64, "thread-pool"), ["--threads", "64"]);
        assert_eq!(threads(&p, 500, "thread-pool"), ["--threads", "500"]);
        for other in ["thread-per-conn", "epoll", "io-uring", "tokio", "tokio-uring"] {
            assert!(threads(&p, 500, other).is_empty(), "{other}");
        }
        assert!(
            p.notes.iter().any(|n| n.contains("max(connections, 64)") && n.contains("500 connections: 500"))
        );

        // The user's --threads wins; other flags keep the automatic size.
        let p = plan(&["--server-arg", "thread-pool=--threads=16"]);
        assert_eq!(threads(&p, 500, "thread-pool"), ["--threads=16"]);
        assert!(p.notes.iter().any(|n| n.contains("as given by --server-arg")));
        let p = plan(&["--server-arg", "thread-pool=--queue=8", "--server-arg", "io-uring=--sqpoll"]);
        assert_eq!(threads(&p, 500, "thread-pool"), ["--threads", "500", "--queue=8"]);
        let uring = p.runs.iter().find(|r| r.backend == "io-uring").unwrap();
        assert_eq!(uring.server_args.last().map(String::as_str), Some("--sqpoll"));
        assert!(p.notes.iter().any(|n| n == "io-uring: extra server flags --sqpoll"));
        // No thread pool in the sweep, no note about it.
        assert!(plan(&["--backends", "epoll"]).notes.is_empty());
    }

    #[test]
    fn plan_errors() {
        let err = |argv: &[&str]| format!("{:#}", Plan::new(&args(argv), &known()).unwrap_err());
        let e = err(&["--backends", "epoll,nope"]);
        assert!(
            e.contains("unknown backend `nope`") && e.contains("thread-per-conn, thread-pool, epoll"),
            "{e}"
        );
        assert!(err(&["--server-arg", "nope=--x"]).contains("unknown backend `nope`"));
        assert!(
            err(&["--backends", "epoll", "--server-arg", "tokio=--runtime=multi-thread"])
                .contains("a backend this sweep does not run")
        );
        assert!(err(&["--duration", "0s"]).contains("--duration"));
        assert!(err(&["--rate=-5"]).contains("--rate"));
        assert!(err(&["--rate", "0"]).contains("--rate"));
        assert!(Plan::new(&args(&[]), &[]).is_err());
    }

    #[test]
    fn backends_from_help() {
        let help = "\
Usage: ringside-server [OPTIONS] --backend <BACKEND>

Options:
  -b, --backend <BACKEND>
          Server design to run

          Possible values:
          - thread-per-conn: one blocking thread per connection
          - thread-pool:     a fixed pool of blocking workers fed through a bounded queue
          - epoll:           one edge-triggered epoll loop per thread, each with its own
            SO_REUSEPORT listener
          - io-uring:        one io_uring per thread: multishot accept and recv, buffer ring,
            DEFER_TASKRUN

  -p, --protocol <PROTOCOL>
          Protocol to serve

          Possible values:
          - echo: every byte received goes back
";
        assert_eq!(backends_in_help(help), ["thread-per-conn", "thread-pool", "epoll", "io-uring"]);
        assert!(backends_in_help("Usage: nothing\n").is_empty());
    }

    fn m(backend: &str, c: u32, rep: u32, req_s: f64, complete: bool) -> Measurement {
        Measurement {
            cell: Cell { protocol: Protocol::Http, connections: c, size: None, rate: None },
            backend: backend.into(),
            repetition: rep,
            complete,
            req_s,
            p50_us: Some(req_s / 1000.0),
            p99_us: Some(req_s / 100.0),
            server_cpu_us: Some(1e6 / req_s),
            server_vcs: Some(0.5),
            client_cpu_us: 3.0,
            errors: engine::Errors::default(),
            unanswered: 0,
            note: if complete { String::new() } else { "incomplete: every connection failed".into() },
        }
    }

    #[test]
    fn table_medians_and_ratios() {
        let cells = [
            Cell { protocol: Protocol::Http, connections: 50, size: None, rate: None },
            Cell { protocol: Protocol::Http, connections: 500, size: None, rate: None },
        ];
        let backends: Vec<String> = ["epoll", "thread-pool", "io-uring", "tokio"].map(String::from).to_vec();
        let data = vec![
            m("epoll", 50, 1, 200_000.0, true),
            m("epoll", 50, 2, 180_000.0, true),
            m("epoll", 50, 3, 210_000.0, true),
            m("thread-pool", 50, 1, 100_000.0, true),
            m("thread-pool", 50, 2, 120_000.0, true),
            // An incomplete run counts in `runs`, not in the medians.
            m("thread-pool", 50, 3, 1.0, false),
            m("io-uring", 50, 1, 190_000.0, true),
            m("io-uring", 50, 2, 205_000.0, true),
            m("io-uring", 50, 3, 195_000.0, true),
            m("epoll", 500, 1, 150_000.0, true),
            m("thread-pool", 500, 1, 0.0, false),
        ];
        let mut data = data;
        data[1].errors.timeout = 149;
        data[2].errors.reset = 2;
        data[3].unanswered = 14;
        let skipped: HashMap<String, String> = [("tokio".to_string(), "exit status 3".to_string())].into();
        let t = summarize(&cells, &backends, &data, &skipped);
        assert_eq!(t.len(), 2);
        let fig = |cell: usize, b: usize| t[cell].lines[b].figures.clone();

        let epoll = fig(0, 0).unwrap();
        assert_eq!(epoll.req_s, Spread { median: 200_000.0, min: 180_000.0, max: 210_000.0 });
        assert_eq!((epoll.runs, epoll.complete, epoll.ratio, epoll.within_noise), (3, 3, 1.0, false));
        assert_eq!(epoll.errors, 151);
        assert_eq!(epoll.p50_us, Some(200.0));
        assert_eq!(epoll.server_cpu_us, Some(5.0));

        let pool = fig(0, 1).unwrap();
        assert_eq!(pool.req_s, Spread { median: 110_000.0, min: 100_000.0, max: 120_000.0 });
        assert_eq!((pool.runs, pool.complete), (3, 2));
        assert!((pool.ratio - 0.55).abs() < 1e-12);
        assert!(!pool.within_noise);

        let uring = fig(0, 2).unwrap();
        assert!((uring.ratio - 0.975).abs() < 1e-12);
        assert!(uring.within_noise, "190-205k overlaps 180-210k");

        assert_eq!(fig(0, 3), Err("skipped: exit status 3".into()));
        assert_eq!(fig(1, 0).unwrap().ratio, 1.0);
        assert_eq!(fig(1, 1), Err("no complete run of 1".into()));
        assert_eq!(fig(1, 2), Err("not run".into()));

        let text = render_table(&t, 3);
        assert!(text.contains("http, 50 connections\n"), "{text}");
        let line = |b: &str| text.lines().find(|l| l.trim_start().starts_with(b)).unwrap().to_string();
        let e = line("epoll");
        assert!(
            e.contains("200,000") && e.contains("180,000-210,000") && e.ends_with(" 1.00     151"),
            "{e}"
        );
        let p = line("thread-pool");
        assert!(p.contains("110,000") && p.contains("0.55") && p.contains("(2 of 3 runs complete)"), "{p}");
        assert!(line("io-uring").contains(" ~0.97 ") || line("io-uring").contains(" ~0.98 "), "{text}");
        assert!(line("io-uring").ends_with(" 0"), "{text}");
        assert!(line("tokio").contains("n/a (skipped: exit status 3)"), "{text}");

        let failures = render_failures(&data, &[("tokio".into(), "exit status 3".into())]);
        assert!(failures.contains("rep 3, http c=50, thread-pool: incomplete: every connection failed"));
        assert!(failures.contains("rep 1, http c=500, thread-pool"));
        assert!(failures.contains("Skipped backends:\n  tokio: exit status 3"));
        assert!(failures.contains("rep 2, http c=50, epoll: 149 timed out\n"), "{failures}");
        assert!(failures.contains("rep 3, http c=50, epoll: 2 reset or closed\n"), "{failures}");
        assert!(
            failures.contains(
                "Runs with connections never answered in the window (the server left them waiting):\n  \
                 rep 1, http c=50, thread-pool: 14 of 50 connections\n"
            ),
            "{failures}"
        );
        assert!(render_failures(&data[6..9], &[]).is_empty());
    }

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
