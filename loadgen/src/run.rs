//! `ringside-loadgen run`: drive one server, measure, report.
//!
//! Order of events: check that results can be written; read the server's
//! counters (which also names its backend, and fails early on a protocol
//! mismatch); connect every connection; start the pinned threads; at the
//! end of the warm-up read the server's and our own counters; print one
//! progress line a second; at the end (or on Ctrl-C, or when every
//! connection has failed) read the counters again, merge the threads'
//! histograms and report. Whatever was measured is reported and written,
//! flagged incomplete when the run was cut short. A server that keeps no
//! counters (`--server-pid`) has its CPU time and switches read from
//! `/proc` at the same two moments instead ([`crate::proc_usage`]).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use protocol::{Protocol, Stats, Work};

use crate::engine::{self, Arrival, Engine, Errors, Interval, Mode, Outcome, Plan};
use crate::proc_usage::Usage;
use crate::proto::Shape;
use crate::server_stats::{self, PerRequest, Source};

/// Drive a server with load and measure it.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Server address, `host:port`.
    #[arg(long, short = 'a', default_value = "127.0.0.1:7878")]
    pub target: String,

    /// Protocol the server speaks.
    #[arg(long, short, default_value = "http", value_parser = platform::cli::protocol_parser())]
    pub protocol: Protocol,

    /// Connections, spread over the threads.
    #[arg(long, short, default_value_t = 50)]
    pub connections: u32,

    /// Load threads, each one event loop (default: one per CPU of --cores,
    /// else 1).
    #[arg(long, short)]
    pub threads: Option<usize>,

    /// CPUs to pin the load threads to, e.g. `1` or `2-3` (round robin).
    /// Default: no pinning.
    #[arg(long, value_parser = platform::cpus::parse_cores, value_name = "LIST")]
    pub cores: Option<platform::cpus::CpuList>,

    /// Requests outstanding per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: u32,

    /// Open loop: this many requests per second in total, on schedule
    /// whatever the answers do. Without it: closed loop. The summary and
    /// the CSV then give the offered rate (the window's requests ÷ the
    /// window), the sent rate, and the achieved rate (answers received in
    /// the window ÷ the window: what the server did); achieved below 98% of
    /// offered is a shortfall (a WARNING, `rate_shortfall`). Also the send
    /// lag: how late the load generator itself sent (docs/OPEN-LOOP.md).
    #[arg(long, value_name = "REQ/S")]
    pub rate: Option<f64>,

    /// Open-loop arrival process.
    #[arg(long, value_enum, default_value_t = ArrivalArg::Poisson)]
    pub arrival: ArrivalArg,

    /// Length of the measured window (after the warm-up), e.g. `10s`,
    /// `500ms`, `2m`.
    #[arg(long, short, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// End the window after this many requests (at most --duration).
    #[arg(long)]
    pub requests: Option<u64>,

    /// Load before the window, excluded from every result.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// echo: bytes per message; rr: payload bytes per request.
    #[arg(long, default_value_t = 128)]
    pub request_bytes: u32,

    /// rr: payload bytes per response.
    #[arg(long, default_value_t = 128)]
    pub response_bytes: u32,

    /// rr: server work per request, `spin:<N>ns` or `sleep:<N>us`.
    #[arg(long, value_parser = parse_work)]
    pub work: Option<Work>,

    /// A request on the wire unanswered this long breaks its connection (a
    /// timeout). Open loop: a request of the window still unsent or
    /// unanswered this long after its intended send time is a timeout too,
    /// so the run ends at most this long after the window.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The server's --stats-listen address, to read its counters there
    /// (needed for echo).
    #[arg(long, value_name = "ADDR")]
    pub stats: Option<SocketAddr>,

    /// Do not read the server's counters: for servers that are not
    /// ringside's (nginx, a hand-written one), which do not answer
    /// `GET /stats` or an rr STATS request with them. The run then reports
    /// no server CPU or context switches per request (give --server-pid
    /// instead to read them from /proc), and no backend; its responses are
    /// still checked as always.
    #[arg(long, conflicts_with = "stats")]
    pub no_server_counters: bool,

    /// Read a server's CPU time and context switches from /proc instead of
    /// its counters: for a server on this host that keeps none (nginx, a
    /// hand-written one). At the window's start and end, where a ringside
    /// server's counters are read: utime + stime of the process (every
    /// thread, exited ones included) and of the children it waited for,
    /// from /proc/PID/stat (10 ms ticks), and each live thread's voluntary
    /// and involuntary switches from /proc/PID/task/*/status. Per request
    /// over the answers received in the window. Repeat for a server of
    /// several processes (nginx's master and worker). No counters are read
    /// from the server, as with --no-server-counters.
    #[arg(long = "server-pid", value_name = "PID", conflicts_with_all = ["stats", "no_server_counters"])]
    pub server_pid: Vec<u32>,

    /// Append one result row to this CSV file (header once).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Write an HdrHistogram interval log (one histogram a second).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// Write the percentile distribution (HdrHistogram .hgrm format, ms).
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,

    /// CPUs of the quick context-switch calibration run before the load
    /// (same-CPU switches on the first): use the server's CPU first.
    #[arg(long, value_name = "A,B", default_value = "0,1", value_parser = crate::ctxsw::parse_cpu_pair)]
    pub calibrate_cpus: [usize; 2],

    /// Skip the calibration (the summary then cannot say how much of the
    /// server's CPU went to switching).
    #[arg(long)]
    pub no_calibrate: bool,

    /// Figures measured elsewhere (e.g. once per sweep): used instead of
    /// calibrating.
    #[arg(skip)]
    pub known_calibration: Option<SwitchCost>,

    /// The load threads' event loop.
    #[arg(long, value_enum, default_value_t = Io::IoUring)]
    pub io: Io,

    /// Open loop: busy-poll for this long before each send that is due,
    /// instead of sleeping until it (`100us`; default 0: sleep). An idle
    /// CPU wakes up late (tens of µs on a VM), and that lateness is send
    /// lag charged to the server as latency; spinning removes it, at the
    /// cost of CPU time, which the client's CPU per request then includes.
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub spin: Duration,

    /// Begin at this wall-clock time (connect, then warm up), so that load
    /// generators on several hosts start together: RFC 3339 in UTC
    /// (`2026-11-21T22:00:05Z`, a fraction allowed), unix seconds
    /// (`1795298405`, a fraction allowed) or `+SECONDS` from now (`+5`). The
    /// server's counters are read and the calibration runs before the wait;
    /// Ctrl-C ends it. A time more than an hour ahead, or more than a second
    /// past when the run starts, is refused. Synchronise the hosts' clocks
    /// (NTP): each waits by its own.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    pub start_at: Option<SystemTime>,

    /// The CSV row's `run_id` (default: the window's start time). Give the
    /// load generators that drive one server together the same one, so that
    /// `ringside-results merge` knows their rows belong together.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Seed of the open-loop arrival process.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What a context switch costs here, in ns (`ringside-loadgen ctxsw`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SwitchCost {
    pub same_cpu_ns: f64,
    pub cross_cpu_ns: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Io {
    /// Edge-triggered epoll, a read and a write per request.
    Epoll,
    /// io_uring: multishot recv from a buffer ring, sends batched, one
    /// io_uring_enter per turn.
    IoUring,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArrivalArg {
    /// Exponentially distributed gaps (a Poisson process).
    Poisson,
    /// Equal gaps.
    Uniform,
}

/// `10s`, `500ms`, `250us`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration `{s}`: expected a number with ms, s, m or us, e.g. 10s");
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = number.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// How far ahead `--start-at` may be: a longer wait is more likely a
/// mistake (a wrong date or time zone) than a plan.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// How far in the past `--start-at` may be when the run starts: the hosts'
/// clocks and their launchers differ by a little.
pub const MAX_START_LATE: Duration = Duration::from_secs(1);

/// `--start-at`: RFC 3339 UTC, unix seconds, or `+SECONDS` from now.
pub fn parse_start_at(s: &str) -> Result<SystemTime, String> {
    let s = s.trim();
    let seconds = |n: &str| -> Option<Duration> {
        let v: f64 = n.parse().ok()?;
        (v.is_finite() && v >= 0.0 && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .then(|| Duration::try_from_secs_f64(v).ok())?
    };
    let parsed = if let Some(n) = s.strip_prefix('+') {
        // Checked: a time past what the clock can hold is bad input, not a
        // panic.
        seconds(n).and_then(|d| SystemTime::now().checked_add(d))
    } else if s.contains('T') {
        results::parse_timestamp_utc(s)
    } else {
        seconds(s).and_then(|d| UNIX_EPOCH.checked_add(d))
    };
    parsed.ok_or_else(|| {
        format!(
            "bad time `{s}`: expected RFC 3339 in UTC (2026-11-21T22:00:05Z), unix seconds (1795298405) or \
             +SECONDS from now (+5)"
        )
    })
}

/// How long to wait from `now` for `--start-at` `at`, or why not to.
pub fn start_wait(at: SystemTime, now: SystemTime) -> anyhow::Result<Duration> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_START_AHEAD => bail!(
            "--start-at {} is {:.0} s from now ({}), more than the {} s allowed: check the date, and that it \
             is in UTC",
            results::timestamp_utc(at),
            ahead.as_secs_f64(),
            results::timestamp_utc(now),
            MAX_START_AHEAD.as_secs()
        ),
        Ok(ahead) => Ok(ahead),
        Err(e) if e.duration() > MAX_START_LATE => bail!(
            "--start-at {} passed {:.1} s ago (now {}): give a later time, or more time to start every load \
             generator (are the hosts' clocks synchronised?)",
            results::timestamp_utc(at),
            e.duration().as_secs_f64(),
            results::timestamp_utc(now)
        ),
        Err(_) => Ok(Duration::ZERO),
    }
}

