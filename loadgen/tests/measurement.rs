//! Measurement tests: they prove the load generator's numbers against
//! servers whose timing is known, so they belong in the test suite.
//!
//! The servers here are tiny blocking echo servers with a timing policy:
//! answer at once, after a fixed delay, or stall for 200 ms once a second.
//! They run in this test process; the tests run one at a time (they share
//! two CPUs with everything else), and assert on distributions with margins
//! meant for a noisy machine, never on a single fast path.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use loadgen::args::RunArgs;
use loadgen::measured::Report;
use loadgen::run;

/// Tests that measure time run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const MESSAGE: usize = 64;

#[derive(Clone, Copy)]
enum Policy {
    Immediate,
    /// Busy-wait this long before each answer (a sleep would add the timer's
    /// slack to the truth).
    Delay(Duration),
    /// Hold every answer due in the first `stall` of each second until the
    /// stall ends.
    StallEverySecond(Duration),
    /// Answer only the first N connections; accept the others and never
    /// read them (a thread pool with N workers, its queue never served).
    ServeFirst(usize),
    /// A server of known capacity: every connection's requests join one
    /// FIFO queue, answered at most this many a second.
    Fifo(u32),
}

struct TestServer {
    addr: SocketAddr,
    /// Delays the server itself measured (read complete to write done), µs.
    measured: Arc<Mutex<Vec<u64>>>,
    dead: Arc<AtomicBool>,
}

impl TestServer {
    fn start(policy: Policy) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let measured = Arc::new(Mutex::new(Vec::new()));
        let dead = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let (m, d) = (Arc::clone(&measured), Arc::clone(&dead));
        let fifo = match policy {
            Policy::Fifo(per_second) => Some(fifo_answerer(per_second, Arc::clone(&dead))),
            _ => None,
        };
        thread::spawn(move || {
            let mut unserved = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                if d.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut s) = stream else { continue };
                if let Policy::ServeFirst(served) = policy
                    && n >= served
                {
                    unserved.push(s);
                    continue;
                }
                let (m, d) = (Arc::clone(&m), Arc::clone(&d));
                let fifo = fifo.clone();
                thread::spawn(move || {
                    let _ = s.set_nodelay(true);
                    let mut buf = [0u8; MESSAGE];
                    if let Some(queue) = fifo {
                        let Ok(answers) = s.try_clone() else { return };
                        let answers = Arc::new(Mutex::new(answers));
                        while !d.load(Ordering::Relaxed) && s.read_exact(&mut buf).is_ok() {
                            if queue.send((Arc::clone(&answers), buf, Instant::now())).is_err() {
                                return;
                            }
                        }
                        return;
                    }
                    while !d.load(Ordering::Relaxed) && s.read_exact(&mut buf).is_ok() {
                        let got = Instant::now();
                        match policy {
                            Policy::Immediate | Policy::ServeFirst(_) | Policy::Fifo(_) => {}
                            Policy::Delay(d) => {
                                while got.elapsed() < d {
                                    std::hint::spin_loop();
                                }
                            }
                            Policy::StallEverySecond(stall) => {
                                let phase =
                                    Duration::from_nanos((epoch.elapsed().as_nanos() % 1_000_000_000) as u64);
                                if phase < stall {
                                    thread::sleep(stall - phase);
                                }
                            }
                        }
                        if s.write_all(&buf).is_err() {
                            return;
                        }
                        m.lock().unwrap().push(got.elapsed().as_micros() as u64);
                    }
                    // Dead: drop the connection with a reset.
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                });
            }
        });
        TestServer { addr, measured, dead }
    }
}

/// A request waiting in the FIFO: the connection to answer on, the bytes,
/// and when they were read.
type Queued = (Arc<Mutex<TcpStream>>, [u8; MESSAGE], Instant);

