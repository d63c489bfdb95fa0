//! The sweep's plan: its flags ([`SweepArgs`]) and lists from the command line, the cells (protocol
//! × connections × size × offered rate), the runs in order (for each
//! repetition, each cell, every backend: interleaved), each with the
//! server's whole command line, the estimate of its time, and the plan as
//! printed.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, ValueEnum};
use platform::cpus::{CpuList, parse_cores};
use protocol::Protocol;

use crate::args::{Io, RunArgs};
use crate::capacity::{self, SearchOptions, Slo};
use crate::csv_row;
use crate::fmt::thousands;

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
    /// over the repetitions and the range of req/s. The default, 6, is the
    /// fewest with which `ringside-results compare` can both call a
    /// difference significant (6 against 6: smallest Mann-Whitney p 0.002;
    /// 3 against 3 can never go below 0.1) and give a 95% confidence
    /// interval of each median (it needs 6 runs).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    pub repetitions: u32,

    /// Measured window of each run, e.g. `2s`, `500ms`.
    #[arg(long, default_value = "2s", value_parser = crate::args::parse_duration)]
    pub duration: Duration,

    /// Load before each run's window, excluded from its results.
    #[arg(long, default_value = "0.5s", value_parser = crate::args::parse_duration)]
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

    /// Skip the context-switch calibration at the start (about a second);
    /// the ctxsw columns then hold 0, with a line saying so.
    #[arg(long)]
    pub no_calibrate: bool,

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
    #[arg(long, value_parser = crate::args::parse_duration)]
    pub timeout: Option<Duration>,

    /// Open loop: busy-poll this long before each due send instead of
    /// sleeping (as `run --spin`; default 0).
    #[arg(long, value_parser = crate::args::parse_duration, value_name = "DURATION")]
    pub spin: Option<Duration>,

    /// When to count system calls by name, the server's (the sweep knows
    /// its pid) and the load threads'. Counting costs time in every
    /// counted call, each passing two kernel tracepoints: about 50 ns more
    /// per call in a getppid loop, about 150 ns of server CPU per call in
    /// a server (+10% server CPU per request measured for epoll's two calls
    /// per request, 3.66 -> 3.98 us, scripts/syscalls-overhead.sh; within
    /// the noise for io-uring's 0.05).
    /// So by default it is kept apart from the runs whose req/s, latency
    /// and CPU the table gives.
    ///
    /// Counting needs root, or kernel.perf_event_paranoid <= 1 and a
    /// readable tracefs (as root, tracefs is mounted at
    /// /sys/kernel/tracing if it is not). Where tracefs cannot be read,
    /// the sweep says so once at its start and `once` makes no counting
    /// runs; where the counters themselves are refused
    /// (kernel.perf_event_paranoid), each counting run says why in its
    /// note and its figure is absent (n/a, never 0).
    ///
    /// With --capacity and `once`: one closed-loop counting run per cell
    /// and backend, at the start of the cell's first repetition; the
    /// probes and the runs at shares of a capacity never count (`every` is
    /// refused there: counting would lower the capacities found).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Syscalls::Once)]
    pub syscalls: Syscalls,

    /// Count no system calls: the same as --syscalls off (and `run
    /// --no-syscalls`).
    #[arg(long, conflicts_with = "syscalls")]
    pub no_syscalls: bool,
}

/// When a sweep counts system calls (`--syscalls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Syscalls {
    /// One extra counting run per cell and backend (a row of phase
    /// `count`), before the cell's repetitions, against its own fresh
    /// server, the backends in turn like a repetition; every other run
    /// counts nothing. The table's syscalls/req comes from the counting
    /// runs, its req/s, latencies and CPU from the other runs alone.
    Once,
    /// Every run counts (no counting runs): its req/s, latencies and CPU
    /// include counting's cost, and the table says so.
    Every,
    /// Nothing is counted: syscalls/req reads n/a.
    Off,
}

impl Syscalls {
    /// The value as `--syscalls` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Syscalls::Once => "once",
            Syscalls::Every => "every",
            Syscalls::Off => "off",
        }
    }
}

