//! One row of the results CSV: what ran, where, and what was measured.
//!
//! The doc comment of each field of [`Row`] is that column's documentation;
//! `results/SCHEMA.md` renders them as a table, and a test regenerates it
//! and fails when it was out of date. Any change to the columns — added,
//! removed, renamed, reordered, or meaning something else — raises
//! [`SCHEMA_VERSION`], because [`append`](crate::append) refuses a file
//! whose header differs and readers refuse other versions.

use std::time::{SystemTime, UNIX_EPOCH};

use protocol::Protocol;
use serde::{Deserialize, Serialize};

/// Version of the column layout. Raised by any change to [`Row`]'s columns.
pub const SCHEMA_VERSION: u32 = 3;

/// The header line, one name per column, in the order [`Row`] declares its
/// fields (a test checks they agree).
pub const COLUMNS: [&str; 80] = [
    "schema",
    "timestamp",
    "run_id",
    "repetition",
    "phase",
    "slo",
    "git_rev",
    "host",
    "kernel",
    "cpu_model",
    "backend",
    "backend_options",
    "protocol",
    "server_cores",
    "client_cores",
    "client_threads",
    "connections",
    "pipeline",
    "mode",
    "arrival",
    "target_rate",
    "offered_rate",
    "sent_rate",
    "achieved_rate",
    "rate_shortfall",
    "request_bytes",
    "response_bytes",
    "work",
    "warmup_s",
    "duration_s",
    "requests",
    "answered_late",
    "drain_s",
    "errors_connect",
    "errors_reset",
    "errors_timeout",
    "errors_bad_response",
    "errors_http_3xx",
    "errors_http_4xx",
    "errors_http_5xx",
    "conns_unanswered",
    "conn_answers_min",
    "conn_answers_max",
    "reconnects",
    "complete",
    "note",
    "lat_p50_us",
    "lat_p90_us",
    "lat_p99_us",
    "lat_p999_us",
    "lat_p9999_us",
    "lat_max_us",
    "lat_mean_us",
    "raw_p50_us",
    "raw_p90_us",
    "raw_p99_us",
    "raw_p999_us",
    "raw_p9999_us",
    "raw_max_us",
    "raw_mean_us",
    "send_lag_p50_us",
    "send_lag_p99_us",
    "send_lag_max_us",
    "server_cpu_user_us",
    "server_cpu_sys_us",
    "server_vcs",
    "server_ics",
    "server_requests",
    "server_syscalls",
    "server_syscalls_by_name",
    "client_cpu_user_us",
    "client_cpu_sys_us",
    "client_vcs",
    "client_ics",
    "client_syscalls",
    "client_syscalls_by_name",
    "ctxsw_same_cpu_ns",
    "ctxsw_cross_cpu_ns",
    "switch_share_pct",
    "hlog",
];

/// The header of schema 2, the layout before [`SCHEMA_VERSION`] 3, which
/// [`read`](crate::read) still reads (see [`Row`] for how its rows map).
pub const COLUMNS_V2: [&str; 63] = [
    "schema",
    "timestamp",
    "run_id",
    "repetition",
    "git_rev",
    "host",
    "kernel",
    "cpu_model",
    "backend",
    "backend_options",
    "protocol",
    "server_cores",
    "client_cores",
    "client_threads",
    "connections",
    "pipeline",
    "mode",
    "arrival",
    "target_rate",
    "achieved_rate",
    "rate_shortfall",
    "request_bytes",
    "response_bytes",
    "work",
    "warmup_s",
    "duration_s",
    "requests",
    "errors_connect",
    "errors_reset",
    "errors_timeout",
    "errors_bad_response",
    "conns_unanswered",
    "conn_answers_min",
    "conn_answers_max",
    "complete",
    "note",
    "lat_p50_us",
    "lat_p90_us",
    "lat_p99_us",
    "lat_p999_us",
    "lat_p9999_us",
    "lat_max_us",
    "lat_mean_us",
    "raw_p50_us",
    "raw_p90_us",
    "raw_p99_us",
    "raw_p999_us",
    "raw_p9999_us",
    "raw_max_us",
    "raw_mean_us",
    "server_cpu_user_us",
    "server_cpu_sys_us",
    "server_vcs",
    "server_ics",
    "server_requests",
    "client_cpu_user_us",
    "client_cpu_sys_us",
    "client_vcs",
    "client_ics",
    "ctxsw_same_cpu_ns",
    "ctxsw_cross_cpu_ns",
    "switch_share_pct",
    "hlog",
];