/// Sleep until `at` by the wall clock, in short steps so a stop is seen.
fn wait_until(at: SystemTime, stop: &AtomicBool) -> anyhow::Result<()> {
    loop {
        let Ok(left) = at.duration_since(SystemTime::now()) else { return Ok(()) };
        if left.is_zero() {
            return Ok(());
        }
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted while waiting for --start-at {}", results::timestamp_utc(at));
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// `spin:<N>ns` or `sleep:<N>us`, within the bounds an rr request has (the
/// protocol core's parser, which the server's `--request-work` uses too).
pub fn parse_work(s: &str) -> Result<Work, String> {
    s.parse()
}

/// The results CSV's `work` column: `none`, or the work as the core writes it.
pub fn describe_work(work: Option<Work>) -> String {
    work.map_or_else(|| "none".into(), |w| w.to_string())
}

/// Everything a run measured.
pub struct Report {
    pub args: RunArgs,
    pub addr: SocketAddr,
    pub threads: usize,
    pub server_before: Option<Stats>,
    pub server_after: Option<Stats>,
    /// The server's figures per request, over the window (counters read at
    /// its start and its end).
    pub server: Option<PerRequest>,
    /// The load generator's own figures per request, over the window.
    pub client: PerRequest,
    /// Corrected latencies of the window's requests, ns.
    pub corrected: Histogram<u64>,
    /// Their raw latencies, ns.
    pub raw: Histogram<u64>,
    /// Send lag of the window's requests (open loop), ns.
    pub lag: Histogram<u64>,
    /// The window's requests answered in time, in the window or after it.
    pub completed: u64,
    /// Of `completed`, answered after the window (in the drain).
    pub late: u64,
    /// Answers received during the window, to any request.
    pub answered_in_window: u64,
    /// Requests the schedule put in the window (closed loop: sent in it).
    pub scheduled: u64,
    /// Requests written during the window.
    pub sent_in_window: u64,
    pub errors: Errors,
    /// Answers received during the window by each connection that had a
    /// request outstanding in it or was answered in it, ascending.
    pub answers_per_conn: Vec<u64>,
    /// Connections that had a request outstanding during the window and no
    /// answer from its start to the end of the run.
    pub conns_unanswered: usize,
    /// The measured window, as it ran.
    pub window: Duration,
    /// How long the run went on after the window, waiting for its answers.
    pub drain: Duration,
    pub window_started: std::time::SystemTime,
    /// Why the run is incomplete, if it is.
    pub incomplete: Option<String>,
    pub notes: Vec<String>,
    pub shape: Shape,
    /// The context-switch calibration, if measured or given.
    pub switch_cost: Option<SwitchCost>,
}

/// When the server's two counter snapshots were taken, as far as the load
/// generator can tell. A snapshot is taken somewhere between a read's
/// request and its answer; a server whose threads are all busy may take
/// long to answer (a thread pool queues the connection; under 500 runnable
/// threads the stats thread waits its turn), so the snapshots may cover
/// less of the window than the reads suggest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshots {
    /// At most this long after the window started, the first snapshot.
    pub first_late: Duration,
    /// At most this long after the load ended, the second.
    pub second_late: Duration,
}

impl Snapshots {
    /// `before`: the first read took this long, sent as the window started;
    /// `after_sent`: the second read was sent this long after the window
    /// started (after the load ended) and took `after`; `interval`: the
    /// server's own clock between the snapshots (Δ`uptime_us`). The first
    /// snapshot is no later than its answer, nor than the second snapshot
    /// minus `interval`.
    pub fn new(before: Duration, after_sent: Duration, after: Duration, interval: Duration) -> Snapshots {
        let first_late = before.min((after_sent + after).saturating_sub(interval));
        Snapshots { first_late, second_late: after }
    }

    /// Whether the figures between the snapshots describe `window`: the
    /// first snapshot at most a quarter of the window late (the figures
    /// then cover at least its last three quarters, at a steady load the
    /// same per request), the second at most a quarter of it after the
    /// load (time in which the server served nothing). At least 20 ms
    /// either way: a connection and two syscalls on a loaded machine.
    pub fn describe(&self, window: Duration) -> bool {
        let allowed = (window / 4).max(Duration::from_millis(20));
        self.first_late <= allowed && self.second_late <= allowed
    }
}

/// Open loop falls short when it achieves less than this share of the
/// offered rate.
pub const SHORTFALL_BELOW: f64 = 0.98;

/// The send lag's p99 is worth a warning above this share of the corrected
/// p99: the corrected figure then says as much about the load generator as
/// about the server.
pub const LAG_WARNING_SHARE: f64 = 0.2;

impl Report {
    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Answers received in the window ÷ the window: what the server did.
    pub fn achieved_rate(&self) -> f64 {
        self.per_second(self.answered_in_window)
    }

    /// The window's requests ÷ the window: the schedule (closed loop: what
    /// was sent).
    pub fn offered_rate(&self) -> f64 {
        self.per_second(self.scheduled)
    }

    /// Requests written in the window ÷ the window.
    pub fn sent_rate(&self) -> f64 {
        self.per_second(self.sent_in_window)
    }

    /// Open loop achieved less than [`SHORTFALL_BELOW`] of what it offered.
    pub fn rate_shortfall(&self) -> bool {
        self.args.rate.is_some() && self.achieved_rate() < SHORTFALL_BELOW * self.offered_rate()
    }

    /// Open loop whose send lag p99 is more than [`LAG_WARNING_SHARE`] of
    /// the corrected p99.
    pub fn lag_warning(&self) -> bool {
        self.args.rate.is_some()
            && !self.lag.is_empty()
            && !self.corrected.is_empty()
            && self.lag.value_at_quantile(0.99) as f64
                > LAG_WARNING_SHARE * self.corrected.value_at_quantile(0.99) as f64
    }
}

/// What the run's checks and the server's first counters gave.
struct Setup {
    addr: SocketAddr,
    threads: usize,
    cores: Vec<usize>,
    shape: Shape,
    source: Option<Source>,
    notes: Vec<String>,
    switch_cost: Option<SwitchCost>,
}

/// Run the load described by `args` and return what it measured. Errors
/// that stop a run before it measures anything are `Err`; a run cut short
/// returns its partial report with `incomplete` set.
///
/// The steps: [`validate`] the arguments; [`first_counters`] (which also
/// proves the server speaks the protocol); the context-switch calibration
/// and `--start-at`; [`connect`]; [`spawn_load`]; [`window`] (the server's
/// and our counters at its start and end, progress lines); [`collect`].
pub fn run(args: &RunArgs, stop: Arc<AtomicBool>) -> anyhow::Result<Report> {
    let mut setup = validate(args)?;
    first_counters(args, &mut setup)?;
    setup.switch_cost = calibration(args, &mut setup.notes);
    if let Some(at) = args.start_at {
        wait_until(at, &stop)?;
        if let Ok(late) = SystemTime::now().duration_since(at)
            && late > Duration::from_millis(10)
        {
            setup.notes.push(format!(
                "started {} after --start-at {} (the counters' read and the calibration took longer)",
                crate::report::fmt_us(late.as_secs_f64() * 1e6),
                results::timestamp_utc(at)
            ));
        }
    }
    let (streams, connect_failures) = connect(args, &mut setup)?;
    let load = spawn_load(args, &setup, streams, &stop)?;
    let window = window(args, &setup, &load.rx, &stop, load.window_start, &load.clock);
    collect(args, setup, load, window, connect_failures, &stop)
}

/// Check the arguments; resolve the target.
fn validate(args: &RunArgs) -> anyhow::Result<Setup> {
    let addr = resolve(&args.target)?;
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.pipeline == 0 {
        bail!("--pipeline must be at least 1");
    }
    if let Some(rate) = args.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        bail!("--rate must be a positive number of requests per second");
    }
    if args.work.is_some() && args.protocol != Protocol::Rr {
        bail!("--work applies to --protocol rr only");
    }
    if args.protocol == Protocol::Echo && args.request_bytes == 0 {
        bail!("--request-bytes must be at least 1 for echo");
    }
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    if let Some(at) = args.start_at {
        start_wait(at, SystemTime::now())?;
    }
    let cores = args.cores.as_ref().map(|c| c.0.clone()).unwrap_or_default();
    let threads = args.threads.unwrap_or(cores.len().max(1)).clamp(1, args.connections as usize);
    let shape = Shape {
        protocol: args.protocol,
        request_bytes: args.request_bytes,
        response_bytes: args.response_bytes,
        work: args.work,
        host: addr.to_string(),
    };
    let source = if args.no_server_counters || !args.server_pid.is_empty() {
        None
    } else {
        Source::new(addr, args.protocol, args.stats)
    };
    Ok(Setup { addr, threads, cores, shape, source, notes: Vec::new(), switch_cost: None })
}

