//! The load generator's memory across many runs in one process, as `sweep`
//! makes them: every run's resources must go when the run ends (each
//! io_uring load thread's 4 MiB buffer ring included), or a long sweep
//! grows without bound.
//!
//! A test binary of its own because it measures the whole process's
//! resident memory: no other test may run beside it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use clap::Parser;
use loadgen::args::RunArgs;
use loadgen::run;

/// Runs in all, as a long sweep makes them.
const RUNS: usize = 200;
/// Runs before the baseline is taken: allocator arenas and thread caches
/// reach their working size in the first few.
const SETTLE: usize = 20;
/// Growth allowed after the baseline: 64 MiB. A buffer ring per load
/// thread per run kept (4 MiB each, two threads here: 8 MiB a run, 1.4 GiB
/// over the 180 runs measured) exceeds it within eight runs, while the
/// allocator's own drift (new threads every run, each may get an arena)
/// once reached 8.2 MiB in a full test run on a busy machine.
const BOUND_KIB: u64 = 64 * 1024;

/// An echo server in this process: a thread per connection, which ends
/// when the load generator closes the connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// This process's resident memory (`VmRSS`), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB")
}

/// Printed to the stderr handle, which libtest does not capture: the
/// figures are worth seeing when the test passes too.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[test]
fn two_hundred_runs_in_one_process_do_not_grow_its_memory() {
    if let Err(e) = io_uring::IoUring::new(8) {
        say(&format!("SKIPPED two_hundred_runs_in_one_process_do_not_grow_its_memory: io_uring_setup: {e}"));
        return;
    }
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let addr = echo_server().to_string();
    let args = Cli::parse_from([
        "x",
        "--target",
        &addr,
        "--protocol",
        "echo",
        "--request-bytes",
        "64",
        "--io",
        "io-uring",
        "-c",
        "4",
        "--threads",
        "2",
        "--warmup",
        "20ms",
        "-d",
        "30ms",
        "--quiet",
        "--no-calibrate",
        // Counting the load threads' system calls costs each run about
        // 0.8 s of wall time here (the kernel enables and disables the
        // syscall tracepoints each time), 170 s over the 200 runs; the
        // memory under test is the driver's.
        "--no-syscalls",
    ])
    .run;
    let (mut baseline, mut measured) = (0, 0);
    for n in 1..=RUNS {
        let r = run::run(&args, Arc::new(AtomicBool::new(false))).expect("the run");
        // A bad answer here could be a buffer written after it was freed.
        assert_eq!(r.errors.total(), 0, "run {n}: {:?}", r.errors);
        // On a busy machine a 30 ms window can pass with every thread
        // descheduled; the load went through the driver all the same.
        measured += usize::from(r.completed > 0);
        let rss = rss_kib();
        if n == SETTLE {
            baseline = rss;
        }
        if n >= SETTLE {
            let growth = rss.saturating_sub(baseline);
            if n == RUNS || growth >= BOUND_KIB {
                say(&format!(
                    "RSS after run {SETTLE}: {baseline} KiB; after run {n}: {rss} KiB (growth {growth} KiB; \
                     {measured} runs measured requests)"
                ));
            }
            assert!(
                growth < BOUND_KIB,
                "RSS grew by {growth} KiB between run {SETTLE} and run {n} (bound {BOUND_KIB} KiB): a run \
                 leaves memory behind"
            );
        }
    }
    // Requests went through: on a machine busy enough to deschedule the
    // threads for a whole 30 ms window, still most runs measure some.
    assert!(measured > RUNS / 10, "only {measured} of {RUNS} runs measured any request");
}