/// The FIFO server's one answering thread: takes requests in arrival order
/// and answers one every `1/per_second`, never before the request arrived:
/// the schedule of an ideal server of that capacity. A wake-up made late by
/// a busy machine delays answers but does not lower the capacity: the
/// answers it owes go out at once (no credit builds up while idle, since no
/// answer is due before its request).
fn fifo_answerer(per_second: u32, dead: Arc<AtomicBool>) -> std::sync::mpsc::Sender<Queued> {
    let (tx, rx) = std::sync::mpsc::channel::<Queued>();
    thread::spawn(move || {
        let period = Duration::from_secs(1) / per_second;
        let mut next = Instant::now();
        for (conn, buf, arrived) in rx {
            if dead.load(Ordering::Relaxed) {
                return;
            }
            next = next.max(arrived);
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
            let _ = conn.lock().unwrap().write_all(&buf);
            next += period;
        }
    });
    tx
}

impl TestServer {
    /// Close every connection and stop accepting.
    fn kill(&self) {
        self.dead.store(true, Ordering::Relaxed);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn args(server: &TestServer, extra: &[&str]) -> RunArgs {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let addr = server.addr.to_string();
    let size = MESSAGE.to_string();
    let mut argv = vec![
        "x",
        "--target",
        &addr,
        "--protocol",
        "echo",
        "--request-bytes",
        &size,
        "--quiet",
        "--no-calibrate",
    ];
    argv.extend(extra);
    Cli::parse_from(argv).run
}

fn run(args: &RunArgs) -> Report {
    run::run(args, Arc::new(AtomicBool::new(false))).expect("the run")
}

/// The latency at `q` of a histogram of nanoseconds, in milliseconds.
fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e6
}

#[test]
fn open_loop_corrected_latency_sees_a_stall_that_the_raw_figure_misses() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::StallEverySecond(Duration::from_millis(200)));
    for io in ["epoll", "io-uring"] {
        let r = run(&args(
            &server,
            &["-c", "4", "--rate", "2000", "--warmup", "500ms", "-d", "3s", "--timeout", "5s", "--io", io],
        ));
        let (corrected, raw) = (ms(&r.corrected, 0.99), ms(&r.raw, 0.99));
        assert_eq!(r.errors.total(), 0, "--io {io}: {:?}", r.errors);
        assert!(
            corrected >= 100.0,
            "--io {io}: corrected p99 {corrected} ms does not show the 200 ms stalls"
        );
        assert!(
            raw < 50.0,
            "--io {io}: raw p99 {raw} ms: the raw figure should miss the stalls (only in-flight requests wait)"
        );
    }
}

/// The truth to compare with: the round trips a minimal, obviously correct
/// client measures against the same server (one blocking connection:
/// write, read, two clock reads), in ms.
fn plain_client_ms(server: &TestServer, round_trips: usize) -> Vec<f64> {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [7u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    (0..round_trips)
        .map(|_| {
            let t = Instant::now();
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The load generator's single-connection median against a server that
/// answers after 1 ms, for each driver, against the plain client's.
///
/// The truth and the measurements are taken in alternating slices of the
/// same period (truth, epoll, io_uring, truth, ...): a machine whose load
/// changes during the test (another job starting) changes all three alike,
/// so the comparison stays like with like and the 10% tolerance holds on a
/// busy machine.
#[test]
fn latency_of_a_1ms_server_is_measured_within_10_percent() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::Delay(Duration::from_millis(1)));
    const SLICES: usize = 8;
    let drivers = ["epoll", "io-uring"];
    let mut truth = Vec::new();
    let mut measured: Vec<hdrhistogram::Histogram<u64>> =
        drivers.iter().map(|_| loadgen::engine::new_histogram()).collect();
    for slice in 0..SLICES {
        // Alternate which driver follows the truth, so neither always runs
        // right after it.
        let order: Vec<usize> = if slice % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        truth.extend(plain_client_ms(&server, 60));
        for d in order {
            let r = run(&args(&server, &["-c", "1", "--warmup", "30ms", "-d", "200ms", "--io", drivers[d]]));
            assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
            measured[d].add(&r.corrected).unwrap();
        }
    }
    let truth = median(truth);
    let server_side = median(server.measured.lock().unwrap().iter().map(|&us| us as f64 / 1000.0).collect());
    // Only a lower bound: on a busy machine the server's spin is preempted
    // too, which the truth and the measurements both see.
    assert!(server_side >= 0.99, "the server's own median delay is {server_side:.3} ms, not 1 ms");
    for (d, h) in drivers.iter().zip(&measured) {
        let p50 = ms(h, 0.5);
        assert!(
            (p50 - truth).abs() <= 0.1 * truth,
            "--io {d}: load generator p50 {p50:.3} ms, a plain blocking client's median {truth:.3} ms (interleaved \
             in {SLICES} slices): more than 10% apart"
        );
    }
}

/// Offered 10,000 a second against a fast server: the achieved rate,
/// counted from the answers received in the window (not from the schedule),
/// is within 2% of it. A generator that sent in bursts, or late, or a
/// server that fell behind, would fail this: answers that come after the
/// window do not count.
#[test]
fn open_loop_achieves_a_10k_target_within_2_percent() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::Immediate);
    let r = run(&args(&server, &["-c", "8", "--rate", "10000", "--warmup", "300ms", "-d", "3s"]));
    let achieved = r.achieved_rate();
    assert!((achieved - 10_000.0).abs() <= 200.0, "achieved {achieved:.0} req/s at a 10,000 req/s target");
    assert_eq!(r.answered_in_window, r.answers_per_conn.iter().sum::<u64>(), "answers counted as received");
    assert!(!r.rate_shortfall());
}

