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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use protocol::{Protocol, Stats};

use crate::args::{ArrivalArg, Io, RunArgs, SwitchCost, Target, start_wait};
use crate::engine::{self, Arrival, Engine, Errors, Interval, Mode, Outcome, Plan};
use crate::measured::Report;
use crate::proc_usage::Usage;
use crate::proto::Shape;
use crate::server_stats::{self, PerRequest, Source};
use crate::syscalls::{Counting, Counts, Tracepoints};

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

/// What the run's checks and the server's first counters gave.
struct Setup {
    addr: SocketAddr,
    threads: usize,
    cores: Vec<usize>,
    shape: Shape,
    source: Option<Source>,
    notes: Vec<String>,
    switch_cost: Option<SwitchCost>,
    /// The server's and the load threads' system call counters, if counted.
    server_calls: Option<Counting>,
    client_calls: Option<Counting>,
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
                crate::fmt::fmt_us(late.as_secs_f64() * 1e6),
                results::timestamp_utc(at)
            ));
        }
    }
    count_server_calls(args, &mut setup);
    let (streams, connect_failures) = connect(args, &mut setup)?;
    let load = spawn_load(args, &setup, streams, &stop)?;
    count_client_calls(args, &mut setup, &load);
    let window = window(args, &mut setup, &load.rx, &stop, load.window_start, &load.clock);
    collect(args, setup, load, window, connect_failures, &stop)
}

