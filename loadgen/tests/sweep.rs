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
use std::time::Duration;

use platform::server::ServerProcess;

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

/// Whether the sweep can count system calls here (root, or
/// perf_event_paranoid <= 1 and a readable tracefs): if not, the test
/// checks the rest and says it skipped the counting; under `CI=true`,
/// where counting must work, it fails.
fn counting(test: &str) -> bool {
    match loadgen::syscalls::Tracepoints::find() {
        Ok(_) => true,
        Err(why) => {
            assert!(!loadgen::syscalls::required(), "CI=true: system calls must be counted here: {why}");
            let _ = writeln!(std::io::stderr().lock(), "SKIPPED the counting checks of {test}: {why}");
            false
        }
    }
}

/// A row that counted the server's and the load threads' system calls.
fn counted(r: &results::Row) -> bool {
    !r.server_syscalls_by_name.is_empty()
        && !r.client_syscalls_by_name.is_empty()
        && r.server_syscalls.is_some_and(|v| v > 0.0)
        && r.client_syscalls.is_some()
}

/// A row that counted none: no figure, not a 0.
fn uncounted(r: &results::Row) -> bool {
    r.server_syscalls_by_name.is_empty()
        && r.client_syscalls_by_name.is_empty()
        && r.server_syscalls.is_none()
        && r.client_syscalls.is_none()
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

    // By default (--syscalls once), a counting run of each backend first,
    // then the runs, which count nothing.
    let counts = counting("tiny_sweep");
    let all = results::read(&csv).expect("the sweep's CSV");
    let (count_rows, rows): (Vec<_>, Vec<_>) = all.iter().partition(|r| r.phase == results::Phase::Count);
    assert_eq!(rows.len(), 2, "{all:#?}");
    let backends: Vec<&str> = rows.iter().map(|r| r.backend.as_str()).collect();
    assert_eq!(backends, ["epoll", "thread-pool"]);
    for r in &rows {
        assert!(r.complete, "{r:#?}");
        assert!(r.requests > 0 && r.server_requests > 0, "{r:#?}");
        assert_eq!((r.repetition, r.connections, r.server_cores.as_str()), (1, 4, s.as_str()));
        assert_eq!((r.run_id.as_str(), r.phase), (all[0].run_id.as_str(), results::Phase::Run));
        assert!(uncounted(r), "a measured run counts nothing: {r:#?}");
    }
    assert!(rows[1].backend_options.contains("threads=64"), "{}", rows[1].backend_options);
    if counts {
        // Exactly one per cell and backend, before the runs, in the runs' workload.
        let order: Vec<(results::Phase, &str)> = all.iter().map(|r| (r.phase, r.backend.as_str())).collect();
        use results::Phase::{Count, Run};
        assert_eq!(order, [(Count, "epoll"), (Count, "thread-pool"), (Run, "epoll"), (Run, "thread-pool")]);
        for (c, r) in count_rows.iter().zip(&rows) {
            assert!(c.complete && counted(c), "{c:#?}");
            assert_eq!(c.repetition, 1);
            assert_eq!(results::workload::Workload::of(c), results::workload::Workload::of(r));
        }
    } else {
        assert!(count_rows.is_empty(), "{count_rows:#?}");
    }

    // The table: a line per backend, with figures (syscalls/req from the
    // counting run).
    let table =
        stdout.split_once("http, 4 connections\n").map(|(_, t)| t).unwrap_or_else(|| panic!("{stdout}"));
    for backend in ["epoll", "thread-pool"] {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(backend))
            .unwrap_or_else(|| panic!("no {backend} line in:\n{stdout}"));
        assert!(!counts || !line.contains("n/a"), "{line}");
    }
    assert!(stdout.contains("from the backend's one counting run in the cell"), "{stdout}");
    // One progress line per run, and one per counting run, which gives its
    // system calls rather than figures that counting slowed.
    assert_eq!(stderr.lines().filter(|l| l.contains(" req/s ")).count(), 2, "{stderr}");
    let counting_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("] count ")).collect();
    assert_eq!(counting_lines.len(), count_rows.len(), "{stderr}");
    assert!(counting_lines.iter().all(|l| l.contains("syscalls: server ")), "{stderr}");
    let _ = std::fs::remove_file(&csv);
}