/// Read the server's counters once before any load: for rr and http this
/// proves it speaks the protocol asked for, and a refused connection is
/// the clear error that nothing listens there.
fn first_counters(args: &RunArgs, setup: &mut Setup) -> anyhow::Result<()> {
    let addr = setup.addr;
    let first = match &setup.source {
        Some(s) => match s.read() {
            Ok(stats) => Some(stats),
            Err(e) if is_refused(&e) => {
                let what = match s {
                    Source::InBand { .. } => format!("nothing listens on {addr}: start a server there first"),
                    Source::Side(side) => {
                        format!(
                            "nothing listens on the stats address {side}: check the server's --stats-listen"
                        )
                    }
                };
                return Err(e.context(what));
            }
            Err(e) => return Err(e),
        },
        None if args.no_server_counters => {
            setup.notes.push("server counters not read (--no-server-counters)".to_string());
            None
        }
        None if !args.server_pid.is_empty() => {
            // The processes must exist now: a wrong pid is an error before
            // any load, not a run without figures.
            Usage::read(&args.server_pid)
                .context("--server-pid wants the process id of a server running on this host")?;
            let named: Vec<String> =
                args.server_pid.iter().map(|&p| format!("{p} ({})", Usage::name(p))).collect();
            setup.notes.push(format!(
                "server counters not read; server CPU and switches from /proc of pid {} (--server-pid), per \
                 answer received in the window",
                named.join(", ")
            ));
            None
        }
        None => {
            setup.notes.push("server counters unavailable: echo carries none (pass --stats)".to_string());
            None
        }
    };
    if let Some(stats) = &first
        && stats.protocol != args.protocol.name()
    {
        bail!(
            "the server at {addr} speaks {}, not {}; pass --protocol {}",
            stats.protocol,
            args.protocol,
            stats.protocol
        );
    }
    Ok(())
}

