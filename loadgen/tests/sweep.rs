//! The load generator against the real server: a tiny sweep, a sweep whose
//! server cannot start, and `run` against a thread pool too small for its
//! connections.
//!
//! The server binary is `ringside-server` next to the load generator in
//! `target/<profile>/`. `cargo test --workspace` builds it (the servers
//! package's own tests need it); `cargo test -p loadgen` alone does not, and
//! cannot build it from inside a test (cargo holds the build directory's
//! lock while tests run), so these tests then skip, saying so:
//! `cargo build -p servers --bin ringside-server` first.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// One test at a time: they share two CPUs, and a script written while
/// another thread forks could not be executed (ETXTBSY).
static SERIAL: Mutex<()> = Mutex::new(());

fn server() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_ringside-loadgen")).parent()?.to_path_buf();
    let server = dir.join("ringside-server");
    server.is_file().then_some(server)
}

/// The server and two CPUs (server, load), or why the test cannot run.
fn setup(test: &str) -> Option<(PathBuf, [usize; 2])> {
    let skip = |why: String| {
        // libtest captures eprintln!, not a write to the stderr handle.
        let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
    };
    let Some(server) = server() else {
        skip(format!(
            "no ringside-server next to {}; build it with `cargo build -p servers --bin ringside-server` \
             (cargo test --workspace does)",
            env!("CARGO_BIN_EXE_ringside-loadgen")
        ));
        return None;
    };
    let cpus: Vec<usize> =
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    if cpus.len() < 2 {
        skip(format!("needs 2 CPUs, this process may use {cpus:?}"));
        return None;
    }
    Some((server, [cpus[0], cpus[1]]))
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringside-loadgen")).args(args).output().expect("run ringside-loadgen")
}

fn temp_csv(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ringside-sweep-{name}-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn tiny_sweep() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, [server_cpu, client_cpu])) = setup("tiny_sweep") else { return };
    let csv = temp_csv("tiny");
    let (s, c) = (server_cpu.to_string(), client_cpu.to_string());
    let out = loadgen(&[
        "sweep",
        "--server",
        server.to_str().unwrap(),
        "--backends",
        "epoll,thread-pool",
        "--protocols",
        "http",
        "--connections",
        "4",
        "--repetitions",
        "1",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
        "--server-cores",
        &s,
        "--client-cores",
        &c,
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);

    let rows = results::read(&csv).expect("the sweep's CSV");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let backends: Vec<&str> = rows.iter().map(|r| r.backend.as_str()).collect();
    assert_eq!(backends, ["epoll", "thread-pool"]);
    for r in &rows {
        assert!(r.complete, "{r:#?}");
        assert!(r.requests > 0 && r.server_requests > 0, "{r:#?}");
        assert_eq!((r.repetition, r.connections, r.server_cores.as_str()), (1, 4, s.as_str()));
        assert_eq!(r.run_id, rows[0].run_id);
    }
    assert!(rows[1].backend_options.contains("threads=64"), "{}", rows[1].backend_options);

    // The table: a line per backend, with figures.
    let table =
        stdout.split_once("http, 4 connections\n").map(|(_, t)| t).unwrap_or_else(|| panic!("{stdout}"));
    for backend in ["epoll", "thread-pool"] {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(backend))
            .unwrap_or_else(|| panic!("no {backend} line in:\n{stdout}"));
        assert!(!line.contains("n/a"), "{line}");
    }
    // One progress line per run.
    assert_eq!(stderr.lines().filter(|l| l.contains(" req/s ")).count(), 2, "{stderr}");
    let _ = std::fs::remove_file(&csv);
}