impl SweepArgs {
    /// When system calls are counted: `--syscalls`, or `off` for
    /// `--no-syscalls`.
    pub fn syscalls_mode(&self) -> Syscalls {
        if self.no_syscalls { Syscalls::Off } else { self.syscalls }
    }

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
    // Only `every` counts in every run; `once` counts in its counting runs
    // alone (the runner turns counting on for those).
    base.no_syscalls = args.syscalls_mode() != Syscalls::Every;
    base
}

/// The backend whose pool must hold every connection (see [`Plan::new`]).
pub const THREAD_POOL: &str = "thread-pool";

/// The thread pool's smallest size in a sweep: its own default.
pub const POOL_MIN_THREADS: u32 = 64;

/// What a run costs beyond its warm-up and window, for the estimate:
/// starting and stopping the server, connecting, the threads' start, the
/// drain after the window. About 50 ms on the developers' 2-CPU VM (the
/// default sweep: 92.5 s for 36 runs of 2.5 s and a 0.9 s calibration);
/// rounded up for 500 connections on a busier machine.
pub const RUN_OVERHEAD: Duration = Duration::from_millis(100);

/// What a counting run (`--syscalls once`) costs beyond a run, for the
/// estimate: closing its counters, the kernel frees each of the 21
/// tracepoints after a grace period, one at a time under one lock (36-44 ms
/// each on the developers' VM, about 0.8 s in all).
pub const COUNTING_TEARDOWN: Duration = Duration::from_millis(800);

/// Probes a capacity search typically takes (the five of the scan and
/// three or four of bisection with a fair estimate).
pub const TYPICAL_PROBES: usize = 9;

/// The context-switch calibration the sweep runs once: quick (about 0.9 s
/// on the developers' VM, where a cross-CPU hand-off takes about 50 µs),
/// against the 11 × 5000 round trips of `ringside-loadgen ctxsw`.
pub const CALIBRATION_ROUND_TRIPS: u32 = 1000;

pub const CALIBRATION_SAMPLES: u32 = 7;

pub const CALIBRATION_ESTIMATE: Duration = Duration::from_millis(1000);

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

pub(super) fn backend_name(s: &str) -> Result<String, String> {
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
    /// Counting from 1 (a counting run's is 1).
    pub repetition: u32,
    pub cell: Cell,
    pub backend: String,
    /// The server's whole command line, without the program.
    pub server_args: Vec<String>,
    /// A counting run (`--syscalls once`, a row of phase `count`): the one
    /// run of its cell and backend that counts system calls, whose other
    /// figures counting slowed.
    pub count: bool,
}

/// Everything a sweep will run, in order.
#[derive(Clone, Debug)]
pub struct Plan {
    pub backends: Vec<String>,
    pub cells: Vec<Cell>,
    pub repetitions: u32,
    pub runs: Vec<RunSpec>,
    /// Of `runs`, the counting runs (`--syscalls once`): one per cell and
    /// backend, or none.
    pub counting_runs: usize,
    /// When system calls are counted (`--syscalls`), and why they cannot
    /// be here, if that is known (a sweep that runs asks first).
    pub syscalls: Syscalls,
    pub not_counted: Option<String>,
    /// How many runs to expect: `runs`, or for a capacity sweep (whose
    /// `runs` are one per search, and its counting runs) the typical
    /// count, and the most.
    pub expected_runs: usize,
    pub most_runs: usize,
    /// Choices the plan made that a reader should know about.
    pub notes: Vec<String>,
    /// Roughly how long the sweep takes, calibration included.
    pub estimate: Duration,
}

impl Plan {
    /// The runs `args` asks for, given the backends the server knows (in
    /// its order), counting runs included if `--syscalls once` (see
    /// [`Plan::with_counting`]).
    pub fn new(args: &SweepArgs, known: &[String]) -> anyhow::Result<Plan> {
        Plan::with_counting(args, known, None)
    }