/// `--syscalls every` counts in every run and makes no counting runs, and
/// says that its figures carry counting's cost; `--syscalls off` (and
/// `--no-syscalls`) counts nothing.
#[test]
fn syscalls_every_counts_in_every_run_and_off_in_none() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let test = "syscalls_every_counts_in_every_run_and_off_in_none";
    let Some((server, cpus)) = setup(test) else { return };
    let counts = counting(test);
    for (flags, every) in
        [(&["--syscalls", "every"][..], true), (&["--syscalls", "off"], false), (&["--no-syscalls"], false)]
    {
        let csv = temp_csv("every-off");
        let out = tiny(&server, cpus, &csv, flags);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{flags:?}: {}\n{stdout}\n{stderr}", out.status);
        let rows = results::read(&csv).expect("the sweep's CSV");
        assert_eq!(rows.len(), 1, "{flags:?}: no counting run: {rows:#?}");
        let r = &rows[0];
        assert_eq!((r.phase, r.complete), (results::Phase::Run, true), "{flags:?}: {r:#?}");
        let line = stdout.lines().find(|l| l.trim_start().starts_with("epoll")).unwrap();
        if every {
            assert!(stdout.contains("include counting's cost"), "{stdout}");
            assert!(stdout.contains("counted in every run (--syscalls every)"), "{stdout}");
            if counts {
                assert!(counted(r), "{flags:?}: {r:#?}");
                assert!(!line.contains("n/a"), "{line}");
            }
        } else {
            assert!(uncounted(r), "{flags:?}: {r:#?}");
            assert!(line.contains("n/a"), "{flags:?}: syscalls/req: {line}");
            assert!(stdout.contains("not counted (--syscalls off)"), "{stdout}");
        }
        assert!(!stderr.contains("] count "), "{stderr}");
        let _ = std::fs::remove_file(&csv);
    }
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
    // One failed row for nokernel (its counting run, where counting is
    // permitted), then only epoll: its counting run, rep 1 and rep 2.
    let rows = results::read(&csv).expect("the sweep's CSV");
    let seen: Vec<(&str, results::Phase, bool)> =
        rows.iter().map(|r| (r.backend.as_str(), r.phase, r.complete)).collect();
    use results::Phase::{Count, Run};
    if counting("unsupported_backend_is_skipped_with_its_reason") {
        assert_eq!(
            seen,
            [("nokernel", Count, false), ("epoll", Count, true), ("epoll", Run, true), ("epoll", Run, true)]
        );
    } else {
        assert_eq!(seen, [("nokernel", Run, false), ("epoll", Run, true), ("epoll", Run, true)]);
    }
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
    // The counting runs (--syscalls once): in the plan, its list and its estimate.
    let backends = stdout.lines().find_map(|l| l.strip_prefix("  backends: ")).unwrap();
    let n = backends.split(" (server").next().unwrap().split(", ").count();
    assert!(
        stdout.contains(&format!(
            "{n} backends x 2 cells x 6 repetitions = {} runs, +1 counting run per cell and backend (--syscalls \
             once) = {} runs;",
            n * 12,
            n * 14
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("  estimate: {} runs x ", n * 14)), "{stdout}");
    let listed = stdout.lines().filter(|l| l.contains("ringside-server --backend")).collect::<Vec<_>>();
    assert_eq!(listed.len(), n * 14, "{stdout}");
    assert_eq!(listed.iter().filter(|l| l.contains(" count  http c=")).count(), n * 2, "{stdout}");
    assert!(listed[0].contains(" count  http c=50 "), "first, the counting runs: {stdout}");
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
    let mut command = Command::new(&server);
    command.args(["--backend", "thread-pool", "--threads", "2", "--listen", "127.0.0.1:0", "--cores", &s]);
    let mut child = ServerProcess::spawn(command).expect("start ringside-server");
    let addr = match child.wait_ready(Duration::from_secs(20)) {
        Ok(announced) => announced.listen.to_string(),
        Err(e) => panic!("ringside-server did not start: {e}"),
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
    child.kill();
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
    let all = results::read(&csv).expect("the sweep's CSV");
    let (count_rows, rows): (Vec<_>, Vec<_>) = all.iter().partition(|r| r.phase == results::Phase::Count);
    let rates: Vec<f64> = rows.iter().map(|r| r.target_rate).collect();
    assert_eq!(rates, [1000.0, 2500.0]);
    // Each rate's counting run is at that rate, before its run.
    if counting("an_offered_load_grid_is_a_row_per_rate_and_a_curve_table") {
        let order: Vec<(results::Phase, f64)> = all.iter().map(|r| (r.phase, r.target_rate)).collect();
        use results::Phase::{Count, Run};
        assert_eq!(order, [(Count, 1000.0), (Run, 1000.0), (Count, 2500.0), (Run, 2500.0)]);
        for c in &count_rows {
            assert_eq!(c.mode, results::Mode::Open, "{c:#?}");
            assert!(counted(c), "{c:#?}");
        }
    }
    for r in &rows {
        assert!(uncounted(r), "{r:#?}");
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
    let all = results::read(&csv).expect("the sweep's CSV");
    use results::Phase::{Capacity, Count, Probe, Run};
    // First, the cell's closed-loop counting run (--syscalls once); the
    // search's rows count nothing.
    let (count_rows, rows): (Vec<results::Row>, Vec<results::Row>) =
        all.iter().cloned().partition(|r| r.phase == Count);
    if counting("a_capacity_search_writes_its_probes_its_capacity_and_a_table") {
        assert_eq!(all[0].phase, Count, "{all:#?}");
        assert_eq!(count_rows.len(), 1, "{all:#?}");
        let c = &count_rows[0];
        assert_eq!((c.mode, c.slo.as_str(), c.complete), (results::Mode::Closed, "", true), "{c:#?}");
        assert!(counted(c), "{c:#?}");
        assert!(
            stdout.contains("Server system calls per request, from a closed-loop counting run"),
            "{stdout}"
        );
    }
    assert!(rows.iter().all(uncounted), "{rows:#?}");
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

/// `run --json` against a real epoll server: stdout is one JSON document
/// and nothing else, the text summary is on stderr, and the document holds
/// the row `--csv` appended, column for column, plus percentile lists that
/// agree with the row's columns.
#[test]
fn run_json_is_the_csv_row_and_the_percentiles() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((server, [server_cpu, client_cpu])) = setup("run_json_is_the_csv_row_and_the_percentiles")
    else {
        return;
    };
    let (s, c) = (server_cpu.to_string(), client_cpu.to_string());
    let mut command = Command::new(&server);
    command.args(["--backend", "epoll", "--listen", "127.0.0.1:0", "--cores", &s]);
    let mut child = platform::server::ServerProcess::spawn(command).expect("start ringside-server");
    let addr = child
        .wait_ready(std::time::Duration::from_secs(20))
        .expect("the server announces itself")
        .listen
        .to_string();
    let csv = temp_csv("json");
    let out = loadgen(&[
        "run",
        "-a",
        &addr,
        "-c",
        "4",
        "--cores",
        &c,
        "--rate",
        "2000",
        "--warmup",
        "100ms",
        "-d",
        "500ms",
        "--no-calibrate",
        "--json",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    child.kill();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(
        stderr.contains("Requests") && !stdout.contains("Requests "),
        "the summary is on stderr: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");

    // The row's columns, as the CSV has them (a number to the precision
    // the CSV reader gives back: its text round trip may move the last
    // digit).
    let rows = results::read(&csv).expect("the run's CSV");
    let row = serde_json::to_value(&rows[0]).unwrap();
    for column in results::COLUMNS {
        match (doc[column].as_f64(), row[column].as_f64()) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12 * b.abs(), "column {column}: {a} {b}"),
            _ => assert_eq!(doc[column], row[column], "column {column}\n{stdout}"),
        }
    }
    assert_eq!(doc["protocol"], "http");
    assert_eq!(doc["mode"], "open");
    assert!(doc["requests"].as_u64().unwrap() > 0, "{stdout}");

    // The percentiles: the CSV's columns among them, in µs.
    let p = &doc["percentiles"];
    assert_eq!(p["unit"], "us");
    let at = |series: &str, percentile: f64| {
        p[series]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["percentile"].as_f64() == Some(percentile))
            .unwrap_or_else(|| panic!("{series} p{percentile} in {p}"))["value"]
            .as_f64()
            .unwrap()
    };
    let r = &rows[0];
    assert_eq!(at("corrected", 50.0), r.lat_p50_us);
    assert_eq!(at("corrected", 99.0), r.lat_p99_us);
    assert_eq!(at("corrected", 100.0), r.lat_max_us);
    assert_eq!(at("raw", 99.9), r.raw_p999_us);
    assert_eq!(at("send_lag", 99.0), r.send_lag_p99_us);
    let corrected: Vec<f64> =
        p["corrected"].as_array().unwrap().iter().map(|x| x["value"].as_f64().unwrap()).collect();
    assert!(corrected.windows(2).all(|w| w[0] <= w[1]), "ascending: {corrected:?}");
    let _ = std::fs::remove_file(&csv);
}