/// Check the arguments; resolve the target.
fn validate(args: &RunArgs) -> anyhow::Result<Setup> {
    let target = Target::parse(args.url.as_deref().unwrap_or(&args.target)).map_err(anyhow::Error::msg)?;
    let addr = resolve(&target.connect)?;
    if target.url && args.protocol != Protocol::Http {
        bail!("a URL target speaks http, not {}: drop --protocol {}", args.protocol, args.protocol);
    }
    if !args.headers.is_empty() && args.protocol != Protocol::Http {
        bail!("--header applies to --protocol http only");
    }
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
        host: target.host.clone(),
        path: target.path.clone(),
        headers: args.headers.clone(),
    };
    let source = if args.no_server_counters || !args.server_pid.is_empty() {
        None
    } else {
        Source::new(addr, args.protocol, args.stats)
    };
    Ok(Setup {
        addr,
        threads,
        cores,
        shape,
        source,
        notes: Vec::new(),
        switch_cost: None,
        server_calls: None,
        client_calls: None,
    })
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
            // An http server that is not ringside's (nginx, your own):
            // measure it all the same, without its counters.
            Err(e) if e.chain().any(|c| c.is::<server_stats::NotRingside>()) => {
                let why =
                    e.chain().find_map(|c| c.downcast_ref::<server_stats::NotRingside>()).expect("just seen");
                setup.notes.push(format!(
                    "server counters not read: {addr} is not a ringside server ({why}); its CPU per request is not \
                     measured (--server-pid PID measures it from /proc; --no-server-counters skips this check)"
                ));
                setup.source = None;
                None
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

/// Open the server's system call counters, before the connections (a
/// thread a connection gets is then a copy of its creator's counters, not
/// a set of its own). Not permitted, or no pid known: a note, no figures.
fn count_server_calls(args: &RunArgs, setup: &mut Setup) {
    if args.no_syscalls {
        return;
    }
    let pids = &args.syscalls_pid;
    if pids.is_empty() {
        setup.notes.push(if args.server_pid.is_empty() {
            "server system calls not counted: no pid known (give --syscalls-pid PID for a server on this host)"
                .into()
        } else {
            // --server-pid measures the server's CPU, which counting would
            // raise (about 150 ns a counted call): counting is asked apart.
            "server system calls not counted: --server-pid does not count them, since counting costs the server \
             about 150 ns of CPU per call (+10% CPU per request for an epoll server) and --server-pid measures \
             that CPU; --syscalls-pid PID counts them, in a run of its own"

                .into()
        });
        return;
    }
    let counting = Tracepoints::find().and_then(|tp| {
        setup.notes.extend(tp.mount_note());
        // Room for the connections, and for whatever else the run opens.
        let budget = crate::syscalls::fds_left().saturating_sub(args.connections as usize + 64);
        Counting::processes(tp, pids, budget)
    });
    match counting {
        Ok(mut c) => {
            setup.notes.append(&mut c.notes);
            setup.notes.push(
                "server system calls counted: counting costs the server about 150 ns of CPU per counted call, \
                 so this run's server CPU, latency and req/s include it (+10% CPU per request for an epoll \
                 server); measure those in a run that does not count"
                    .into(),
            );
            setup.server_calls = Some(c);
        }
        Err(why) => setup.notes.push(format!("server {why}")),
    }
}

/// Open counters on the load threads (each sent its thread id as it
/// started): their own system calls, not the main thread's reads and
/// prints.
fn count_client_calls(args: &RunArgs, setup: &mut Setup, load: &Load) {
    let tids: std::collections::BTreeSet<u32> = load.tids.iter().copied().collect();
    if args.no_syscalls || tids.is_empty() {
        return;
    }
    let counting = Tracepoints::find()
        .and_then(|tp| Counting::threads(tp, &tids, crate::syscalls::fds_left().saturating_sub(64)));
    match counting {
        Ok(mut c) => {
            setup.notes.append(&mut c.notes);
            setup.client_calls = Some(c);
        }
        // The server's note says the same when it is the same reason.
        Err(why) if setup.notes.iter().any(|n| n.ends_with(&why)) => {}
        Err(why) => setup.notes.push(format!("load generator {why}")),
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
    /// Each load thread's id (each sends it before it starts its loop).
    tids: Vec<u32>,
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
    let (tid_tx, tids) = mpsc::channel::<u32>();
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
        let (io, addr, tid_tx) = (args.io, setup.addr, tid_tx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || -> anyhow::Result<Outcome> {
                let _ = tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32);
                drop(tid_tx);
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
                    Io::Epoll => crate::drive_epoll::drive(&mut engine, addr, socks, &stop, &tx)?,
                    Io::IoUring => crate::drive_uring::drive(&mut engine, addr, socks, &stop, &tx)?,
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
    drop(tid_tx);
    // Every thread's id, so its counters open before the window: each
    // sends it first thing, or ends (its sender dropped).
    let mut ids = Vec::new();
    while ids.len() < handles.len() {
        match tids.recv_timeout(Duration::from_secs(1)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
    }
    Ok(Load { tids: ids, clock, window_start, rx, handles })
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
    /// System call counters at the window's start and end.
    server_calls: Option<(Counts, Counts)>,
    client_calls: Option<(Counts, Counts)>,
}

/// Read the counters at the window's start; print the progress lines as
/// the threads report their seconds; read the counters again when the
/// window ends (or the load stops before), so the figures per request are
/// the window's, not the drain's.
fn window(
    args: &RunArgs,
    setup: &mut Setup,
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
    let client_calls_before = read_calls(&mut setup.client_calls, "load generator", "start", &mut notes);
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
    // After the counters' read, whose calls (an accept, a read, a write, a
    // close) it leaves out.
    let server_calls_before = read_calls(&mut setup.server_calls, "server", "start", &mut notes);
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
    let client_calls_after = read_calls(&mut setup.client_calls, "load generator", "end", &mut notes);
    // Before the counters' read, whose calls it leaves out.
    let server_calls_after = read_calls(&mut setup.server_calls, "server", "end", &mut notes);
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
            server_calls: server_calls_before.zip(server_calls_after),
            client_calls: client_calls_before.zip(client_calls_after),
        },
        progress,
    )
}

/// System call counters now, if counted; a failure is a note.
fn read_calls(
    counting: &mut Option<Counting>,
    whose: &str,
    when: &str,
    notes: &mut Vec<String>,
) -> Option<Counts> {
    let c = counting.as_mut()?;
    c.read()
        .map_err(|e| notes.push(format!("{whose} system calls not counted: reading at the {when}: {e}")))
        .ok()
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
    let Setup { addr, threads, shape, source, mut notes, switch_cost, server_calls, client_calls, .. } =
        setup;
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
    let (mut window_ticks, mut drain_ticks, mut reconnects) = (0, 0, 0);
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
        reconnects += o.reconnects;
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
    // Per answer received in the window, the span the counters cover.
    let calls = |c: &Option<Counting>, reads: &Option<(Counts, Counts)>| match (c, reads) {
        (Some(c), Some((b, a))) => Some(c.per_request(b, a, answered_in_window)),
        _ => None,
    };
    let server_syscalls = calls(&server_calls, &w.server_calls);
    let client_syscalls = calls(&client_calls, &w.client_calls);
    Ok(Report {
        args: args.clone(),
        addr,
        threads,
        server_before: w.server_before,
        server_after: w.server_after,
        server,
        client,
        server_syscalls,
        client_syscalls,
        corrected,
        raw,
        lag,
        completed,
        late,
        answered_in_window,
        scheduled,
        sent_in_window,
        errors,
        reconnects,
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
            crate::fmt::fmt_us(took.as_secs_f64() * 1e6),
            crate::fmt::fmt_us(window.as_secs_f64() * 1e6),
        ));
        return None;
    }
    if snap.first_late > window / 20 {
        notes.push(format!(
            "the server's figures cover at least the last {:.0}% of the window: its counters were read up to {} \
             after it started",
            100.0 * (1.0 - snap.first_late.as_secs_f64() / window.as_secs_f64().max(1e-9)),
            crate::fmt::fmt_us(snap.first_late.as_secs_f64() * 1e6)
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
    hlog: Option<crate::hlog::IntervalLog>,
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
        let hlog = hlog.map(|p| crate::hlog::IntervalLog::create(p, start)).transpose()?;
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
                crate::fmt::fmt_us(results::hdr::us(s.latency.value_at_quantile(0.99)))
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
        self.hlog.take().map_or(Ok(()), crate::hlog::IntervalLog::close)
    }
}

/// One progress line: second `second` (from 0) of a window of `window`
/// received `answers` answers (to any request: what the server achieved);
/// a partial last second's rate is over its part. `p99`: of the window's
/// requests answered in that second.
fn progress_line(second: u64, window: Duration, answers: u64, p99: &str, errors: u64) -> String {
    let part = (window.as_secs_f64() - second as f64).clamp(1e-3, 1.0);
    let rate = (answers as f64 / part).round() as u64;
    format!("{:>4}s  {:>10} req/s  p99 {p99:>9}  errors {errors}", second + 1, crate::fmt::thousands(rate))
}

/// The drain's progress line: `completed` of the window's requests answered
/// after it.
fn drain_line(completed: u64, p99: &str, errors: u64) -> String {
    format!(
        "drain  {:>10} answers after the window, to requests of it  p99 {p99:>9}  errors {errors}",
        crate::fmt::thousands(completed),
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
}