#[test]
fn nothing_listening_is_a_clear_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // A port that was free a moment ago.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let a = Cli::parse_from(["x", "--target", &addr, "--protocol", "http", "-q"]).run;
    let e = run::run(&a, Arc::new(AtomicBool::new(false))).err().expect("an error");
    assert!(format!("{e:#}").contains("nothing listens on"), "{e:#}");
}

#[test]
fn a_server_dying_mid_run_ends_the_run_with_what_was_measured() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::Immediate);
    let a = args(&server, &["-c", "4", "--warmup", "200ms", "-d", "30s"]);
    let started = Instant::now();
    let killer = {
        let server_dead = Arc::clone(&server.dead);
        let addr = server.addr;
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(1500));
            server_dead.store(true, Ordering::Relaxed);
            let _ = TcpStream::connect(addr);
        })
    };
    let r = run(&a);
    killer.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the run did not end when the server died");
    let why = r.incomplete.as_deref().unwrap_or("");
    assert!(why.contains("every connection"), "incomplete: {why:?}");
    assert!(r.completed > 0, "what was measured before the server died is kept");
    let _ = &server;
    server.kill();
}

#[test]
fn connections_never_answered_are_counted_and_not_waited_for() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::ServeFirst(2));
    // A timeout longer than the run: nothing breaks, the two connections
    // queued forever only wait.
    let a = args(&server, &["-c", "4", "--warmup", "200ms", "-d", "1s", "--timeout", "30s"]);
    let started = Instant::now();
    let r = run(&a);
    assert!(started.elapsed() < Duration::from_secs(15), "the run waited for answers sent in the warm-up");
    assert!(r.incomplete.is_none(), "{:?}", r.incomplete);
    assert_eq!(r.errors.timeout, 0);
    assert_eq!(r.conns_unanswered, 2, "answers per connection: {:?}", r.answers_per_conn);
    assert_eq!(r.answers_per_conn.len(), 4);
    assert_eq!(
        r.answers_per_conn[2..].iter().sum::<u64>(),
        r.completed,
        "the served two answered everything"
    );
    let row = loadgen::csv_row::row(&r, &Default::default());
    assert_eq!((row.conns_unanswered, row.conn_answers_min), (2, 0));
    assert_eq!(row.conn_answers_max, r.answers_per_conn[3]);
    server.kill();
}