/// One run of the load generator against one server configuration, or
/// (`phase` = `capacity`) the result of one capacity search.
///
/// Rows read from a schema-2 file keep `schema` = 2 and get the columns
/// schema 3 added as a schema-2 run would have had them: `phase` `run`,
/// `slo` empty, `offered_rate` and `sent_rate` the `target_rate` in open loop
/// (the schedule was sent in full then: latency was charged to the requests
/// instead) and the `achieved_rate` in closed loop, `answered_late`,
/// `drain_s` and the `send_lag_*` columns 0. Their `achieved_rate` and
/// `requests` keep schema 2's meaning (answers to the window's requests,
/// the drain included), and `rate_shortfall` its 95%-of-target threshold.
///
/// There is deliberately no `Default`: whoever builds a row sets every
/// column, so a column added here is a compile error at every writer rather
/// than a silent zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Version of the column layout, always `SCHEMA_VERSION` (3) in a file written now; `append`
    /// writes it whatever the row holds. Readers also read schema-2 files, whose rows keep 2 here.
    pub schema: u32,
    /// Start of the measured window (after the warm-up), UTC, RFC 3339 with microseconds, e.g.
    /// `2025-01-31T09:15:02.123456Z` (`timestamp_utc` formats it).
    pub timestamp: String,
    /// Groups the rows of one sweep or one invocation of the load generator: the same on all of its
    /// rows, different from every other invocation's. Free text.
    pub run_id: String,
    /// Which repetition of this configuration within `run_id` the row is, counting from 1 (a
    /// `count` row's is 1: a sweep makes one counting run per cell and backend).
    pub repetition: u32,
    /// What the row is: `run`, a measured run (a plain run, a point of an offered-load grid, or a
    /// capacity search's run at a share of the capacity it found); `probe`, a run a sweep's
    /// capacity search made only to find the capacity (`compare`, `gate` and `report` leave these
    /// out unless asked, but for `report`'s latency–throughput curves, which always draw them);
    /// `capacity`, not a run but the result of one
    /// capacity search (one per backend per repetition): its `target_rate` is the capacity found,
    /// the highest offered rate whose `achieved_rate` was at least 99% of `offered_rate` and whose
    /// latency met `slo`, and its other columns are those of the probe at that rate; `count`, a run
    /// made to count system calls (a sweep's one per cell and backend, `--syscalls once`):
    /// counting slows every counted call, so its throughput, latencies and costs are not the
    /// design's; only its system-call figures are used (the tools take it for `server_syscalls`
    /// alone, in the workload of the `run` rows it counts for).
    pub phase: Phase,
    /// The latency objective a `probe` or `capacity` row was judged against, or that of the
    /// capacity search a `run` was offered a share of the capacity of, normalised as a percentile
    /// of the corrected latency and a bound in microseconds, e.g. `p99<=1000us`; empty for any
    /// other `run`.
    pub slo: String,
    /// Git revision of ringside that ran (commit hash, `-dirty` appended if the tree had
    /// uncommitted changes), or `unknown`.
    pub git_rev: String,
    /// Host name of the machine the load generator ran on.
    pub host: String,
    /// Kernel release of that machine, as `uname -r` prints it.
    pub kernel: String,
    /// CPU model of that machine (`model name` in `/proc/cpuinfo`); empty if unknown.
    pub cpu_model: String,
    /// Backend name as the server's counters report it (`backend`, e.g. `thread-pool`); empty if
    /// the counters could not be read or were not (`--no-server-counters`, `--server-pid`).
    pub backend: String,
    /// The backend's effective options as its counters report them (`options`: `key=value`
    /// separated by spaces); empty if unknown.
    pub backend_options: String,
    /// Protocol the load generator spoke: `echo`, `rr` or `http`.
    #[serde(with = "protocol_name")]
    pub protocol: Protocol,
    /// CPUs the server was pinned to, as a CPU list (`0`, `0-1`, `0,2`); empty if unknown.
    pub server_cores: String,
    /// CPUs the load generator's threads were pinned to, as a CPU list; empty if they were not
    /// pinned.
    pub client_cores: String,
    /// Load generator threads sending requests.
    pub client_threads: u32,
    /// Connections open during the window, over all client threads.
    pub connections: u32,
    /// Requests outstanding per connection: each connection keeps this many sent and unanswered (1:
    /// no pipelining).
    pub pipeline: u32,
    /// `closed` (a connection sends its next request when an answer arrives) or `open` (requests
    /// leave on a schedule at `target_rate`, answered or not).
    pub mode: Mode,
    /// Open loop's schedule: `poisson` (exponentially distributed gaps) or `uniform` (equal gaps);
    /// empty in closed loop.
    pub arrival: Arrival,
    /// Open loop: the scheduled rate over all connections, requests/s (`--rate`); 0 in closed loop.
    /// For a `capacity` row, the capacity found.
    pub target_rate: f64,
    /// The load offered in the window, requests/s: requests whose intended send time fell in the
    /// measured window, divided by `duration_s` (in closed loop, the requests sent in the window
    /// divided by `duration_s`).
    pub offered_rate: f64,
    /// Requests actually written to the server during the window, divided by `duration_s`,
    /// requests/s; below `offered_rate` when the load generator or the connections fell behind the
    /// schedule.
    pub sent_rate: f64,
    /// Answers received during the window (to any request, including ones sent before it), divided
    /// by `duration_s`, requests/s: what the server did in the window. Answers in the drain after
    /// the window do not count here.
    pub achieved_rate: f64,
    /// `true` if an open-loop run's `achieved_rate` is below 98% of its `offered_rate` (the server
    /// did not keep up: its latencies describe an overloaded system); always `false` in closed
    /// loop.
    pub rate_shortfall: bool,
    /// Payload bytes of each request, framing excluded: echo, the bytes sent per request; rr, the
    /// REQUEST payload; http, the request body (0 for GET).
    pub request_bytes: u64,
    /// Payload bytes of each answer, framing excluded: echo, as `request_bytes`; rr, the response
    /// length asked for; http, the response body.
    pub response_bytes: u64,
    /// Server work each request asks for (rr only; `none` otherwise): `none`, `spin:<ns>ns`
    /// (busy-loop that many nanoseconds) or `sleep:<us>us` (a blocking sleep of that many
    /// microseconds).
    pub work: String,
    /// Warm-up run before the window, whose requests count nowhere, seconds.
    pub warmup_s: f64,
    /// Length of the measured window actually run, seconds (shorter than asked if the run was cut
    /// short; see `complete`).
    pub duration_s: f64,
    /// The window's requests that were answered (in full and checked): requests whose intended send
    /// time fell in the window, answered in the window or in the drain after it. The latency
    /// histograms hold exactly these.
    pub requests: u64,
    /// Of `requests`, those answered after the window ended (in the drain).
    pub answered_late: u64,
    /// How long the run went on after the window, waiting for the answers to the window's requests,
    /// seconds (at most the load generator's `--timeout`).
    pub drain_s: f64,
    /// Connection attempts that failed during the window.
    pub errors_connect: u64,
    /// Connections that failed during the window with requests outstanding: reset by the server, or
    /// closed by it before answering.
    pub errors_reset: u64,
    /// Requests of the window still unsent or unanswered `--timeout` after their intended send time,
    /// plus those outstanding on connections broken by a timeout.
    pub errors_timeout: u64,
    /// Answers received during the window that were wrong: not the echo, a bad rr frame or id, an
    /// http response that is not well formed.
    pub errors_bad_response: u64,
    /// http answers with a 3xx status to the window's requests (only 2xx are answers: these count
    /// neither as latencies nor towards the achieved rate).
    pub errors_http_3xx: u64,
    /// http answers with a 4xx status to the window's requests (as `errors_http_3xx`).
    pub errors_http_4xx: u64,
    /// http answers with a 5xx status to the window's requests (as `errors_http_3xx`).
    pub errors_http_5xx: u64,
    /// Connections that had a request outstanding during the window and received no answer from
    /// its start to the end of the run (the drain after the window included; a request sent in
    /// the warm-up is waited for as long again as the window, at least 100 ms, at most the
    /// timeout): served by no one (a thread pool's connections queued behind busy workers), yet
    /// invisible in `requests` and the latencies, since a connection waiting for an answer sends
    /// nothing more.
    pub conns_unanswered: u64,
    /// Fewest answers one connection received during the window, among those with a request
    /// outstanding in it (0 if any is in `conns_unanswered`; 0 if none had one).
    pub conn_answers_min: u64,
    /// Most answers one connection received during the window; with `conn_answers_min`, how
    /// evenly the server served its connections.
    pub conn_answers_max: u64,
    /// Connections opened again after the server closed them following an answer (`Connection:
    /// close`, HTTP/1.0, a body that ends at the close); 0 for a server that keeps them.
    pub reconnects: u64,
    /// `false` if the run was cut short (the server died, Ctrl-C): `duration_s` is then shorter
    /// than asked and `note` says why.
    pub complete: bool,
    /// Why the run is incomplete, and any warnings (such as a column that could not be measured and
    /// holds 0), separated by `; `; empty if none.
    pub note: String,
    /// Median latency from the intended send time, microseconds (recorded in nanoseconds, so up to 3
    /// decimals): from when the request was due to leave (its place in the open-loop schedule, so
    /// time spent waiting to be sent counts) to when its answer was complete. In closed loop nothing
    /// is scheduled and the intended time is the actual one. Over `requests`; 0 if there are none.
    pub lat_p50_us: f64,
    /// 90th percentile latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_p90_us: f64,
    /// 99th percentile latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_p99_us: f64,
    /// 99.9th percentile latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_p999_us: f64,
    /// 99.99th percentile latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_p9999_us: f64,
    /// Largest latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_max_us: f64,
    /// Mean latency from the intended send time, microseconds (as `lat_p50_us`).
    pub lat_mean_us: f64,
    /// Median latency from the actual send time, microseconds (recorded in nanoseconds, so up to 3
    /// decimals): from when the request's first byte was handed to the socket to when its answer was
    /// complete. Over `requests`; 0 if there are none.
    pub raw_p50_us: f64,
    /// 90th percentile latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_p90_us: f64,
    /// 99th percentile latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_p99_us: f64,
    /// 99.9th percentile latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_p999_us: f64,
    /// 99.99th percentile latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_p9999_us: f64,
    /// Largest latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_max_us: f64,
    /// Mean latency from the actual send time, microseconds (as `raw_p50_us`).
    pub raw_mean_us: f64,
    /// Median send lag, microseconds (up to 3 decimals): the load generator's own lateness, the
    /// actual send time minus the time the request could first be sent (its intended time, or later
    /// when it waited for room on its connection, pipeline full), over the window's requests. Open
    /// loop; 0 in closed loop. Large against the corrected latency, it means that latency measures
    /// the load generator as much as the server.
    pub send_lag_p50_us: f64,
    /// 99th percentile send lag, microseconds (as `send_lag_p50_us`).
    pub send_lag_p99_us: f64,
    /// Largest send lag, microseconds (as `send_lag_p50_us`).
    pub send_lag_max_us: f64,
    /// Server user CPU time per request, microseconds: the growth of its counters' `cpu_user_us`
    /// from just before to just after the window, divided by the requests the server counted over
    /// the same span (`server_requests`; for echo, which counts none, by `requests`). The whole
    /// process, all threads. 0, with a note, if the counters could not be read, or if the first
    /// snapshot may have been taken more than a quarter of the window after it started (or the
    /// second more than that after the load ended), as the reads' timing and the server's
    /// `uptime_us` tell: a server whose threads are all busy answers late, and a thread pool
    /// queues the reading connection behind the load's. `note` says when the figures may cover
    /// less than 95% of the window. With `run --server-pid` (a server that keeps no counters):
    /// utime + cutime of the process from `/proc/PID/stat` at the window's start and end, per
    /// answer received in the window, and the note says so.
    pub server_cpu_user_us: f64,
    /// Server system CPU time per request, microseconds: Δ`cpu_sys_us` per request, as
    /// `server_cpu_user_us`.
    pub server_cpu_sys_us: f64,
    /// Server voluntary context switches per request (a thread blocked or yielded):
    /// Δ`ctx_voluntary` per request, as `server_cpu_user_us` (with `--server-pid`: each live
    /// thread's change in `/proc/PID/task/*/status`; threads that ended in the window are missed).
    pub server_vcs: f64,
    /// Server involuntary context switches per request (a thread was preempted): Δ`ctx_involuntary`
    /// per request, as `server_cpu_user_us`.
    pub server_ics: f64,
    /// Requests the server counted over the window: Δ`requests` of its counters, to compare with
    /// `requests` (always 0 for echo, which has no request boundaries; 0 when the server's
    /// per-request columns are, see `server_cpu_user_us`).
    pub server_requests: u64,
    /// Server system calls per request: every system call the server's threads made during the
    /// window (all of its threads, those it created in the window and those that ended in it
    /// included), counted by the kernel's `raw_syscalls:sys_enter` tracepoint as perf counters
    /// read at the window's start and end, divided by the answers received in the window (as
    /// the client columns). Counted when the load generator knows the server's pid (a sweep's
    /// counting runs, or `run --syscalls-pid`; `--server-pid` does not count) and may count
    /// (root, or `perf_event_paranoid` at most 1, and tracefs); otherwise empty, with a note, as is
    /// `server_syscalls_by_name` (a measured row is never empty there, even when it counted no
    /// call). Older files wrote 0 with an empty breakdown: read as empty.
    pub server_syscalls: Option<f64>,
    /// The server's system calls per request by name, the most frequent first: `name=value`
    /// pairs separated by spaces, e.g. `read=1 write=1 epoll_pwait2=0.03104 other=0.0004123`
    /// (values rounded to 4 significant digits, calls that never happened left out). Named:
    /// the calls ringside's designs make (accept, accept4, read, write, writev, recvfrom, sendto,
    /// recvmsg, sendmsg, epoll_wait, epoll_pwait, epoll_pwait2, epoll_ctl, io_uring_enter,
    /// futex, close, shutdown, clock_nanosleep, sched_yield, poll), each by its
    /// `syscalls:sys_enter_<name>` tracepoint; `other` is `server_syscalls` less those (all of it
    /// when the server had too many threads for a counter per call and thread: a note says so).
    /// Empty when not measured (see `server_syscalls`).
    pub server_syscalls_by_name: String,
    /// Load generator user CPU time per request, microseconds: the growth of `ru_utime` from
    /// `getrusage(RUSAGE_SELF)` over the window divided by `requests`; 0 if no request completed.
    pub client_cpu_user_us: f64,
    /// Load generator system CPU time per request, microseconds: Δ`ru_stime` ÷ `requests`, as
    /// `client_cpu_user_us`.
    pub client_cpu_sys_us: f64,
    /// Load generator voluntary context switches per request: Δ`ru_nvcsw` ÷ `requests`, as
    /// `client_cpu_user_us`.
    pub client_vcs: f64,
    /// Load generator involuntary context switches per request: Δ`ru_nivcsw` ÷ `requests`, as
    /// `client_cpu_user_us`.
    pub client_ics: f64,
    /// Load generator system calls per request: those of its load threads (the ones sending
    /// requests, not the thread that reads counters and prints), counted and divided as
    /// `server_syscalls`; empty, with a note and `client_syscalls_by_name` empty, if not measured.
    pub client_syscalls: Option<f64>,
    /// The load generator's system calls per request by name, as `server_syscalls_by_name`;
    /// empty if not measured.
    pub client_syscalls_by_name: String,
    /// Cost of one context switch between two threads pinned to the same CPU, measured on the load
    /// generator's machine, nanoseconds; 0 if not measured.
    pub ctxsw_same_cpu_ns: f64,
    /// Cost of one context switch between two threads on different CPUs (a wake-up across CPUs),
    /// nanoseconds; 0 if not measured.
    pub ctxsw_cross_cpu_ns: f64,
    /// Estimated share of the server's CPU time per request spent switching contexts, percent:
    /// (`server_vcs` + `server_ics`) × `ctxsw_same_cpu_ns` ÷ (1000 × (`server_cpu_user_us` +
    /// `server_cpu_sys_us`)) × 100; 0 if any of those is 0.
    pub switch_share_pct: f64,
    /// Path of the HdrHistogram interval log written for this run, as the load generator was given
    /// it (a relative path is relative to its working directory); empty if none.
    pub hlog: String,
}

