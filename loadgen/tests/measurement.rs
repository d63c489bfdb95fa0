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
use loadgen::run::{self, Report, RunArgs};

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
                thread::spawn(move || {
                    let _ = s.set_nodelay(true);
                    let mut buf = [0u8; MESSAGE];
                    while !d.load(Ordering::Relaxed) && s.read_exact(&mut buf).is_ok() {
                        let got = Instant::now();
                        match policy {
                            Policy::Immediate | Policy::ServeFirst(_) => {}
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
    let r = run(&args(
        &server,
        &["-c", "4", "--rate", "2000", "--warmup", "500ms", "-d", "3s", "--timeout", "5s"],
    ));
    let (corrected, raw) = (ms(&r.corrected, 0.99), ms(&r.raw, 0.99));
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(corrected >= 100.0, "corrected p99 {corrected} ms does not show the 200 ms stalls");
    assert!(
        raw < 50.0,
        "raw p99 {raw} ms: the raw figure should miss the stalls (only in-flight requests wait)"
    );
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

#[test]
fn open_loop_achieves_a_10k_target_within_2_percent() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = TestServer::start(Policy::Immediate);
    let r = run(&args(&server, &["-c", "8", "--rate", "10000", "--warmup", "300ms", "-d", "3s"]));
    let achieved = r.achieved_rate();
    assert!((achieved - 10_000.0).abs() <= 200.0, "achieved {achieved:.0} req/s at a 10,000 req/s target");
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