    /// The runs `args` asks for, given the backends the server knows (in
    /// its order). Cells are protocol × connections × size (http: one size);
    /// runs are, for each repetition, for each cell, every backend. With
    /// `--syscalls once`, unless counting is `not_counted` here (the
    /// reason), the first repetition's runs of each cell are preceded by a
    /// counting run of every backend in turn.
    ///
    /// The thread pool gets `--threads max(connections, 64)` unless a
    /// `--server-arg` sets its --threads: its workers keep a connection for
    /// life, so a pool smaller than the connection count leaves the extra
    /// connections unanswered by design, which is a separate experiment.
    pub fn with_counting(
        args: &SweepArgs,
        known: &[String],
        not_counted: Option<String>,
    ) -> anyhow::Result<Plan> {
        let backends = chosen_backends(args, known)?;
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
        if args.capacity && args.syscalls_mode() == Syscalls::Every {
            bail!(
                "--capacity --syscalls every: a capacity search's probes are never counted, since counting \
                 slows every counted call and so would lower the capacity found; use --syscalls once (a \
                 closed-loop counting run per cell and backend) or --syscalls off"
            );
        }
        let syscalls = args.syscalls_mode();
        let not_counted = not_counted.filter(|_| syscalls != Syscalls::Off);
        let counting = not_counted.is_none() && syscalls == Syscalls::Once;
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
                // The cell's counting runs, before its first repetition, the
                // backends in turn as in a repetition.
                let kinds: &[bool] = if repetition == 1 && counting { &[true, false] } else { &[false] };
                for (&count, backend) in kinds.iter().flat_map(|k| backends.iter().map(move |b| (k, b))) {
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
                    runs.push(RunSpec {
                        repetition,
                        cell,
                        backend: backend.clone(),
                        server_args: argv,
                        count,
                    });
                }
            }
        }

        let notes = plan_notes(args, &backends);

        let counting_runs = runs.iter().filter(|r| r.count).count();
        // A capacity search: the closed-loop estimate, its probes (typically
        // TYPICAL_PROBES, at most --max-probes), and the runs at 50% and 80%.
        let (expected_runs, most_runs) = if args.capacity {
            let searches = runs.len() - counting_runs;
            (
                searches * (1 + TYPICAL_PROBES + 2) + counting_runs,
                searches * (1 + args.max_probes as usize + 2) + counting_runs,
            )
        } else {
            (runs.len(), runs.len())
        };
        let per_run = args.warmup + args.duration + RUN_OVERHEAD;
        // Every run that counts pays the teardown: the counting runs, or
        // with `every` (where permitted) all of them.
        let counted =
            if syscalls == Syscalls::Every && not_counted.is_none() { expected_runs } else { counting_runs };
        let estimate =
            per_run * expected_runs as u32 + COUNTING_TEARDOWN * counted as u32 + CALIBRATION_ESTIMATE;
        Ok(Plan {
            backends,
            cells,
            repetitions: args.repetitions,
            runs,
            counting_runs,
            syscalls,
            not_counted,
            expected_runs,
            most_runs,
            notes,
            estimate,
        })
    }
}

/// The backends a sweep runs (--backends, or all the server knows, in its
/// order), once every --server-arg is checked against them.
fn chosen_backends(args: &SweepArgs, known: &[String]) -> anyhow::Result<Vec<String>> {
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
        bail!("no backends to run: the server lists none (ringside-server --list-backends)");
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
    Ok(backends)
}

