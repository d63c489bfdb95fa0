//! The flags of `ringside-loadgen run` ([`RunArgs`]) and the parsers of
//! their values: what a run is asked to do. Below `run`, which does it, and
//! `measured`, whose [`crate::measured::Report`] carries them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::{Args, ValueEnum};
use protocol::{Protocol, Work};

/// Drive a server with load and measure it.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The server: `host:port`, or an http URL, `http://host[:port]/path`
    /// (as the positional URL). The `Host` header is the name given, not
    /// the address it resolves to; the path is sent as given.
    #[arg(long, short = 'a', default_value = "127.0.0.1:7878")]
    pub target: String,

    /// The server as an http URL, as wrk takes it: `http://host[:port]/path`
    /// (instead of --target).
    #[arg(value_name = "URL", conflicts_with = "target")]
    pub url: Option<String>,

    /// An http header to send with every request, `Name: value`; repeat for
    /// more (as wrk's -H). A `Host` given here replaces the default one.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = crate::proto::parse_header)]
    pub headers: Vec<String>,

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
    #[arg(long, short = 'R', value_name = "REQ/S")]
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
    #[arg(long, short = 'T', default_value = "2s", value_parser = parse_duration)]
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
    /// several processes (nginx's master and worker), or give a comma-separated list (`pgrep -d, nginx`). No counters are read
    /// from the server, as with --no-server-counters.
    #[arg(long = "server-pid", value_name = "PID", value_delimiter = ',', conflicts_with_all = ["stats", "no_server_counters"])]
    pub server_pid: Vec<u32>,

    /// Count the system calls of these processes on this host (all their
    /// threads, and those they create), by name, over the window: the
    /// kernel's syscall tracepoints as perf counters, read at the window's
    /// start and end (`server_syscalls` in the CSV). Counting costs the
    /// counted processes about 150 ns of CPU per call (+10% server CPU per
    /// request for the epoll backend, two calls per request;
    /// scripts/syscalls-overhead.sh measures it): this run's CPU, latency
    /// and throughput then include it, so count in a run of its own (as
    /// `sweep` does) and measure in others. --server-pid does not count.
    /// Needs root (or
    /// kernel.perf_event_paranoid <= 1 and a readable tracefs); as root,
    /// tracefs is mounted at /sys/kernel/tracing if it is not mounted.
    /// Without permission the run goes on without these figures and says
    /// why. A comma-separated list or repeated.
    #[arg(long = "syscalls-pid", value_name = "PID", value_delimiter = ',', conflicts_with = "no_syscalls")]
    pub syscalls_pid: Vec<u32>,

    /// Count no system calls, neither the server's (--syscalls-pid) nor
    /// the load threads' own (counted by default, when permitted; their
    /// cost on the load threads was within the noise of req/s and latency,
    /// scripts/syscalls-overhead.sh).
    #[arg(long)]
    pub no_syscalls: bool,

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

    /// Print the summary as one JSON document on stdout instead of text:
    /// every column of the CSV row (`results/SCHEMA.md`, the same names and
    /// values `--csv` writes) and `percentiles`, the corrected, raw and
    /// send-lag distributions in microseconds from the minimum (0) to the
    /// maximum (100). The text summary goes to stderr then (none with
    /// --quiet). Written for a run cut short too (`complete` false, exit
    /// 3); an error prints no document.
    #[arg(long)]
    pub json: bool,
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

/// A duration: humantime's forms (`10s`, `500ms`, `2m`, `1h`, `1min`,
/// `1m30s`, `250us`), or plain seconds and decimals (`1.5`, `1.5s`,
/// `0.5m`), which humantime does not take.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("bad duration `{s}`: expected e.g. 10s, 500ms, 250us, 2m, 1h, 1m30s or plain seconds (1.5)")
    };
    let s = s.trim();
    if s.starts_with('-') {
        return Err(bad());
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(d);
    }
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = number.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v * scale).map_err(|_| bad())
}