/// A server that exits with `exit::UNSUPPORTED` (this kernel cannot run
/// it) is skipped for the rest of the sweep, with its reason; the others
/// still run; the sweep exits `exit::INCOMPLETE`.
#[test]
fn unsupported_backend_is_skipped_with_its_reason() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, [server_cpu, client_cpu])) = setup("unsupported_backend_is_skipped_with_its_reason")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ringside-sweep-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("server");
    // Lists a backend `nokernel` that always exits unsupported, as
    // --list-backends lists them; the rest is the real server.
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --list-backends ]; then printf 'nokernel\\tx\\nepoll\\ty\\n'; exit 0; fi\n\
         if [ \"$2\" = nokernel ]; then echo 'io_uring is disabled here; use --backend epoll' >&2; exit {}; fi\n\
         exec '{}' \"$@\"\n",
        platform::exit::UNSUPPORTED,
        server.display()
    );
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let csv = temp_csv("unsupported");
    let (s, c) = (server_cpu.to_string(), client_cpu.to_string());
    let out = loadgen(&[
        "sweep",
        "--server",
        fake.to_str().unwrap(),
        "--connections",
        "2",
        "--repetitions",
        "2",
        "--duration",
        "100ms",
        "--warmup",
        "50ms",
        "--server-cores",
        &s,
        "--client-cores",
        &c,
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(platform::exit::INCOMPLETE.into()),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("skipping nokernel for the rest of the sweep"), "{stderr}");
    let skipped = format!(
        "nokernel         n/a (skipped: this kernel cannot run it (exit status {})",
        platform::exit::UNSUPPORTED
    );
    assert!(stdout.contains(&skipped), "{stdout}");
    assert!(stdout.contains("Skipped backends:\n  nokernel: this kernel cannot run it"), "{stdout}");
    assert!(stdout.contains("io_uring is disabled here"), "{stdout}");
    // One failed row for nokernel, then only epoll: rep 1 and rep 2.
    let rows = results::read(&csv).expect("the sweep's CSV");
    let seen: Vec<(&str, bool)> = rows.iter().map(|r| (r.backend.as_str(), r.complete)).collect();
    assert_eq!(seen, [("nokernel", false), ("epoll", true), ("epoll", true)]);
    assert!(rows[0].note.contains("the server did not start"), "{}", rows[0].note);
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, _)) = setup("dry_run_prints_the_plan_and_runs_nothing") else { return };
    let csv = temp_csv("dry");
    let out = loadgen(&[
        "sweep",
        "--dry-run",
        "--server",
        server.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.starts_with("sweep: ") && stdout.contains(" backends x 2 cells x 6 repetitions = "),
        "{stdout}"
    );
    assert!(stdout.contains("; estimated time "), "{stdout}");
    assert!(stdout.contains("--backend thread-pool --protocol http"), "{stdout}");
    assert!(stdout.contains("--threads 500"), "{stdout}");
    assert!(!csv.exists(), "a dry run writes nothing");
}

#[test]
fn missing_server_says_how_to_build_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = loadgen(&["sweep", "--dry-run", "--server", "/nonexistent/ringside-server"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "no server binary at /nonexistent/ringside-server: build it with `cargo build --release`"
        ),
        "{stderr}"
    );
}

/// The study notes' lesson, measured: a thread pool of 2 workers and 4
/// keep-alive connections serves 2 and leaves 2 queued for the whole run.
/// `run` counts them, and it will not report the server's per-request
/// figures from an in-band counters read that waited in the same queue.
#[test]
fn a_thread_pool_smaller_than_the_connections_leaves_some_unanswered() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, [server_cpu, client_cpu])) =
        setup("a_thread_pool_smaller_than_the_connections_leaves_some_unanswered")
    else {
        return;
    };
    let (s, c) = (server_cpu.to_string(), client_cpu.to_string());
    let mut child = Command::new(&server)
        .args(["--backend", "thread-pool", "--threads", "2", "--listen", "127.0.0.1:0", "--cores", &s])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start ringside-server");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let addr = loop {
        let line = lines.next().expect("the server's `listening on` line").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    let csv = temp_csv("starved");
    let out = loadgen(&[
        "run",
        "-a",
        &addr,
        "-c",
        "4",
        "--cores",
        &c,
        "--warmup",
        "200ms",
        "-d",
        "1s",
        "--timeout",
        "30s",
        "--no-calibrate",
        "--quiet",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("; 2 NEVER ANSWERED"), "{stdout}");
    assert!(stdout.contains("server CPU and switches per request not reported"), "{stdout}");
    let rows = results::read(&csv).expect("the run's CSV");
    let r = &rows[0];
    assert_eq!((r.conns_unanswered, r.conn_answers_min, r.errors_timeout), (2, 0, 0), "{r:#?}");
    assert!(r.conn_answers_max > 0 && r.requests > 0, "{r:#?}");
    assert_eq!(r.server_cpu_user_us + r.server_cpu_sys_us, 0.0, "{r:#?}");
    assert!(r.note.contains("not reported"), "{}", r.note);
    let _ = std::fs::remove_file(&csv);
}

/// The common flags of a tiny sweep of epoll at 4 connections.
fn tiny(server: &Path, cpus: [usize; 2], csv: &Path, extra: &[&str]) -> Output {
    let (s, c) = (cpus[0].to_string(), cpus[1].to_string());
    let mut args = vec![
        "sweep",
        "--server",
        server.to_str().unwrap(),
        "--backends",
        "epoll",
        "--connections",
        "4",
        "--repetitions",
        "1",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
        "--server-cores",
        &s,
        "--client-cores",
        &c,
        "--csv",
        csv.to_str().unwrap(),
    ];
    args.extend(extra);
    loadgen(&args)
}