impl Row {
    /// Every error the row counts: broken connections and their requests,
    /// bad answers, and http answers that were not 2xx.
    pub fn errors_total(&self) -> u64 {
        self.errors_connect
            + self.errors_reset
            + self.errors_timeout
            + self.errors_bad_response
            + self.errors_http_3xx
            + self.errors_http_4xx
            + self.errors_http_5xx
    }

    /// Every `f64` column by name, for rules that hold for all of them (a
    /// test checks this lists exactly the `f64` fields).
    pub(crate) fn floats_mut(&mut self) -> [(&'static str, &mut f64); 35] {
        [
            ("target_rate", &mut self.target_rate),
            ("offered_rate", &mut self.offered_rate),
            ("sent_rate", &mut self.sent_rate),
            ("achieved_rate", &mut self.achieved_rate),
            ("warmup_s", &mut self.warmup_s),
            ("duration_s", &mut self.duration_s),
            ("drain_s", &mut self.drain_s),
            ("lat_p50_us", &mut self.lat_p50_us),
            ("lat_p90_us", &mut self.lat_p90_us),
            ("lat_p99_us", &mut self.lat_p99_us),
            ("lat_p999_us", &mut self.lat_p999_us),
            ("lat_p9999_us", &mut self.lat_p9999_us),
            ("lat_max_us", &mut self.lat_max_us),
            ("lat_mean_us", &mut self.lat_mean_us),
            ("raw_p50_us", &mut self.raw_p50_us),
            ("raw_p90_us", &mut self.raw_p90_us),
            ("raw_p99_us", &mut self.raw_p99_us),
            ("raw_p999_us", &mut self.raw_p999_us),
            ("raw_p9999_us", &mut self.raw_p9999_us),
            ("raw_max_us", &mut self.raw_max_us),
            ("raw_mean_us", &mut self.raw_mean_us),
            ("send_lag_p50_us", &mut self.send_lag_p50_us),
            ("send_lag_p99_us", &mut self.send_lag_p99_us),
            ("send_lag_max_us", &mut self.send_lag_max_us),
            ("server_cpu_user_us", &mut self.server_cpu_user_us),
            ("server_cpu_sys_us", &mut self.server_cpu_sys_us),
            ("server_vcs", &mut self.server_vcs),
            ("server_ics", &mut self.server_ics),
            ("client_cpu_user_us", &mut self.client_cpu_user_us),
            ("client_cpu_sys_us", &mut self.client_cpu_sys_us),
            ("client_vcs", &mut self.client_vcs),
            ("client_ics", &mut self.client_ics),
            ("ctxsw_same_cpu_ns", &mut self.ctxsw_same_cpu_ns),
            ("ctxsw_cross_cpu_ns", &mut self.ctxsw_cross_cpu_ns),
            ("switch_share_pct", &mut self.switch_share_pct),
        ]
    }

    /// Every `Option<f64>` column by name: figures that are empty when not
    /// measured (the system call totals).
    pub(crate) fn optional_floats_mut(&mut self) -> [(&'static str, &mut Option<f64>); 2] {
        [("server_syscalls", &mut self.server_syscalls), ("client_syscalls", &mut self.client_syscalls)]
    }
}

/// What a row is: the `phase` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A measured run: a plain run, or a point of an offered-load grid.
    Run,
    /// A run a capacity search made only to find the capacity.
    Probe,
    /// The result of one capacity search: the capacity (`target_rate`)
    /// and the figures of the probe at that rate.
    Capacity,
    /// A run made to count system calls: counting slows every counted
    /// call, so its throughput, latencies and costs are not the design's;
    /// only its system-call figures are used.
    Count,
}

/// How requests are paced: the `mode` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each connection sends its next request when an answer arrives.
    Closed,
    /// Requests leave on a schedule, answered or not.
    Open,
}