/// What a switch costs, before any load (it would disturb the figure).
fn calibration(args: &RunArgs, notes: &mut Vec<String>) -> Option<SwitchCost> {
    match (args.known_calibration, args.no_calibrate) {
        (Some(known), _) => Some(known),
        (None, true) => None,
        (None, false) => match crate::ctxsw::calibrate(&crate::ctxsw::Options::quick(args.calibrate_cpus)) {
            Ok(c) => {
                Some(SwitchCost { same_cpu_ns: c.same_cpu_switch_ns, cross_cpu_ns: c.cross_cpu_wakeup_ns })
            }
            Err(e) => {
                notes.push(format!("no context-switch calibration: {e:#}"));
                None
            }
        },
    }
}

/// Connect everything before any load. Connections that fail to connect
/// are returned (and the run goes on with the rest); none at all is an
/// error.
fn connect(args: &RunArgs, setup: &mut Setup) -> anyhow::Result<(Vec<TcpStream>, Vec<std::io::Error>)> {
    let addr = setup.addr;
    let mut streams = Vec::with_capacity(args.connections as usize);
    let mut failures: Vec<std::io::Error> = Vec::new();
    for _ in 0..args.connections {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                s.set_nodelay(true)?;
                streams.push(s);
            }
            Err(e) => failures.push(e),
        }
    }
    if streams.is_empty() {
        let e = failures.pop().expect("at least one connection was asked for");
        let hint = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            format!("nothing listens on {addr}: start a server there first")
        } else {
            format!("no connection to {addr} could be made")
        };
        return Err(anyhow::Error::new(e).context(hint));
    }
    if let Some(e) = failures.first() {
        setup.notes.push(format!(
            "{} of {} connections could not connect ({e}); the run used {}",
            failures.len(),
            args.connections,
            streams.len()
        ));
    }
    setup.threads = setup.threads.min(streams.len());
    Ok((streams, failures))
}

