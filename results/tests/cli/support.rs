//! What the subcommands' tests share: scratch directories, the binary, a
//! complete row to vary, and the SKIPPED line.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use protocol::Protocol;
use results::{Arrival, Mode, Phase, Row, SCHEMA_VERSION};

/// A fresh, empty directory for one test, under Cargo's temporary directory
/// for integration tests (`name` tells the tests apart).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ringside-results SUBCOMMAND`, ready for arguments.
pub(crate) fn ringside_results(subcommand: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringside-results"));
    command.arg(subcommand);
    command
}

/// Where `ringside-results` was built, beside the other binaries.
pub(crate) fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ringside-results")).parent().expect("a directory").to_path_buf()
}

/// A test that cannot run here says why; libtest captures `eprintln!`, not a
/// write to the stderr handle.
pub(crate) fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// A complete closed-loop http run of `backend` with `connections`: 1,000
/// requests in 0.3 s, no errors, every latency 100 µs, 5 µs of server CPU
/// and 0.1 switches per request. Tests change the figures they look at.
pub(crate) fn row(backend: &str, connections: u32) -> Row {
    Row {
        schema: SCHEMA_VERSION,
        timestamp: "2025-01-31T09:15:02.123456Z".into(),
        run_id: "sweep-1".into(),
        repetition: 1,
        phase: Phase::Run,
        slo: String::new(),
        git_rev: "8fde1c8".into(),
        host: "bench1".into(),
        kernel: "6.18.0-1-amd64".into(),
        cpu_model: "test CPU".into(),
        backend: backend.into(),
        backend_options: String::new(),
        protocol: Protocol::Http,
        server_cores: "0".into(),
        client_cores: "1".into(),
        client_threads: 1,
        connections,
        pipeline: 1,
        mode: Mode::Closed,
        arrival: Arrival::None,
        target_rate: 0.0,
        offered_rate: 3333.3,
        sent_rate: 3333.3,
        achieved_rate: 3333.3,
        rate_shortfall: false,
        request_bytes: 0,
        response_bytes: 13,
        work: "none".into(),
        warmup_s: 0.1,
        duration_s: 0.3,
        requests: 1000,
        answered_late: 0,
        drain_s: 0.0,
        errors_connect: 0,
        errors_reset: 0,
        errors_timeout: 0,
        errors_bad_response: 0,
        errors_http_3xx: 0,
        errors_http_4xx: 0,
        errors_http_5xx: 0,
        conns_unanswered: 0,
        conn_answers_min: 1,
        conn_answers_max: 2,
        reconnects: 0,
        complete: true,
        note: String::new(),
        lat_p50_us: 100.0,
        lat_p90_us: 100.0,
        lat_p99_us: 100.0,
        lat_p999_us: 100.0,
        lat_p9999_us: 100.0,
        lat_max_us: 100.0,
        lat_mean_us: 100.0,
        raw_p50_us: 100.0,
        raw_p90_us: 100.0,
        raw_p99_us: 100.0,
        raw_p999_us: 100.0,
        raw_p9999_us: 100.0,
        raw_max_us: 100.0,
        raw_mean_us: 100.0,
        send_lag_p50_us: 0.0,
        send_lag_p99_us: 0.0,
        send_lag_max_us: 0.0,
        server_cpu_user_us: 2.0,
        server_cpu_sys_us: 3.0,
        server_vcs: 0.1,
        server_ics: 0.01,
        server_requests: 1000,
        server_syscalls: Some(2.05),
        server_syscalls_by_name: "read=1 write=1 epoll_pwait2=0.05".into(),
        client_cpu_user_us: 1.0,
        client_cpu_sys_us: 1.0,
        client_vcs: 0.1,
        client_ics: 0.0,
        client_syscalls: Some(0.05),
        client_syscalls_by_name: "io_uring_enter=0.05".into(),
        ctxsw_same_cpu_ns: 0.0,
        ctxsw_cross_cpu_ns: 0.0,
        switch_share_pct: 0.0,
        hlog: String::new(),
    }
}