/// The plan's notes: the thread pool's size, and each backend's extra
/// server flags.
fn plan_notes(args: &SweepArgs, backends: &[String]) -> Vec<String> {
    let extra = |backend: &str| -> Vec<String> {
        args.server_args.iter().filter(|a| a.backend == backend).map(|a| a.arg.clone()).collect()
    };
    let mut notes = Vec::new();
    if backends.iter().any(|b| b == THREAD_POOL) {
        if sets_threads(&extra(THREAD_POOL)) {
            notes.push(format!(
                "{THREAD_POOL}: --threads as given by --server-arg; where the pool is smaller than the \
                 connection count, the extra connections are never answered (by design)"
            ));
        } else {
            let sizes: Vec<String> =
                args.connections.0.iter().map(|&c| format!("{c} connections: {}", pool_threads(c))).collect();
            notes.push(format!(
                "{THREAD_POOL}: --threads max(connections, {POOL_MIN_THREADS}) ({}), so every connection \
                 has a worker; a pool smaller than the connection count starves connections by design, a \
                 separate experiment (--server-arg {THREAD_POOL}=--threads=N runs it)",
                sizes.join(", ")
            ));
        }
    }
    for b in backends {
        let extra = extra(b);
        if !extra.is_empty() {
            notes.push(format!("{b}: extra server flags {}", extra.join(" ")));
        }
    }
    notes
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

/// The plan as printed: what runs, how, and how long it should take.
/// `list_runs` adds one line per run (for --dry-run).
pub fn render_plan(plan: &Plan, args: &SweepArgs, server: &Path, base: &RunArgs, list_runs: bool) -> String {
    let mut s = String::new();
    let measured = plan.runs.len() - plan.counting_runs;
    if args.capacity {
        let counting = if plan.counting_runs > 0 {
            format!(
                ", +1 closed-loop counting run per cell and backend (--syscalls once) = {}",
                plan.counting_runs
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "sweep: capacity of {} backends x {} cells x {} repetitions = {measured} searches of about {} runs each \
             (at most {}){counting}; estimated time {} (at most {}, plus the drains of overloaded probes)",
            plan.backends.len(),
            plan.cells.len(),
            plan.repetitions,
            1 + TYPICAL_PROBES + 2,
            1 + args.max_probes + 2,
            fmt_duration(plan.estimate),
            fmt_duration(plan.estimate.mul_f64(plan.most_runs as f64 / plan.expected_runs.max(1) as f64)),
        );
    } else {
        let counting = if plan.counting_runs > 0 {
            format!(", +1 counting run per cell and backend (--syscalls once) = {} runs", plan.runs.len())
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "sweep: {} backends x {} cells x {} repetitions = {measured} runs{counting}; estimated time {}",
            plan.backends.len(),
            plan.cells.len(),
            plan.repetitions,
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
    let _ = writeln!(s, "  system calls: {}", syscalls_plan(plan, args.capacity));
    for note in &plan.notes {
        let _ = writeln!(s, "  {note}");
    }
    let counting = if plan.counting_runs > 0 {
        format!(
            " + {} counting runs x about {} s to free their tracepoints",
            plan.counting_runs,
            COUNTING_TEARDOWN.as_secs_f64()
        )
    } else if plan.syscalls == Syscalls::Every && plan.not_counted.is_none() {
        format!(
            " + about {} s each to free its tracepoints (--syscalls every)",
            COUNTING_TEARDOWN.as_secs_f64()
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  estimate: {} runs x ({} s + about {} s to start, connect and stop){counting} + {} s calibration",
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
             phase=run (the 50% and 80% points){3}",
            100.0 * capacity::KEEP_UP,
            args.slo,
            args.resolution,
            if plan.counting_runs > 0 { ", phase=count (the counting runs)" } else { "" }
        );
    }
    if list_runs {
        let width = plan.runs.len().to_string().len();
        for (i, r) in plan.runs.iter().enumerate() {
            let what = if r.count { "count".to_string() } else { format!("rep {}", r.repetition) };
            let _ = writeln!(
                s,
                "  {:>width$}  {what:<6} {:<14} ringside-server {}",
                i + 1,
                r.cell.short(),
                r.server_args.join(" ")
            );
        }
    }
    s
}

/// What the plan says of counting system calls: when, and what it costs.
fn syscalls_plan(plan: &Plan, capacity: bool) -> String {
    match (plan.syscalls, &plan.not_counted) {
        (Syscalls::Off, _) => "not counted (--syscalls off); syscalls/req reads n/a".to_string(),
        (Syscalls::Once, Some(why)) => {
            format!("{why}; so no counting runs (--syscalls once), and syscalls/req reads n/a")
        }
        (Syscalls::Every, Some(why)) => format!("{why} (--syscalls every); syscalls/req reads n/a"),
        (Syscalls::Once, None) if capacity => "counted (by name, the server's and the load threads') in a \
             closed-loop counting run per cell and backend before the cell's first search (phase=count): \
             counting slows every counted call, so the probes and the runs at shares of a capacity count \
             none (--syscalls once)"
            .to_string(),
        (Syscalls::Once, None) => "counted (by name, the server's and the load threads') in one counting \
             run per cell and backend, before the cell's first repetition (phase=count): counting slows \
             every counted call, so the other runs, whose req/s, latency and CPU the table gives, count \
             none (--syscalls once)"
            .to_string(),
        (Syscalls::Every, None) => "counted in every run (--syscalls every): counting slows every counted \
             call, so the req/s, latency and CPU figures include its cost"
            .to_string(),
    }
}

/// `1 min 38 s`, `42 s`, `1.4 s`.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        return format!("{:.1} s", d.as_secs_f64());
    }
    let secs = d.as_secs_f64().round() as u64;
    if secs < 60 { format!("{secs} s") } else { format!("{} min {} s", secs / 60, secs % 60) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::tests::{args, known, plan};

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
    fn default_plan() {
        let p = plan(&[]);
        assert_eq!(p.backends, known());
        assert_eq!((p.runs.len(), p.counting_runs, p.syscalls), (72 + 12, 12, Syscalls::Once));
        let order: Vec<(u32, u32, &str, bool)> =
            p.runs.iter().map(|r| (r.repetition, r.cell.connections, r.backend.as_str(), r.count)).collect();
        let mut expected = Vec::new();
        for rep in 1..=6 {
            for c in [50, 500] {
                // Each cell's counting runs before its first repetition.
                let counts: &[bool] = if rep == 1 { &[true, false] } else { &[false] };
                for &count in counts {
                    for b in ["thread-per-conn", "thread-pool", "epoll", "io-uring", "tokio", "tokio-uring"] {
                        expected.push((rep, c, b, count));
                    }
                }
            }
        }
        assert_eq!(order, expected);
        assert!(p.runs.iter().all(|r| r.cell.protocol == Protocol::Http && r.cell.size.is_none()));
        // 84 runs of 2.5 s and their overhead, and the calibration.
        assert!(
            p.estimate >= Duration::from_secs(210) && p.estimate <= Duration::from_secs(230),
            "{:?}",
            p.estimate
        );
        // A counting run's server is the same as its cell's runs'.
        assert_eq!(p.runs[0].server_args, p.runs[6].server_args);
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
        assert_eq!(p.runs.len(), 5 * 6 + 5, "6 repetitions of each cell and its counting run");
        // A subset of backends keeps the order given.
        let p = plan(&["--backends", "tokio,epoll", "--repetitions", "1"]);
        let b: Vec<&str> = p.runs.iter().map(|r| r.backend.as_str()).collect();
        // (Each of the two cells: the counting runs, then the repetition.)
        assert_eq!(b, ["tokio", "epoll", "tokio", "epoll", "tokio", "epoll", "tokio", "epoll"]);
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
    fn syscalls_once_every_or_off() {
        use std::path::Path;
        let small = ["--backends", "epoll,io-uring", "--connections", "50", "--repetitions", "3"];
        let with =
            |extra: &[&str]| -> Vec<String> { small.iter().chain(extra).map(|s| s.to_string()).collect() };
        let of = |extra: &[&str]| {
            let argv = with(extra);
            plan(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        };
        fn kinds(p: &Plan) -> Vec<(u32, &str, bool)> {
            p.runs.iter().map(|r| (r.repetition, r.backend.as_str(), r.count)).collect()
        }
        let once = of(&[]);
        assert_eq!(
            kinds(&once),
            [
                (1, "epoll", true),
                (1, "io-uring", true),
                (1, "epoll", false),
                (1, "io-uring", false),
                (2, "epoll", false),
                (2, "io-uring", false),
                (3, "epoll", false),
                (3, "io-uring", false),
            ]
        );
        assert_eq!((once.counting_runs, once.expected_runs), (2, 8));
        for extra in [&["--syscalls", "every"][..], &["--syscalls", "off"], &["--no-syscalls"]] {
            let p = of(extra);
            assert_eq!((p.runs.len(), p.counting_runs), (6, 0), "{extra:?}");
            assert!(p.runs.iter().all(|r| !r.count), "{extra:?}");
        }
        // Off: fewer runs, no teardown; every: the same runs as off, each
        // paying the teardown.
        let off = of(&["--syscalls", "off"]).estimate;
        assert!(off < once.estimate);
        assert_eq!(of(&["--syscalls", "every"]).estimate, off + COUNTING_TEARDOWN * 6);
        assert_eq!(of(&["--no-syscalls"]).syscalls, Syscalls::Off);
        assert_eq!(args(&["--syscalls", "every"]).syscalls_mode(), Syscalls::Every);
        // --no-syscalls is --syscalls off, and cannot be given with it.
        let both = with(&["--no-syscalls", "--syscalls", "once"]);
        let parse = crate::sweep::tests::try_args(&both.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(parse.unwrap_err().contains("cannot be used with"));
        // The runs count only with `every`; `once` turns it on for its
        // counting runs alone.
        assert!(base_run_args(&args(&[])).no_syscalls);
        assert!(!base_run_args(&args(&["--syscalls", "every"])).no_syscalls);
        assert!(base_run_args(&args(&["--syscalls", "off"])).no_syscalls);

        // Counting not permitted here: no counting runs, and the plan says why.
        let why = "system calls not counted: tracefs is not mounted".to_string();
        let a = args(&with(&[]).iter().map(String::as_str).collect::<Vec<_>>());
        let denied = Plan::with_counting(&a, &known(), Some(why.clone())).unwrap();
        assert_eq!((denied.runs.len(), denied.counting_runs), (6, 0));
        let text = render_plan(&denied, &a, Path::new("ringside-server"), &base_run_args(&a), false);
        assert!(text.contains(&format!("system calls: {why}; so no counting runs")), "{text}");
        assert!(text.contains("= 6 runs; estimated time"), "{text}");

        // The plan says so, and lists them.
        let text = render_plan(&once, &a, Path::new("ringside-server"), &base_run_args(&a), true);
        assert!(
            text.contains(
                "2 backends x 1 cells x 3 repetitions = 6 runs, +1 counting run per cell and backend \
                 (--syscalls once) = 8 runs; estimated time"
            ),
            "{text}"
        );
        assert!(text.contains("  estimate: 8 runs x "), "{text}");
        assert!(
            text.contains("counted (by name, the server's and the load threads') in one counting run"),
            "{text}"
        );
        assert!(text.contains("  1  count  http c=50      ringside-server --backend epoll"), "{text}");
        assert!(text.contains("  3  rep 1  http c=50      ringside-server --backend epoll"), "{text}");
        let every = args(&with(&["--syscalls", "every"]).iter().map(String::as_str).collect::<Vec<_>>());
        let text =
            render_plan(&of(&["--syscalls", "every"]), &every, Path::new("s"), &base_run_args(&every), false);
        assert!(text.contains("counted in every run (--syscalls every)"), "{text}");
        assert!(!text.contains("counting run per cell"), "{text}");

        // An offered-load grid: a counting run per rate, at that rate.
        let grid = of(&["--rates", "1k,2k"]);
        let counts: Vec<(Option<u64>, &str)> =
            grid.runs.iter().filter(|r| r.count).map(|r| (r.cell.rate, r.backend.as_str())).collect();
        assert_eq!(
            counts,
            [
                (Some(1000), "epoll"),
                (Some(1000), "io-uring"),
                (Some(2000), "epoll"),
                (Some(2000), "io-uring")
            ]
        );
        assert_eq!(grid.runs[..4].iter().filter(|r| r.count).count(), 2, "each before its own cell's runs");

        // Capacity: a closed-loop counting run per cell and backend; every is refused.
        let capacity = of(&["--capacity"]);
        assert_eq!((capacity.runs.len(), capacity.counting_runs), (8, 2));
        assert_eq!(capacity.expected_runs, 6 * (1 + TYPICAL_PROBES + 2) + 2);
        let c = args(&with(&["--capacity"]).iter().map(String::as_str).collect::<Vec<_>>());
        let text = render_plan(&capacity, &c, Path::new("s"), &base_run_args(&c), false);
        assert!(text.contains("= 6 searches of about 12 runs each (at most 19), +1 closed-loop counting run per cell and backend (--syscalls once) = 2;"), "{text}");
        assert!(text.contains("phase=count (the counting runs)"), "{text}");
        let e = format!(
            "{:#}",
            Plan::new(
                &args(
                    &with(&["--capacity", "--syscalls", "every"])
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                ),
                &known()
            )
            .unwrap_err()
        );
        assert!(e.contains("probes are never counted") && e.contains("--syscalls once"), "{e}");
        assert_eq!(of(&["--capacity", "--syscalls", "off"]).counting_runs, 0);
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
}