/// The load threads, running.
struct Load {
    clock: quanta::Clock,
    window_start: u64,
    rx: mpsc::Receiver<Interval>,
    handles: Vec<std::thread::JoinHandle<anyhow::Result<Outcome>>>,
}

/// Start one pinned load thread per share of the connections, each with
/// its engine and driver; they warm up, measure the window and drain.
fn spawn_load(
    args: &RunArgs,
    setup: &Setup,
    streams: Vec<TcpStream>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Load> {
    let threads = setup.threads;
    let clock = quanta::Clock::new();
    let second = engine::ticks_per_second(&clock) as u64;
    let to_ticks = |d: Duration| (d.as_secs_f64() * second as f64) as u64;
    // A moment for the threads to start before the warm-up counts.
    let start = clock.raw() + to_ticks(Duration::from_millis(20));
    let window_start = start + to_ticks(args.warmup);
    let window_end = window_start + to_ticks(args.duration);
    let (tx, rx) = mpsc::channel::<Interval>();
    let mut per_thread: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        per_thread[i % threads].push(s);
    }
    let mut handles = Vec::new();
    for (t, socks) in per_thread.into_iter().enumerate() {
        let mode = match args.rate {
            None => Mode::Closed,
            Some(rate) => Mode::Open {
                rate: rate / threads as f64,
                arrival: match args.arrival {
                    ArrivalArg::Poisson => Arrival::Poisson,
                    ArrivalArg::Uniform => Arrival::Uniform,
                },
            },
        };
        let plan = Plan {
            shape: setup.shape.clone(),
            pipeline: args.pipeline,
            mode,
            window_start,
            window_end,
            budget: args.requests.map(|r| r / threads as u64 + u64::from((t as u64) < r % threads as u64)),
            timeout: to_ticks(args.timeout),
            second,
            spin: to_ticks(args.spin),
            seed: args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(t as u64),
        };
        let cores = &setup.cores;
        let (clock, stop, tx, core) =
            (clock.clone(), Arc::clone(stop), tx.clone(), cores.get(t % cores.len().max(1)).copied());
        let io = args.io;
        let handle = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || -> anyhow::Result<Outcome> {
                if let Some(id) = core
                    && !core_affinity::set_for_current(core_affinity::CoreId { id })
                {
                    bail!("cannot pin load thread {t} to CPU {id}");
                }
                // Wake-ups on time: the default 50 us of timer slack would
                // be charged to the server as latency.
                rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1))
                    .context("prctl(PR_SET_TIMERSLACK)")?;
                let n = socks.len();
                let mut engine = Engine::new(plan, clock, n);
                match io {
                    Io::Epoll => crate::drive_epoll::drive(&mut engine, socks, &stop, &tx)?,
                    Io::IoUring => crate::drive_uring::drive(&mut engine, socks, &stop, &tx)?,
                }
                let (outcome, intervals) = engine.finish();
                for interval in intervals {
                    let _ = tx.send(interval);
                }
                Ok(outcome)
            })
            .context("cannot start a load thread")?;
        handles.push(handle);
    }
    Ok(Load { clock, window_start, rx, handles })
}

/// The counters around the window.
struct Window {
    started: SystemTime,
    started_at: Instant,
    client_before: Stats,
    client_after: Stats,
    server_before: Option<Stats>,
    server_after: Option<Stats>,
    /// `--server-pid`: the server's /proc figures at the window's start
    /// and end.
    proc_before: Option<Usage>,
    proc_after: Option<Usage>,
    /// How long the first and the second read of the server's counters
    /// took, and when (since the window's start) the second was sent.
    read_before: Duration,
    read_after: Duration,
    after_sent: Duration,
}