/// The open-loop schedule: the `arrival` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Closed loop: no schedule (an empty cell).
    #[serde(rename = "")]
    None,
    /// Exponentially distributed gaps between requests.
    Poisson,
    /// Equal gaps between requests.
    Uniform,
}

/// `protocol::Protocol` as its name (`echo`, `rr`, `http`), the form the
/// counters and command lines use.
pub(crate) mod protocol_name {
    use protocol::Protocol;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(D::Error::custom)
    }
}

/// `t` in the form of the `timestamp` column: UTC, RFC 3339, microseconds,
/// e.g. `2025-01-31T09:15:02.123456Z` (humantime's format). A time before
/// 1970 (a clock that was never set) is written as the epoch.
pub fn timestamp_utc(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t.max(UNIX_EPOCH)).to_string()
}

/// The inverse of [`timestamp_utc`]: an RFC 3339 time in UTC,
/// `YYYY-MM-DDTHH:MM:SS` with an optional fraction (up to nanoseconds) and
/// `Z` or `+00:00`, e.g. `2025-01-31T09:15:02.123456Z` or
/// `2026-11-21T22:00:05Z` (parsed by humantime). `None` for anything else,
/// including other time zones and times before 1970.
pub fn parse_timestamp_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let utc = match s.strip_suffix("+00:00") {
        Some(body) => format!("{body}Z"),
        None => s.to_string(),
    };
    // humantime also takes a space for the `T`, an empty fraction and
    // fractions of any length; the column's form is stricter (1 to 9
    // digits, then the `Z`).
    let (_, time) = utc.split_once('T')?;
    if time.split_once('.').is_some_and(|(_, f)| f.len() < 2 || f.len() > 10) {
        return None;
    }
    humantime::parse_rfc3339(&utc).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// A complete, error-free closed-loop http run of `backend` at
    /// `connections`: 1,000 requests, every connection answered; the other
    /// figures are [`sample`]'s, for tests to set the ones they look at.
    pub(crate) fn clean(backend: &str, connections: u32) -> Row {
        Row {
            phase: Phase::Run,
            slo: String::new(),
            backend: backend.into(),
            backend_options: String::new(),
            protocol: Protocol::Http,
            connections,
            pipeline: 1,
            mode: Mode::Closed,
            arrival: Arrival::None,
            target_rate: 0.0,
            request_bytes: 0,
            response_bytes: 13,
            work: "none".into(),
            complete: true,
            note: String::new(),
            requests: 1000,
            errors_connect: 0,
            errors_reset: 0,
            errors_timeout: 0,
            errors_bad_response: 0,
            errors_http_3xx: 0,
            errors_http_4xx: 0,
            errors_http_5xx: 0,
            conns_unanswered: 0,
            ..sample(1)
        }
    }

    /// A row with a different value in every column, so a column read into
    /// the wrong field shows.
    pub(crate) fn sample(run: u32) -> Row {
        let mut row = Row {
            schema: SCHEMA_VERSION,
            timestamp: "2025-01-31T09:15:02.123456Z".into(),
            run_id: format!("sweep-{run}"),
            repetition: run,
            phase: Phase::Probe,
            slo: "p99<=1000us".into(),
            git_rev: "8fde1c8-dirty".into(),
            host: "bench1".into(),
            kernel: "6.18.0-1-amd64".into(),
            cpu_model: "AMD EPYC 7B13, \"Milan\"".into(),
            backend: "thread-pool".into(),
            backend_options: "threads=64 queue=1024 stack=131072".into(),
            protocol: Protocol::Rr,
            server_cores: "0".into(),
            client_cores: "1-3".into(),
            client_threads: 3,
            connections: 50,
            pipeline: 4,
            mode: Mode::Open,
            arrival: Arrival::Poisson,
            target_rate: 100_000.0,
            offered_rate: 0.0,
            sent_rate: 0.0,
            achieved_rate: 94_999.5,
            rate_shortfall: true,
            request_bytes: 64,
            response_bytes: 1024,
            work: "spin:500ns".into(),
            warmup_s: 1.0,
            duration_s: 9.75,
            requests: 926_245,
            answered_late: 17,
            drain_s: 0.0,
            errors_connect: 1,
            errors_reset: 2,
            errors_timeout: 3,
            errors_bad_response: 4,
            errors_http_3xx: 6,
            errors_http_4xx: 7,
            errors_http_5xx: 8,
            conns_unanswered: 5,
            conn_answers_min: 0,
            conn_answers_max: 12_345,
            reconnects: 9,
            complete: false,
            note: "interrupted (Ctrl-C), after 9.75 s of 10\nsecond line; a \"quote\"".into(),
            lat_p50_us: 0.0,
            lat_p90_us: 0.0,
            lat_p99_us: 0.0,
            lat_p999_us: 0.0,
            lat_p9999_us: 0.0,
            lat_max_us: 0.0,
            lat_mean_us: 0.0,
            raw_p50_us: 0.0,
            raw_p90_us: 0.0,
            raw_p99_us: 0.0,
            raw_p999_us: 0.0,
            raw_p9999_us: 0.0,
            raw_max_us: 0.0,
            raw_mean_us: 0.0,
            send_lag_p50_us: 0.0,
            send_lag_p99_us: 0.0,
            send_lag_max_us: 0.0,
            server_cpu_user_us: 0.0,
            server_cpu_sys_us: 0.0,
            server_vcs: 0.0,
            server_ics: 0.0,
            server_requests: 926_240,
            server_syscalls: None,
            // Not counted: the tools' tests of other figures see no syscall tables or charts.
            server_syscalls_by_name: String::new(),
            client_cpu_user_us: 0.0,
            client_cpu_sys_us: 0.0,
            client_vcs: 0.0,
            client_ics: 0.0,
            client_syscalls: Some(0.05),
            client_syscalls_by_name: "io_uring_enter=0.05".into(),
            ctxsw_same_cpu_ns: 0.0,
            ctxsw_cross_cpu_ns: 0.0,
            switch_share_pct: 0.0,
            hlog: "runs/sweep-1/thread-pool.hlog".into(),
        };
        for (i, (_, v)) in row.floats_mut().into_iter().enumerate() {
            if *v == 0.0 {
                *v = f64::from(run) * 1000.0 + i as f64 + 0.125;
            }
        }
        row
    }

    /// The fields of `Row` as its source declares them: (name, type, doc).
    /// SCHEMA.md is rendered from this, so the doc comments stay the one
    /// place a column is described.
    pub(crate) fn declared_fields() -> Vec<(String, String, String)> {
        let source = include_str!("row.rs");
        let body = source
            .split_once("pub struct Row {\n")
            .and_then(|(_, rest)| rest.split_once("\n}\n"))
            .expect("row.rs declares `pub struct Row { ... }`")
            .0;
        let mut fields = Vec::new();
        let mut doc = Vec::new();
        for line in body.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix("///") {
                doc.push(text.trim().to_string());
            } else if let Some(decl) = line.strip_prefix("pub ") {
                let (name, ty) = decl.trim_end_matches(',').split_once(": ").expect("a `name: Type` field");
                fields.push((name.to_string(), ty.to_string(), doc.join(" ")));
                doc.clear();
            }
        }
        fields
    }

    #[test]
    fn columns_are_the_fields_in_order_and_serde_agrees() {
        let declared: Vec<String> = declared_fields().into_iter().map(|(name, _, _)| name).collect();
        assert_eq!(declared, COLUMNS);

        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(sample(1)).unwrap();
        let bytes = writer.into_inner().unwrap();
        let header = String::from_utf8(bytes).unwrap().lines().next().unwrap().to_string();
        assert_eq!(header, COLUMNS.join(","));
    }

    #[test]
    fn every_column_is_documented() {
        for (name, _, doc) in declared_fields() {
            assert!(doc.len() > 20, "column `{name}` needs a doc comment saying what it holds and its unit");
        }
    }

    #[test]
    fn floats_mut_lists_exactly_the_f64_columns() {
        let declared: Vec<String> =
            declared_fields().into_iter().filter(|(_, ty, _)| ty == "f64").map(|(name, _, _)| name).collect();
        let mut row = sample(1);
        let listed: Vec<&str> = row.floats_mut().into_iter().map(|(name, _)| name).collect();
        assert_eq!(listed, declared);
    }

    /// SCHEMA.md's table of columns, rendered from the doc comments. If the
    /// file is out of date, the test rewrites it and fails, so running the
    /// tests again (and committing the file) fixes it.
    #[test]
    fn schema_md_is_up_to_date() {
        const BEGIN: &str = "<!-- columns: generated from results/src/row.rs; do not edit by hand -->\n";
        const END: &str = "<!-- end of columns -->\n";
        // How each Rust type appears in a cell.
        let cell_types: [(&str, &str); 10] = [
            ("u32", "integer"),
            ("u64", "integer"),
            ("f64", "number"),
            ("Option<f64>", "number, or empty"),
            ("bool", "`true`, `false`"),
            ("String", "text"),
            ("Protocol", "`echo`, `rr`, `http`"),
            ("Mode", "`closed`, `open`"),
            ("Phase", "`run`, `probe`, `capacity`, `count`"),
            ("Arrival", "`poisson`, `uniform`, empty"),
        ];

        let mut table = String::from("| # | Column | Cell | What it holds |\n|---:|---|---|---|\n");
        for (i, (name, ty, doc)) in declared_fields().into_iter().enumerate() {
            let cell = cell_types
                .iter()
                .find(|(rust, _)| *rust == ty)
                .unwrap_or_else(|| {
                    panic!("column `{name}`: say how a `{ty}` is written in SCHEMA.md's table")
                })
                .1;
            table.push_str(&format!("| {} | `{name}` | {cell} | {} |\n", i + 1, doc.replace('|', "\\|")));
        }

        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("SCHEMA.md");
        let current = std::fs::read_to_string(&path).unwrap();
        let (before, rest) = current.split_once(BEGIN).expect("SCHEMA.md has the begin marker");
        let (_, after) = rest.split_once(END).expect("SCHEMA.md has the end marker");
        let wanted = format!("{before}{BEGIN}{table}{END}{after}");
        if wanted != current {
            std::fs::write(&path, &wanted).unwrap();
            panic!("SCHEMA.md was out of date and has been regenerated: check it and commit it");
        }
    }

    #[test]
    fn every_column_appears_in_schema_md() {
        let schema_md = include_str!("../SCHEMA.md");
        for column in COLUMNS {
            assert!(schema_md.contains(&format!("| `{column}` |")), "SCHEMA.md does not describe `{column}`");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        // (seconds since the epoch, microseconds, expected); the expected
        // values are from `date -u -d @SECONDS`.
        let table: [(u64, u32, &str); 5] = [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_827_696, 789_012, "2000-02-29T12:34:56.789012Z"),
            (1_738_314_902, 123_456, "2025-01-31T09:15:02.123456Z"),
            (4_107_542_399, 999_999, "2100-02-28T23:59:59.999999Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.000000Z"),
        ];
        for (secs, micros, expected) in table {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into());
            assert_eq!(timestamp_utc(t), expected, "{secs} s");
        }
        assert_eq!(timestamp_utc(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn timestamps_parse_back() {
        for secs in [0u64, 951_827_696, 1_738_314_902, 4_107_542_399, 4_107_542_400] {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(123_456);
            assert_eq!(parse_timestamp_utc(&timestamp_utc(t)), Some(t), "{secs} s");
        }
        let at = |secs: u64, nanos: u32| Some(UNIX_EPOCH + Duration::new(secs, nanos));
        // (text, expected); the expected values are from `date -u -d TEXT +%s`.
        let table: [(&str, Option<SystemTime>); 12] = [
            ("2026-11-21T22:00:05Z", at(1_795_298_405, 0)),
            ("2026-11-21T22:00:05+00:00", at(1_795_298_405, 0)),
            ("2026-11-21T22:00:05.5Z", at(1_795_298_405, 500_000_000)),
            ("2000-02-29T00:00:00Z", at(951_782_400, 0)),
            ("2001-02-29T00:00:00Z", None),
            ("2026-11-21T22:00:05", None),
            ("2026-11-21T22:00:05+01:00", None),
            ("2026-11-21 22:00:05Z", None),
            ("2026-11-21T24:00:00Z", None),
            ("2026-11-21T22:00:05.Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_timestamp_utc(text), expected, "{text:?}");
        }
    }
}