#[test]
fn an_offered_load_grid_is_a_row_per_rate_and_a_curve_table() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, cpus)) = setup("an_offered_load_grid_is_a_row_per_rate_and_a_curve_table") else {
        return;
    };
    let csv = temp_csv("grid");
    let out = tiny(&server, cpus, &csv, &["--rates", "1k,2.5k"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let rows = results::read(&csv).expect("the sweep's CSV");
    let rates: Vec<f64> = rows.iter().map(|r| r.target_rate).collect();
    assert_eq!(rates, [1000.0, 2500.0]);
    for r in &rows {
        assert_eq!((r.mode, r.phase), (results::Mode::Open, results::Phase::Run), "{r:#?}");
        assert!((r.offered_rate - r.target_rate).abs() < 0.2 * r.target_rate, "{r:#?}");
        assert!(r.achieved_rate > 0.0 && r.send_lag_p99_us > 0.0, "{r:#?}");
    }
    assert!(stdout.contains("Latency-throughput curves"), "{stdout}");
    let curve = stdout.split_once("Latency-throughput curves").unwrap().1;
    assert!(curve.contains("1,000") && curve.contains("2,500"), "{curve}");
    let _ = std::fs::remove_file(&csv);
}

#[test]
fn a_capacity_search_writes_its_probes_its_capacity_and_a_table() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, cpus)) = setup("a_capacity_search_writes_its_probes_its_capacity_and_a_table") else {
        return;
    };
    let csv = temp_csv("capacity");
    // An objective every probe meets, and two probes: the search reports a
    // capacity it could not bracket, and says so (exit 3).
    let out = tiny(&server, cpus, &csv, &["--capacity", "--slo", "p99=10s", "--max-probes", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}\n{stdout}\n{stderr}", out.status);
    let rows = results::read(&csv).expect("the sweep's CSV");
    use results::Phase::{Capacity, Probe, Run};
    assert!(rows.iter().all(|r| r.slo == "p99<=10000000us"), "{rows:#?}");
    // The closed-loop estimate, then the two probes. Whether a probe passed
    // is the machine's business (a stall at a short window's end can make
    // one miss 99%): replay the search with the verdicts the rows give, and
    // check that the sweep probed, and wrote, what the search says.
    assert_eq!((rows[0].phase, rows[0].mode), (Probe, results::Mode::Closed), "{rows:#?}");
    let mut search = loadgen::capacity::Search::new(rows[0].achieved_rate, Default::default());
    for probe in &rows[1..3] {
        assert_eq!((probe.phase, probe.mode), (Probe, results::Mode::Open), "{probe:#?}");
        assert_eq!(Some(probe.target_rate), search.next_rate(), "{rows:#?}");
        let kept_up = probe.complete && probe.achieved_rate >= 0.99 * probe.offered_rate;
        let errors = probe.errors_connect + probe.errors_reset + probe.errors_bad_response;
        let pass = kept_up && errors == 0 && probe.requests > 0 && probe.lat_p99_us <= 10_000_000.0;
        search.record(probe.target_rate, loadgen::capacity::Verdict { pass, kept_up, why: String::new() });
    }
    assert_eq!(rows[1].target_rate, 0.25 * rows[0].achieved_rate, "the scan starts at 25% of the estimate");
    let found = search.result();
    match found.rate {
        Some(rate) => {
            // The capacity, then 50% and 80% of it.
            let phases: Vec<results::Phase> = rows[3..].iter().map(|r| r.phase).collect();
            assert_eq!(phases, [Capacity, Run, Run], "{rows:#?}");
            assert_eq!(rows[3].target_rate, rate, "the highest passing probe");
            assert!(!rows[3].complete, "two probes cannot converge: {:#?}", rows[3]);
            assert!(rows[3].note.contains("capacity under p99<=10000000us"), "{}", rows[3].note);
            assert_eq!((rows[4].target_rate, rows[5].target_rate), (0.5 * rate, 0.8 * rate));
            assert!(stdout.contains("did not converge"), "{stdout}");
        }
        None => assert_eq!(rows.len(), 3, "no capacity: no capacity row, no runs at shares of it: {rows:#?}"),
    }
    assert!(stdout.contains("Capacity under p99<=10000000us"), "{stdout}");
    let _ = std::fs::remove_file(&csv);
}