/// Read the counters at the window's start; print the progress lines as
/// the threads report their seconds; read the counters again when the
/// window ends (or the load stops before), so the figures per request are
/// the window's, not the drain's.
fn window(
    args: &RunArgs,
    setup: &Setup,
    rx: &mpsc::Receiver<Interval>,
    stop: &AtomicBool,
    window_start: u64,
    clock: &quanta::Clock,
) -> (Window, Progress) {
    let now = clock.raw();
    if window_start > now {
        std::thread::sleep(Duration::from_nanos(clock.delta_as_nanos(now, window_start)));
    }
    let started = SystemTime::now();
    let started_at = Instant::now();
    let client_before = server_stats::own_usage();
    let mut notes = Vec::new();
    let read_started = Instant::now();
    let server_before = match &setup.source {
        Some(s) => match s.read() {
            Ok(stats) => Some(stats),
            Err(e) => {
                notes.push(format!("server counters unavailable at the start: {e:#}"));
                None
            }
        },
        None => None,
    };
    let read_before = read_started.elapsed();
    let proc_before = read_proc(&args.server_pid, "start", &mut notes);
    let mut progress =
        match Progress::new(setup.threads, args.hlog.as_deref(), started, args.quiet, args.duration) {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("{e:#}"));
                Progress::new(setup.threads, None, started, args.quiet, args.duration)
                    .expect("no log to create")
            }
        };
    // Until the window's planned end, or until every thread has ended.
    loop {
        let left = args.duration.saturating_sub(started_at.elapsed());
        if left.is_zero() || stop.load(Ordering::Relaxed) {
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(interval) => progress.add(interval),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let client_after = server_stats::own_usage();
    let after_sent = started_at.elapsed();
    let read_started = Instant::now();
    let server_after = match (&setup.source, &server_before) {
        (Some(s), Some(_)) => match s.read() {
            Ok(stats) => Some(stats),
            Err(e) => {
                notes.push(format!("server counters unavailable at the end: {e:#}"));
                None
            }
        },
        _ => None,
    };
    let read_after = read_started.elapsed();
    let proc_after = proc_before.as_ref().and_then(|_| read_proc(&args.server_pid, "end", &mut notes));
    progress.notes.extend(notes);
    (
        Window {
            started,
            started_at,
            client_before,
            client_after,
            server_before,
            server_after,
            proc_before,
            proc_after,
            read_before,
            read_after,
            after_sent,
        },
        progress,
    )
}

/// `--server-pid`'s figures now, if any were asked for; a failure is a
/// note (the server may have exited), not an error.
fn read_proc(pids: &[u32], when: &str, notes: &mut Vec<String>) -> Option<Usage> {
    if pids.is_empty() {
        return None;
    }
    Usage::read(pids)
        .map_err(|e| notes.push(format!("server /proc figures unavailable at the {when}: {e}")))
        .ok()
}

/// Wait for the threads (they drain after the window), merge what they
/// measured, and judge what the server's counters describe.
fn collect(
    args: &RunArgs,
    setup: Setup,
    load: Load,
    (w, mut progress): (Window, Progress),
    connect_failures: Vec<std::io::Error>,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let Setup { addr, threads, shape, source, mut notes, switch_cost, .. } = setup;
    for interval in load.rx {
        progress.add(interval);
    }
    notes.append(&mut progress.notes);
    if let Err(e) = progress.finish() {
        notes.push(format!("{e:#}"));
    }
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for (t, h) in load.handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => failures.push(format!("load thread {t}: {e:#}")),
            Err(_) => failures.push(format!("load thread {t} panicked")),
        }
    }
    let ended = w.started_at.elapsed();

    let mut corrected = engine::new_histogram();
    let mut raw = engine::new_histogram();
    let mut lag = engine::new_histogram();
    let (mut completed, mut late, mut answered_in_window, mut scheduled, mut sent_in_window, mut alive) =
        (0, 0, 0, 0, 0, 0);
    let (mut window_ticks, mut drain_ticks) = (0, 0);
    let mut answers_per_conn = Vec::new();
    let mut conns_unanswered = 0;
    let mut errors = Errors { connect: connect_failures.len() as u64, ..Errors::default() };
    let mut first_bad = None;
    for o in &outcomes {
        corrected.add(&o.corrected).expect("same bounds");
        raw.add(&o.raw).expect("same bounds");
        lag.add(&o.lag).expect("same bounds");
        completed += o.completed;
        late += o.late;
        answered_in_window += o.answered_in_window;
        scheduled += o.scheduled;
        sent_in_window += o.sent_in_window;
        window_ticks = window_ticks.max(o.window_ticks);
        drain_ticks = drain_ticks.max(o.drain_ticks);
        errors.add(&o.errors);
        alive += o.alive;
        answers_per_conn.extend_from_slice(&o.answers_per_conn);
        conns_unanswered += o.unanswered;
        if first_bad.is_none() {
            first_bad.clone_from(&o.first_bad);
        }
    }
    let ticks = |t: u64| Duration::from_nanos(load.clock.delta_as_nanos(0, t));
    // The window as the threads ran it: cut short by a stop, a request
    // budget, or every connection failing.
    let window = if outcomes.is_empty() { ended.min(args.duration) } else { ticks(window_ticks) };
    let drain = ticks(drain_ticks);
    let mut incomplete = None;
    if !failures.is_empty() {
        incomplete = Some(failures.join("; "));
    } else if alive == 0 {
        incomplete = Some(format!(
            "every connection to {addr} failed ({} reset, {} timed out, {} bad answers): the server may have stopped",
            errors.reset, errors.timeout, errors.bad_response
        ));
    } else if stop.load(Ordering::Relaxed) {
        incomplete = Some("interrupted".into());
    }
    if let Some(bad) = first_bad {
        notes.push(format!("first bad answer: {bad}"));
    }
    answers_per_conn.sort_unstable();
    let server = match (&w.proc_before, &w.proc_after) {
        // The server counts no requests for us: per answer in the window,
        // the same span, as for echo.
        (Some(b), Some(a)) => Some(Usage::per_request(b, a, answered_in_window)),
        _ => server_per_request(args, &source, &w, window, answered_in_window, &mut notes),
    };
    let client = PerRequest::between(&w.client_before, &w.client_after, answered_in_window);
    Ok(Report {
        args: args.clone(),
        addr,
        threads,
        server_before: w.server_before,
        server_after: w.server_after,
        server,
        client,
        corrected,
        raw,
        lag,
        completed,
        late,
        answered_in_window,
        scheduled,
        sent_in_window,
        errors,
        answers_per_conn,
        conns_unanswered,
        window,
        drain,
        window_started: w.started,
        incomplete,
        notes,
        shape,
        switch_cost,
    })
}