/// The server answers at most 2,000 a second; offered 4,000 a second, the
/// load generator must report what the server did (2,000), flag the
/// shortfall, count the requests that never got their turn as timeouts, and
/// end within the timeout of the window's end.
#[test]
fn open_loop_over_a_known_capacity_reports_the_capacity_and_bounds_the_drain() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    const N: f64 = 2_000.0;
    let server = TestServer::start(Policy::Fifo(N as u32));
    for io in ["epoll", "io-uring"] {
        let started = Instant::now();
        let r = run(&args(
            &server,
            &["-c", "50", "--rate", "4000", "--warmup", "300ms", "-d", "2s", "--timeout", "1s", "--io", io],
        ));
        let took = started.elapsed();
        let achieved = r.achieved_rate();
        assert!(
            (achieved - N).abs() <= 0.05 * N,
            "--io {io}: achieved {achieved:.0} req/s from a server of {N}"
        );
        assert!(
            (r.offered_rate() - 2.0 * N).abs() <= 0.05 * 2.0 * N,
            "--io {io}: offered {}",
            r.offered_rate()
        );
        assert!(r.rate_shortfall(), "--io {io}: the shortfall is flagged");
        assert_eq!(
            r.completed + r.errors.timeout,
            r.scheduled,
            "--io {io}: every request of the window answered or timed out ({:?})",
            r.errors
        );
        assert!(
            r.errors.timeout as f64 >= 0.4 * r.scheduled as f64,
            "--io {io}: {} timeouts of {} offered: the half that never got its turn",
            r.errors.timeout,
            r.scheduled
        );
        assert_eq!(r.errors.total(), r.errors.timeout, "--io {io}: {:?}", r.errors);
        assert!(r.drain <= Duration::from_millis(1100), "--io {io}: drained for {:?}", r.drain);
        // Warm-up, window, at most the timeout, and a second for the rest.
        assert!(took <= Duration::from_millis(300 + 2000 + 1000 + 1000), "--io {io}: the run took {took:?}");
    }
    server.kill();
}

/// The capacity search against the same kind of server finds its capacity.
#[test]
fn the_capacity_search_finds_a_known_capacity_within_10_percent() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    const N: f64 = 2_000.0;
    let server = TestServer::start(Policy::Fifo(N as u32));
    // An objective loose enough for a busy machine's stalls: what decides
    // near the capacity is whether the server keeps up (achieved >= 99% of
    // offered), which it cannot above 2,000 a second. Windows of 2 s: a
    // stall of 20 ms at a window's end, not 10, is needed to cost a probe
    // 1% of its answers.
    let slo = loadgen::capacity::Slo::parse("p99=200ms").unwrap();
    let base = args(
        &server,
        &["-c", "50", "--warmup", "200ms", "-d", "2s", "--timeout", "1s", "--arrival", "uniform"],
    );
    let (search, reports) = loadgen::capacity::search_with(&slo, None, Default::default(), |rate| {
        let mut a = base.clone();
        a.rate = rate;
        Ok(run(&a))
    })
    .unwrap();
    let found = search.result();
    let rate = found.rate.expect("a capacity");
    let probes: Vec<String> =
        search.probes.iter().map(|(rate, v)| format!("{rate:.0}: {} {}", v.pass, v.why)).collect();
    assert!((rate - N).abs() <= 0.1 * N, "found {} ({found:?}); probes:\n{}", rate, probes.join("\n"));
    assert!(found.converged, "{found:?}; probes:\n{}", probes.join("\n"));
    assert_eq!(reports.len() as u32, found.probes + 1, "the estimate's run and every probe");
    server.kill();
}

/// At 2,000 req/s against a server that answers at once, both drivers
/// measure the same median (their timers are precise: nanosecond waits, 1
/// ns of timer slack), and report their send lag.
#[test]
fn both_drivers_agree_on_an_idle_fast_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::Immediate);
    let mut p50 = Vec::new();
    // Interleaved, twice each, so a change in the machine's load hits both.
    for io in ["epoll", "io-uring", "epoll", "io-uring"] {
        let r =
            run(&args(&server, &["-c", "10", "--rate", "2000", "--warmup", "200ms", "-d", "1s", "--io", io]));
        assert_eq!(r.errors.total(), 0, "--io {io}: {:?}", r.errors);
        assert!(!r.lag.is_empty(), "--io {io}: no send lag recorded");
        assert!(r.lag.value_at_quantile(0.99) > 0, "--io {io}: a send lag p99");
        p50.push((io, ms(&r.corrected, 0.5) * 1000.0));
    }
    let median = |io: &str| {
        let mut v: Vec<f64> = p50.iter().filter(|(d, _)| *d == io).map(|(_, v)| *v).collect();
        v.sort_unstable_by(f64::total_cmp);
        (v[0] + v[1]) / 2.0
    };
    let (epoll, uring) = (median("epoll"), median("io-uring"));
    assert!((epoll - uring).abs() <= 100.0, "corrected p50: epoll {epoll:.1} us, io-uring {uring:.1} us");
    server.kill();
}