/// Where the load goes, from `--target` or the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to (the port 80 added to a URL without one).
    pub connect: String,
    /// The `Host` header: the name and port as given.
    pub host: String,
    /// The request target: the URL's path and query, or `/`.
    pub path: String,
    /// Given as a URL (so http only).
    pub url: bool,
}

impl Target {
    /// `host:port`, `http://host[:port][/path[?query]]`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let s = s.trim();
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.eq_ignore_ascii_case("http") {
                return Err(format!(
                    "target `{s}`: only http:// URLs are supported (ringside measures plain TCP; terminate TLS in \
                     front of the server, or give host:port)"
                ));
            }
            let rest = &s[scheme.len() + 3..];
            let (authority, path) = match rest.find(['/', '?']) {
                Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], rest[at..].to_string()),
                Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
                None => (rest, "/".to_string()),
            };
            if authority.is_empty() || authority.contains('@') {
                return Err(format!("target `{s}`: expected http://host[:port]/path (no user info)"));
            }
            if path.bytes().any(|b| b <= b' ' || b == 0x7F) {
                return Err(format!(
                    "target `{s}`: the path has spaces or control characters; encode them (%20)"
                ));
            }
            let has_port = match authority.rsplit_once(':') {
                Some((host, port)) => !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()),
                None => false,
            } && !authority.ends_with(']');
            let connect = if has_port { authority.to_string() } else { format!("{authority}:80") };
            return Ok(Target { connect, host: authority.to_string(), path, url: true });
        }
        Ok(Target { connect: s.to_string(), host: s.to_string(), path: "/".into(), url: false })
    }
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

/// `spin:<N>ns` or `sleep:<N>us`, within the bounds an rr request has (the
/// protocol core's parser, which the server's `--request-work` uses too).
pub fn parse_work(s: &str) -> Result<Work, String> {
    s.parse()
}

/// The results CSV's `work` column: `none`, or the work as the core writes it.
pub fn describe_work(work: Option<Work>) -> String {
    work.map_or_else(|| "none".into(), |w| w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_habits() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let a =
            Cli::parse_from(["x", "-R", "1000", "-T", "1m30s", "-H", "A: b", "-H", "C:d", "http://h:8/x"])
                .run;
        assert_eq!((a.rate, a.timeout), (Some(1000.0), Duration::from_secs(90)));
        assert_eq!(a.headers, ["A: b", "C: d"]);
        assert_eq!(a.url.as_deref(), Some("http://h:8/x"));
        assert!(Cli::try_parse_from(["x", "--target", "h:1", "http://h:8/"]).is_err(), "one target");
        assert!(Cli::try_parse_from(["x", "-H", "no colon"]).is_err());
    }

    #[test]
    fn targets() {
        let t = |connect: &str, host: &str, path: &str, url: bool| {
            Ok(Target { connect: connect.into(), host: host.into(), path: path.into(), url })
        };
        let table = [
            ("127.0.0.1:7878", t("127.0.0.1:7878", "127.0.0.1:7878", "/", false)),
            ("localhost:8080", t("localhost:8080", "localhost:8080", "/", false)),
            ("http://localhost:8080/a/b?c=d", t("localhost:8080", "localhost:8080", "/a/b?c=d", true)),
            ("http://example.org", t("example.org:80", "example.org", "/", true)),
            ("HTTP://example.org/", t("example.org:80", "example.org", "/", true)),
            ("http://example.org?q=1", t("example.org:80", "example.org", "/?q=1", true)),
            ("http://[::1]:81/x", t("[::1]:81", "[::1]:81", "/x", true)),
            ("http://[::1]/x", t("[::1]:80", "[::1]", "/x", true)),
        ];
        for (text, expected) in table {
            assert_eq!(Target::parse(text), expected, "{text}");
        }
        for bad in ["https://example.org/", "http:///x", "http://u:p@h/", "http://h/a b"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_work() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("40us"), Ok(Duration::from_micros(40)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5m"), Ok(Duration::from_secs(30)));
        for bad in ["", "x", "-1s", "1 fortnight", "1e400s"] {
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