/// The server's figures per request over the window, if its counters were
/// read close enough to the window's ends to describe it.
fn server_per_request(
    args: &RunArgs,
    source: &Option<Source>,
    w: &Window,
    window: Duration,
    answered_in_window: u64,
    notes: &mut Vec<String>,
) -> Option<PerRequest> {
    let (Some(b), Some(a)) = (&w.server_before, &w.server_after) else { return None };
    let interval = Duration::from_micros(a.uptime_us.saturating_sub(b.uptime_us));
    let snap = Snapshots::new(w.read_before, w.after_sent, w.read_after, interval);
    if !snap.describe(window) {
        let (at, took) = if snap.first_late >= snap.second_late {
            ("after the start", snap.first_late)
        } else {
            ("after the end", snap.second_late)
        };
        let advice = match source {
            Some(Source::InBand { .. }) => {
                "A server whose threads are all busy makes a new connection wait (a thread pool queues it: \
                 conns_waiting); read its counters through its --stats-listen port with --stats"
            }
            _ => "The stats port answered slowly: is the server's machine overloaded?",
        };
        notes.push(format!(
            "server CPU and switches per request not reported: the server's counters were read up to {} {at} \
             of the {} window, so they would not describe it. {advice}",
            crate::report::fmt_us(took.as_secs_f64() * 1e6),
            crate::report::fmt_us(window.as_secs_f64() * 1e6),
        ));
        return None;
    }
    if snap.first_late > window / 20 {
        notes.push(format!(
            "the server's figures cover at least the last {:.0}% of the window: its counters were read up to {} \
             after it started",
            100.0 * (1.0 - snap.first_late.as_secs_f64() / window.as_secs_f64().max(1e-9)),
            crate::report::fmt_us(snap.first_late.as_secs_f64() * 1e6)
        ));
    }
    let counted = a.requests.saturating_sub(b.requests);
    // Echo servers count no requests: use the answers we received in the
    // window, the same span.
    let n = if args.protocol == Protocol::Echo { answered_in_window } else { counted };
    Some(PerRequest::between(b, a, n))
}

fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    target
        .to_socket_addrs()
        .with_context(|| format!("bad --target `{target}`: expected host:port"))?
        .next()
        .with_context(|| format!("--target `{target}` resolves to no address"))
}

fn is_refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// A second some threads reported, merged so far.
struct PendingSecond {
    threads: usize,
    drain: bool,
    answers: u64,
    completed: u64,
    errors: Errors,
    latency: Histogram<u64>,
    raw: Histogram<u64>,
    lag: Histogram<u64>,
}

/// Merges the threads' intervals and prints a line per second of the
/// window, then one for the drain.
struct Progress {
    threads: usize,
    pending: std::collections::BTreeMap<u64, PendingSecond>,
    hlog: Option<crate::report::IntervalLog>,
    quiet: bool,
    /// The window's planned length: a last, partial second's rate is over
    /// its part.
    window: Duration,
    /// What went wrong on the way (for the report's notes).
    notes: Vec<String>,
}

impl Progress {
    fn new(
        threads: usize,
        hlog: Option<&std::path::Path>,
        start: std::time::SystemTime,
        quiet: bool,
        window: Duration,
    ) -> anyhow::Result<Self> {
        let hlog = hlog.map(|p| crate::report::IntervalLog::create(p, start)).transpose()?;
        Ok(Progress { threads, pending: Default::default(), hlog, quiet, window, notes: Vec::new() })
    }

    fn add(&mut self, i: Interval) {
        let entry = self.pending.entry(i.second).or_insert_with(|| PendingSecond {
            threads: 0,
            drain: false,
            answers: 0,
            completed: 0,
            errors: Errors::default(),
            latency: engine::new_histogram(),
            raw: engine::new_histogram(),
            lag: engine::new_histogram(),
        });
        entry.threads += 1;
        entry.drain |= i.drain;
        entry.answers += i.answers;
        entry.completed += i.completed;
        entry.errors.add(&i.errors);
        entry.latency.add(&i.latency).expect("same bounds");
        entry.raw.add(&i.raw).expect("same bounds");
        entry.lag.add(&i.lag).expect("same bounds");
        // Seconds are complete when every thread reported them, in order.
        while let Some((_, entry)) = self.pending.first_key_value() {
            if entry.threads < self.threads {
                break;
            }
            let (second, entry) = self.pending.pop_first().expect("just seen");
            self.emit(second, &entry);
        }
    }

    fn emit(&mut self, second: u64, s: &PendingSecond) {
        if !self.quiet {
            let p99 = if s.latency.is_empty() {
                "-".to_string()
            } else {
                crate::report::fmt_us(results::hdr::us(s.latency.value_at_quantile(0.99)))
            };
            let line = if s.drain {
                drain_line(s.completed, &p99, s.errors.total())
            } else {
                progress_line(second, self.window, s.answers, &p99, s.errors.total())
            };
            eprintln!("{line}");
        }
        if let Some(log) = &mut self.hlog {
            // The drain holds no sends of the window; its lag line would be empty.
            let lag = (!s.drain).then_some(&s.lag);
            log.write(second, &s.latency, &s.raw, lag);
        }
    }