/// Marks the getpid server's address line on its stderr.
const GETPID_MARK: &str = "getpid-server on ";
const GETPID_CHILD: &str = "RINGSIDE_GETPID_SERVER";

/// The child process of the test below: an echo server (a thread per
/// connection) that makes exactly `k` `getpid` system calls per request
/// besides its read and write, until its stdin closes.
fn getpid_server(k: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    eprintln!("{GETPID_MARK}{}", listener.local_addr().unwrap());
    thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        thread::spawn(move || {
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; MESSAGE];
            while s.read_exact(&mut buf).is_ok() {
                for _ in 0..k {
                    // rustix makes the system call itself, every time.
                    std::hint::black_box(rustix::process::getpid());
                }
                if s.write_all(&buf).is_err() {
                    return;
                }
            }
        });
    }
}

/// The server's system calls per request, counted with the getpid server
/// making `k` extra calls per request.
fn syscalls_with_extra(k: usize) -> Option<loadgen::syscalls::PerRequest> {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_counted_syscalls_rise_by_the_calls_a_server_adds", "--nocapture"])
        .env(GETPID_CHILD, k.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let addr: SocketAddr = loop {
        let line = lines.next().expect("the getpid server ended early").unwrap();
        if let Some(addr) = line.strip_prefix(GETPID_MARK) {
            break addr.parse().unwrap();
        }
    };
    let server = TestServer { addr, measured: Arc::default(), dead: Arc::default() };
    let pid = child.id().to_string();
    let report = run(&args(
        &server,
        &["-c", "4", "-d", "1s", "--warmup", "200ms", "--no-server-counters", "--syscalls-pid", &pid],
    ));
    drop(child.stdin.take());
    child.wait().unwrap();
    if report.server_syscalls.is_none() {
        let why = report.notes.iter().find(|n| n.contains("system calls")).cloned().unwrap_or_default();
        assert!(!loadgen::syscalls::required(), "CI=true: system calls must be counted here: {why}");
        eprintln!("SKIPPED: {why}");
    }
    report.server_syscalls
}

/// A known truth: a server that makes k more system calls per request is
/// counted k more per request, within 2%.
#[test]
fn the_counted_syscalls_rise_by_the_calls_a_server_adds() {
    if let Some(k) = std::env::var_os(GETPID_CHILD) {
        return getpid_server(k.to_str().unwrap().parse().unwrap());
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let k = 5;
    let Some(base) = syscalls_with_extra(0) else { return };
    let Some(more) = syscalls_with_extra(k) else { return };
    let other = |p: &loadgen::syscalls::PerRequest| {
        p.by_name.iter().find(|(n, _)| n == loadgen::syscalls::OTHER).map_or(0.0, |(_, v)| *v)
    };
    eprintln!(
        "k = 0: {:.4}/req {:?}\nk = {k}: {:.4}/req {:?}",
        base.total, base.by_name, more.total, more.by_name
    );
    let rise = more.total - base.total;
    assert!((rise - k as f64).abs() <= 0.02 * k as f64, "rose by {rise:.4}, not {k}: {base:?} -> {more:?}");
    // Named calls stay put; getpid is not named, so it is `other`.
    let other_rise = other(&more) - other(&base);
    assert!((other_rise - k as f64).abs() <= 0.02 * k as f64, "other rose by {other_rise:.4}");
    // An echo server reads and writes once per request.
    assert!((base.total - 2.0).abs() < 0.1, "{base:?}");
}