    /// Seconds some thread did not report (it ended early): emit what
    /// came; then close the interval log.
    fn finish(mut self) -> anyhow::Result<()> {
        while let Some((second, entry)) = self.pending.pop_first() {
            self.emit(second, &entry);
        }
        self.hlog.take().map_or(Ok(()), crate::report::IntervalLog::close)
    }
}

/// One progress line: second `second` (from 0) of a window of `window`
/// received `answers` answers (to any request: what the server achieved);
/// a partial last second's rate is over its part. `p99`: of the window's
/// requests answered in that second.
fn progress_line(second: u64, window: Duration, answers: u64, p99: &str, errors: u64) -> String {
    let part = (window.as_secs_f64() - second as f64).clamp(1e-3, 1.0);
    let rate = (answers as f64 / part).round() as u64;
    format!("{:>4}s  {:>10} req/s  p99 {p99:>9}  errors {errors}", second + 1, crate::report::thousands(rate))
}

/// The drain's progress line: `completed` of the window's requests answered
/// after it.
fn drain_line(completed: u64, p99: &str, errors: u64) -> String {
    format!(
        "drain  {:>10} answers after the window, to requests of it  p99 {p99:>9}  errors {errors}",
        crate::report::thousands(completed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_for_whole_partial_and_drain_seconds() {
        let w = Duration::from_millis(2500);
        assert_eq!(progress_line(0, w, 1000, "1ms", 0), "   1s       1,000 req/s  p99       1ms  errors 0");
        assert!(progress_line(2, w, 1000, "1ms", 0).contains("2,000 req/s"), "half a second");
        let after = drain_line(48, "7ms", 3);
        assert!(after.contains("48 answers after the window"), "{after}");
        assert!(after.ends_with("errors 3"), "{after}");
    }

    #[test]
    fn counters_read_late_do_not_describe_the_window() {
        let ms = Duration::from_millis;
        // (first read took, second read sent at, second read took, server's
        // interval, window) -> (first snapshot late at most, describes)
        let table = [
            // Quick reads.
            ((ms(1), ms(3010), ms(1), ms(3009), ms(3000)), (ms(1), true)),
            // A slow first answer, but the server's clock shows its snapshot
            // was early (an answer written late).
            ((ms(900), ms(3010), ms(1), ms(3000), ms(3000)), (ms(11), true)),
            // A thread pool: the first read waited in the queue until the
            // load ended; the server's interval is tiny.
            ((ms(3000), ms(3010), ms(1), ms(5), ms(3000)), (ms(3000), false)),
            // Late by a quarter of the window: still described; more: not.
            ((ms(750), ms(3010), ms(1), ms(2261), ms(3000)), (ms(750), true)),
            ((ms(760), ms(3010), ms(1), ms(2251), ms(3000)), (ms(760), false)),
            // A slow second read: the server was busy after the load.
            ((ms(1), ms(3010), ms(800), ms(3800), ms(3000)), (ms(1), false)),
            // Short windows allow 20 ms.
            ((ms(15), ms(110), ms(15), ms(100), ms(50)), (ms(15), true)),
        ];
        for ((before, after_sent, after, interval, window), (late, describes)) in table {
            let s = Snapshots::new(before, after_sent, after, interval);
            assert_eq!((s.first_late, s.describe(window)), (late, describes), "{s:?} {window:?}");
        }
    }

    #[test]
    fn durations_and_work() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("40us"), Ok(Duration::from_micros(40)));
        for bad in ["", "x", "-1s", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_work("spin:500ns"), Ok(Work::Spin { ns: 500 }));
        assert_eq!(parse_work("sleep:100us"), Ok(Work::Sleep { us: 100 }));
        assert!(parse_work("sleep:1ms").is_err());
        assert_eq!(describe_work(Some(Work::Sleep { us: 3 })), "sleep:3us");
    }

    #[test]
    fn start_times() {
        let at = |secs: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms);
        // (text, expected instant); `+` is relative to now, checked below.
        let table = [
            ("2026-11-21T22:00:05Z", Some(at(1_795_298_405, 0))),
            ("2026-11-21T22:00:05.250Z", Some(at(1_795_298_405, 250))),
            ("1795298405", Some(at(1_795_298_405, 0))),
            ("1795298405.5", Some(at(1_795_298_405, 500))),
            ("2026-11-21T22:00:05", None),
            ("2026-11-21T23:00:05+01:00", None),
            ("-5", None),
            ("+-5", None),
            ("5s", None),
            ("", None),
            // Past what the clock holds: refused, not a panic.
            ("18000000000000000000", None),
            ("+18000000000000000000", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_start_at(text).ok(), expected, "{text:?}");
        }
        let before = SystemTime::now();
        let plus = parse_start_at("+2.5").unwrap();
        let after = SystemTime::now();
        assert!(plus >= before + Duration::from_millis(2500) && plus <= after + Duration::from_millis(2500));

        let now = at(1_795_298_405, 0);
        let s = Duration::from_secs;
        assert_eq!(start_wait(now + s(5), now).unwrap(), s(5));
        assert_eq!(start_wait(now + s(3600), now).unwrap(), s(3600));
        assert_eq!(start_wait(now - Duration::from_millis(900), now).unwrap(), Duration::ZERO);
        let ahead = start_wait(now + s(3601), now).unwrap_err().to_string();
        assert!(ahead.contains("more than the 3600 s allowed"), "{ahead}");
        let past = start_wait(now - s(2), now).unwrap_err().to_string();
        assert!(past.contains("passed 2.0 s ago"), "{past}");
    }
}
