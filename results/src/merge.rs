//! `ringside-results merge`: the results of several load generators that
//! drove one server at the same time, as one row and one histogram.
//!
//! Each load generator (`ringside-loadgen run --csv FILE --hlog FILE`)
//! writes a row and an HdrHistogram interval log. Merging reads every
//! interval of every log and adds them into one histogram with
//! HdrHistogram's add, which is exact: the merged row's latency columns are
//! that histogram's percentiles, never an average of the clients'
//! percentiles. Untagged log lines are the corrected latencies (`lat_*`),
//! lines tagged `Tag=raw` the raw ones (`raw_*`); if any log has no raw
//! lines (written by an older load generator), the `raw_*` columns are 0 and
//! `note` says so. Each log must hold exactly its row's `requests`
//! latencies, which catches a log that belongs to another run.
//!
//! The other columns:
//! - Counts add up: `requests`, the errors, `conns_unanswered`,
//!   `connections`, `client_threads`, `target_rate` and `achieved_rate`
//!   (the clients' rates add up). `duration_s` is `requests` ÷
//!   `achieved_rate`, so that the schema's `achieved_rate = requests ÷
//!   duration_s` still holds: the clients' duration when they ran equally
//!   long, between the shortest and the longest otherwise. `timestamp` is
//!   the earliest window start.
//! - The client's CPU and switches per request are totals over total
//!   requests: Σ (per request × requests) ÷ Σ requests.
//! - The server's figures. Every client read the same server's counters
//!   before and after its own window; the server counts every client's
//!   requests, so each client's figures already describe the whole server,
//!   over slightly different spans. Adding them would count the server's
//!   CPU time several times over, so the merged row takes the figures
//!   (with `server_requests`, and the context-switch calibration
//!   `switch_share_pct` is computed from) of the client whose window is the
//!   longest, among those that read the counters. Echo servers count no
//!   requests, so there the load generator divided the server's CPU time by
//!   its own requests; the merged row rescales that client's figures by its
//!   share of the total rate. `note` names the client the figures come from.
//! - Text that must agree (backend and options, protocol, pipeline, loop
//!   mode and arrival, sizes, work) is checked: rows that differ are
//!   refused. Text that may differ (host, kernel, CPU model, git revision,
//!   client CPUs) is the distinct values joined with ` + `.
//!
//! Rows are mergeable when they describe one workload (above), share a
//! `run_id` (`ringside-loadgen run --run-id`; `--force` merges rows whose ids
//! differ) and their measured windows overlap.
//!
//! A row's `hlog` is looked for as written (relative to the working
//! directory, where the load generator wrote it), then relative to the
//! directory of the CSV file holding the row, then as the file of that name
//! beside the CSV file (where the logs end up when they are collected from
//! several hosts, whatever directory each host wrote them in).
//!
//! It must never write anything when the inputs are wrong, and never leave a
//! half-written output: the merged log and distribution are written to
//! temporary files beside their destinations and renamed once the row is
//! appended.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::{Mode, Row};

/// The tag of an interval log's raw-latency lines (the load generator's).
pub const RAW_TAG: &str = "raw";

/// The percentiles of the `lat_*` and `raw_*` columns, in column order.
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// The flags of `ringside-results merge`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Merge the rows and interval logs of load generators that drove one server together",
    long_about = "Merge the rows and interval logs of load generators that drove one server at the \
                  same time into one row: latencies from the exact sum of their HdrHistogram interval \
                  logs, counts and rates added up, the server's figures from the client whose window \
                  is the longest. Each row's `hlog` is looked for as written, then relative to the \
                  directory of its CSV file, then by its file name beside the CSV file. The rows must have the same backend, options, protocol \
                  and request shape, overlapping windows and the same run_id (or --force).",
    after_long_help = "Example: ringside-results merge --out merged.csv --hlog-out merged.hlog client-1.csv \
                       client-2.csv\n\nExit status: 0 merged; 2 bad input or usage (nothing written)."
)]
pub struct Args {
    /// The clients' results CSV files (`ringside-loadgen run --csv`); every
    /// row is a client (see --run-id).
    #[arg(required = true, value_name = "CSV")]
    pub inputs: Vec<PathBuf>,

    /// Append the merged row to this results CSV (created if missing).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Also write the merged interval log here (a second's line sums the
    /// clients' intervals that started nearest to it).
    #[arg(long, value_name = "FILE")]
    pub hlog_out: Option<PathBuf>,

    /// Also write the merged percentile distribution here (HdrHistogram
    /// .hgrm format, ms).
    #[arg(long, value_name = "FILE")]
    pub hgrm_out: Option<PathBuf>,

    /// Merge only the rows with this run_id (when the CSV files hold
    /// several runs).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Merge rows whose run_ids differ.
    #[arg(long)]
    pub force: bool,
}

/// Why rows could not be merged. Each message names the file (and row or
/// line) and says what to do.
#[derive(Debug)]
pub enum Error {
    /// Reading a results CSV failed.
    Results(crate::Error),
    /// No rows to merge.
    NoRows { files: Vec<PathBuf>, run_id: Option<String> },
    /// A row names no interval log.
    NoHlog { row: String },
    /// A row's interval log is not where it says.
    HlogMissing { row: String, tried: Vec<PathBuf> },
    /// An interval log (or an output) could not be read (written).
    Io { path: PathBuf, doing: &'static str, source: io::Error },
    /// An interval log's line is not what the load generator writes.
    HlogCorrupt { path: PathBuf, line: usize, problem: String },
    /// An interval log holds more or fewer latencies than its row's requests.
    HlogCount { row: String, path: PathBuf, series: &'static str, found: u64, requests: u64 },
    /// Two rows describe different workloads.
    Mismatch { column: &'static str, first: String, first_value: String, other: String, other_value: String },
    /// Two rows come from different runs.
    RunIdMismatch { first: String, first_value: String, other: String, other_value: String },
    /// A row's timestamp cannot be read.
    BadTimestamp { row: String, value: String },
    /// An input given twice, or one client's row twice.
    Duplicate { what: String },
    /// Two rows' windows do not overlap.
    Disjoint { starts_last: String, start: String, ends_first: String, end: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Results(e) => write!(f, "{e}"),
            Error::NoRows { files, run_id } => {
                let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                match run_id {
                    Some(id) => write!(
                        f,
                        "no row with run_id `{id}` in {}: check the id (the `run_id` column)",
                        files.join(", ")
                    ),
                    None => {
                        write!(f, "no rows in {}: give the load generators' --csv files", files.join(", "))
                    }
                }
            }
            Error::NoHlog { row } => write!(
                f,
                "{row}: column `hlog` is empty, so its latencies cannot be merged: run the load generator \
                 with --hlog FILE"
            ),
            Error::HlogMissing { row, tried } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "{row}: its interval log is not at {}: copy it there (beside the CSV file), or merge \
                     from the directory the load generator ran in",
                    tried.join(" nor at ")
                )
            }
            Error::Io { path, doing, source } => write!(f, "cannot {doing} {}: {source}", path.display()),
            Error::Duplicate { what } => {
                write!(f, "{what}: its requests would be counted twice; give each client's row once")
            }
            Error::HlogCorrupt { path, line, problem } => write!(
                f,
                "{} line {line}: {problem}: this is not an interval log as ringside-loadgen --hlog writes \
                 it (a file cut short or edited?); run the load again",
                path.display()
            ),
            Error::HlogCount { row, path, series, found, requests } => write!(
                f,
                "{}: holds {found} {series} latencies, but {row} counts {requests} requests: the log is \
                 not this row's (or was cut short); give the CSV and interval log of one run",
                path.display()
            ),
            Error::Mismatch { column, first, first_value, other, other_value } => write!(
                f,
                "{other}, column `{column}`: `{other_value}`, but {first} has `{first_value}`: these load \
                 generators did not drive one workload, so their rows cannot be merged; give the rows of one run"
            ),
            Error::RunIdMismatch { first, first_value, other, other_value } => write!(
                f,
                "{other}, column `run_id`: `{other_value}`, but {first} has `{first_value}`: give the load \
                 generators one --run-id, select a run with --run-id, or pass --force if they did run together"
            ),
            Error::BadTimestamp { row, value } => write!(
                f,
                "{row}, column `timestamp`: `{value}` is not an RFC 3339 UTC time \
                 (2025-01-31T09:15:02.123456Z); correct or delete that row"
            ),
            Error::Disjoint { starts_last, start, ends_first, end } => write!(
                f,
                "{starts_last} starts its window at {start}, after {ends_first} ended its at {end}: the load \
                 generators did not run at the same time (start them with one --start-at)"
            ),
        }
    }
}

/// No `source`: every message already includes its cause, and a chain
/// printed by `{:#}` would say it twice.
impl std::error::Error for Error {}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Results(e)
    }
}

/// One load generator's row, and where it came from.
#[derive(Clone, Debug)]
pub struct Client {
    pub csv: PathBuf,
    /// Which data row of the file, from 1.
    pub number: usize,
    pub row: Row,
}

impl Client {
    /// `client-a.csv row 1`, as messages name a row.
    pub fn name(&self) -> String {
        format!("{} row {}", self.csv.display(), self.number)
    }

    /// Where its interval log is: as written if that exists, else relative
    /// to the CSV file's directory, else the file of that name beside the
    /// CSV file.
    pub fn hlog_path(&self) -> Result<PathBuf, Error> {
        if self.row.hlog.is_empty() {
            return Err(Error::NoHlog { row: self.name() });
        }
        let given = PathBuf::from(&self.row.hlog);
        let mut tried = vec![given.clone()];
        if given.is_file() {
            return Ok(given);
        }
        let dir = match self.csv.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Relative to the CSV file's directory; then, for a path from
        // another host, the file of that name beside the CSV file.
        let candidates =
            [given.is_relative().then(|| dir.join(&given)), given.file_name().map(|n| dir.join(n))];
        for candidate in candidates.into_iter().flatten() {
            if candidate.is_file() {
                return Ok(candidate);
            }
            if !tried.contains(&candidate) {
                tried.push(candidate);
            }
        }
        Err(Error::HlogMissing { row: self.name(), tried })
    }
}

/// Which latencies a log line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Untagged lines: from the intended send time.
    Corrected,
    /// `Tag=raw` lines: from the actual send.
    Raw,
}

/// An interval log, read and decoded.
#[derive(Debug)]
pub struct Log {
    pub path: PathBuf,
    /// Each interval: its start (wall clock), which latencies, the histogram.
    pub intervals: Vec<(SystemTime, Series, Histogram<u64>)>,
    /// The sum of the corrected intervals; `None` if there are none.
    pub corrected: Option<Histogram<u64>>,
    /// The sum of the raw intervals; `None` if there are none.
    pub raw: Option<Histogram<u64>>,
    /// Whether any line was tagged `raw` (a log without raw lines was
    /// written by an older load generator).
    pub has_raw: bool,
}

/// Read and decode the interval log at `path`. Interval timestamps are
/// relative to the log's `BaseTime` (or its `StartTime`, or `fallback` if it
/// has neither), as HdrHistogram's log format says.
pub fn read_log(path: &Path, fallback: SystemTime) -> Result<Log, Error> {
    let bytes =
        fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), doing: "read", source })?;
    let corrupt = |offset: usize, problem: String| {
        let line = bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::HlogCorrupt { path: path.to_path_buf(), line, problem }
    };
    let (mut start, mut base) = (None, None);
    let mut log =
        Log { path: path.to_path_buf(), intervals: Vec::new(), corrected: None, raw: None, has_raw: false };
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let interval = match entry {
            Err(LogIteratorError::ParseError { offset }) => {
                return Err(corrupt(offset, "cannot parse this line".into()));
            }
            Ok(LogEntry::StartTime(t)) => {
                start = Some(UNIX_EPOCH + t);
                continue;
            }
            Ok(LogEntry::BaseTime(t)) => {
                base = Some(UNIX_EPOCH + t);
                continue;
            }
            Ok(LogEntry::Interval(interval)) => interval,
        };
        // The encoded histogram is a slice of `bytes`: its address says
        // where the line is.
        let encoded = interval.encoded_histogram();
        let offset = (encoded.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        let series = match interval.tag().map(|t| t.as_str()) {
            None => Series::Corrected,
            Some(RAW_TAG) => Series::Raw,
            Some(other) => {
                return Err(corrupt(
                    offset,
                    format!("unknown tag `{other}` (ringside writes untagged lines and Tag={RAW_TAG})"),
                ));
            }
        };
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| corrupt(offset, format!("the histogram is not base64 ({e})")))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut &compressed[..])
            .map_err(|e| corrupt(offset, format!("the histogram cannot be decoded ({e})")))?;
        let at = interval.start_timestamp();
        // A timestamp beyond 2001 is absolute (logs without a base time).
        let at = if at.as_secs() > 1_000_000_000 {
            UNIX_EPOCH + at
        } else {
            base.or(start).unwrap_or(fallback) + at
        };
        let sum = match series {
            Series::Corrected => &mut log.corrected,
            Series::Raw => {
                log.has_raw = true;
                &mut log.raw
            }
        };
        add(sum, &h).map_err(|e| corrupt(offset, e))?;
        log.intervals.push((at, series, h));
    }
    Ok(log)
}

/// Add `h` into `sum` exactly (HdrHistogram add; `sum` grows as needed).
fn add(sum: &mut Option<Histogram<u64>>, h: &Histogram<u64>) -> Result<(), String> {
    match sum {
        Some(s) => s.add(h).map_err(|e| format!("cannot add the histogram ({e:?})")),
        None => {
            let mut s = h.clone();
            s.auto(true);
            *sum = Some(s);
            Ok(())
        }
    }
}

/// One second of the merged log: corrected and raw latencies.
pub type Second = (Option<Histogram<u64>>, Option<Histogram<u64>>);

/// The merged result: the row, and the histograms its latencies come from.
#[derive(Debug)]
pub struct Merged {
    pub row: Row,
    /// All clients' corrected latencies (`None`: no request completed).
    pub corrected: Option<Histogram<u64>>,
    /// All clients' raw latencies (`None`: none completed, or some log has
    /// no raw lines).
    pub raw: Option<Histogram<u64>>,
    /// Per second since `start`: the clients' intervals added up.
    pub seconds: BTreeMap<u64, Second>,
    /// The earliest window start.
    pub start: SystemTime,
}

/// Whether two paths name one file (as given, or once resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// The rows of `files` (only those with `run_id`, if given), as clients.
/// A file given twice, or one client's row in two files (the same run,
/// start and interval log), is refused: it would be counted twice.
pub fn read_clients(files: &[PathBuf], run_id: Option<&str>) -> Result<Vec<Client>, Error> {
    for (i, a) in files.iter().enumerate() {
        if files[..i].iter().any(|b| same_file(a, b)) {
            return Err(Error::Duplicate { what: format!("{} is given twice", a.display()) });
        }
    }
    let mut clients: Vec<Client> = Vec::new();
    for file in files {
        for (i, row) in crate::read(file)?.into_iter().enumerate() {
            if run_id.is_none_or(|id| row.run_id == id) {
                let client = Client { csv: file.clone(), number: i + 1, row };
                let same = |c: &&Client| {
                    (&c.row.run_id, &c.row.timestamp, &c.row.hlog)
                        == (&client.row.run_id, &client.row.timestamp, &client.row.hlog)
                };
                if let Some(first) = clients.iter().find(same) {
                    return Err(Error::Duplicate {
                        what: format!(
                            "{} and {} are one client's row (same run_id, timestamp and hlog)",
                            first.name(),
                            client.name()
                        ),
                    });
                }
                clients.push(client);
            }
        }
    }
    if clients.is_empty() {
        return Err(Error::NoRows { files: files.to_vec(), run_id: run_id.map(str::to_string) });
    }
    Ok(clients)
}

/// The columns that must agree, as text.
fn workload_columns(row: &Row) -> [(&'static str, String); 9] {
    [
        ("backend", row.backend.clone()),
        ("backend_options", row.backend_options.clone()),
        ("protocol", row.protocol.name().to_string()),
        ("pipeline", row.pipeline.to_string()),
        ("mode", format!("{:?}", row.mode).to_lowercase()),
        ("arrival", format!("{:?}", row.arrival).to_lowercase()),
        ("request_bytes", row.request_bytes.to_string()),
        ("response_bytes", row.response_bytes.to_string()),
        ("work", row.work.clone()),
    ]
}

/// A row's window, from its timestamp and duration.
fn window(c: &Client) -> Result<(SystemTime, SystemTime), Error> {
    let start = crate::parse_timestamp_utc(&c.row.timestamp)
        .ok_or_else(|| Error::BadTimestamp { row: c.name(), value: c.row.timestamp.clone() })?;
    Ok((start, start + Duration::from_secs_f64(c.row.duration_s.max(0.0))))
}

/// Check that the clients' rows can be merged: one workload, one run
/// (unless `force`), overlapping windows.
pub fn check(clients: &[Client], force: bool) -> Result<(), Error> {
    let Some(first) = clients.first() else { return Ok(()) };
    let expected = workload_columns(&first.row);
    for c in &clients[1..] {
        for ((column, want), (_, got)) in expected.iter().zip(workload_columns(&c.row)) {
            if *want != got {
                return Err(Error::Mismatch {
                    column,
                    first: first.name(),
                    first_value: want.clone(),
                    other: c.name(),
                    other_value: got,
                });
            }
        }
        if !force && c.row.run_id != first.row.run_id {
            return Err(Error::RunIdMismatch {
                first: first.name(),
                first_value: first.row.run_id.clone(),
                other: c.name(),
                other_value: c.row.run_id.clone(),
            });
        }
    }
    let windows = clients.iter().map(window).collect::<Result<Vec<_>, _>>()?;
    let last_start = (0..clients.len()).max_by_key(|&i| windows[i].0).expect("some clients");
    let first_end = (0..clients.len()).min_by_key(|&i| windows[i].1).expect("some clients");
    if windows[last_start].0 >= windows[first_end].1 && clients.len() > 1 {
        return Err(Error::Disjoint {
            starts_last: clients[last_start].name(),
            start: clients[last_start].row.timestamp.clone(),
            ends_first: clients[first_end].name(),
            end: crate::timestamp_utc(windows[first_end].1),
        });
    }
    Ok(())
}

/// Read every client's interval log and check it holds its row's requests.
pub fn read_logs(clients: &[Client]) -> Result<Vec<Log>, Error> {
    clients
        .iter()
        .map(|c| {
            let path = c.hlog_path()?;
            let (start, _) = window(c)?;
            let log = read_log(&path, start)?;
            let counts = [
                (Series::Corrected, "corrected", log.corrected.as_ref().map_or(0, Histogram::len)),
                (Series::Raw, "raw", log.raw.as_ref().map_or(0, Histogram::len)),
            ];
            for (series, name, found) in counts {
                if (series == Series::Corrected || log.has_raw) && found != c.row.requests {
                    return Err(Error::HlogCount {
                        row: c.name(),
                        path,
                        series: name,
                        found,
                        requests: c.row.requests,
                    });
                }
            }
            Ok(log)
        })
        .collect()
}

/// The distinct values, in order, joined with ` + `; empty values are
/// left out.
fn joined<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !v.is_empty() && !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(" + ")
}

/// `[p50, p90, p99, p99.9, p99.99, max, mean]` of `h`, all 0 if empty.
pub fn latency_columns(h: Option<&Histogram<u64>>) -> [f64; 7] {
    match h {
        Some(h) if !h.is_empty() => {
            let q = |i: usize| h.value_at_quantile(QUANTILES[i]) as f64;
            [q(0), q(1), q(2), q(3), q(4), h.max() as f64, h.mean()]
        }
        _ => [0.0; 7],
    }
}

/// Merge checked clients (see [`check`]) and their logs (see
/// [`read_logs`]) into one row; `hlog` is the merged log's path, if one is
/// written.
pub fn merge(clients: &[Client], logs: &[Log], hlog: Option<&Path>) -> Result<Merged, Error> {
    assert_eq!(clients.len(), logs.len(), "a log per client");
    let rows: Vec<&Row> = clients.iter().map(|c| &c.row).collect();
    let first = rows[0];
    let windows = clients.iter().map(window).collect::<Result<Vec<_>, _>>()?;
    let start = windows.iter().map(|w| w.0).min().expect("some clients");

    let mut corrected = None;
    let mut raw = None;
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    let every_log_has_raw = logs.iter().all(|l| l.has_raw);
    for log in logs {
        let problem = |e: String| Error::HlogCorrupt { path: log.path.clone(), line: 0, problem: e };
        if let Some(h) = &log.corrected {
            add(&mut corrected, h).map_err(problem)?;
        }
        if every_log_has_raw && let Some(h) = &log.raw {
            add(&mut raw, h).map_err(problem)?;
        }
        for (at, series, h) in &log.intervals {
            // The nearest whole second since the earliest window start.
            let second = at.duration_since(start).unwrap_or_default().as_secs_f64().round() as u64;
            let slot = seconds.entry(second).or_default();
            let sum = match series {
                Series::Corrected => &mut slot.0,
                Series::Raw if every_log_has_raw => &mut slot.1,
                Series::Raw => continue,
            };
            add(sum, h).map_err(problem)?;
        }
    }

    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let achieved_rate: f64 = rows.iter().map(|r| r.achieved_rate).sum();
    let target_rate: f64 = rows.iter().map(|r| r.target_rate).sum();
    let longest = rows.iter().map(|r| r.duration_s).fold(0.0, f64::max);
    let duration_s = if rows.iter().all(|r| r.duration_s == first.duration_s) {
        first.duration_s
    } else if achieved_rate > 0.0 {
        requests as f64 / achieved_rate
    } else {
        longest
    };
    // Totals over total requests.
    let per_request = |f: fn(&Row) -> f64| {
        if requests == 0 {
            0.0
        } else {
            rows.iter().map(|r| f(r) * r.requests as f64).sum::<f64>() / requests as f64
        }
    };

    let mut notes = vec![format!(
        "merged from {} load generators ({}); latencies from the sum of their interval logs",
        clients.len(),
        clients.iter().map(Client::name).collect::<Vec<_>>().join(", ")
    )];
    // The server's figures: the longest window's, among the clients that
    // read the counters (see the module doc).
    let measured = |r: &Row| r.server_cpu_user_us + r.server_cpu_sys_us > 0.0 || r.server_requests > 0;
    let server =
        (0..rows.len()).filter(|&i| measured(rows[i])).fold(None, |best: Option<usize>, i| match best {
            Some(b) if rows[b].duration_s >= rows[i].duration_s => Some(b),
            _ => Some(i),
        });
    let (server_user, server_sys, server_vcs, server_ics, server_requests, same_ns, cross_ns) = match server {
        Some(i) => {
            let r = rows[i];
            // Echo's figures are per request of the client's own requests.
            let scale = if r.server_requests == 0 && achieved_rate > 0.0 {
                notes.push(format!(
                    "server figures from {}, whose window ({:.2} s) is the longest: the server's counters \
                     cover every client's requests; it counts none (echo), so they are scaled by that \
                     client's share of the total rate ({:.3})",
                    clients[i].name(),
                    r.duration_s,
                    r.achieved_rate / achieved_rate
                ));
                r.achieved_rate / achieved_rate
            } else {
                notes.push(format!(
                    "server figures from {}, whose window ({:.2} s) is the longest: the server's counters \
                     cover every client's requests",
                    clients[i].name(),
                    r.duration_s
                ));
                1.0
            };
            (
                r.server_cpu_user_us * scale,
                r.server_cpu_sys_us * scale,
                r.server_vcs * scale,
                r.server_ics * scale,
                r.server_requests,
                r.ctxsw_same_cpu_ns,
                r.ctxsw_cross_cpu_ns,
            )
        }
        None => {
            notes.push("server figures 0: no load generator read the server's counters".into());
            let r = first;
            (0.0, 0.0, 0.0, 0.0, 0, r.ctxsw_same_cpu_ns, r.ctxsw_cross_cpu_ns)
        }
    };
    let switch_share_pct = {
        let cpu = server_user + server_sys;
        let share = (server_vcs + server_ics) * same_ns / (1000.0 * cpu) * 100.0;
        if share.is_finite() { share } else { 0.0 }
    };

    let last_start = windows.iter().map(|w| w.0).max().expect("some clients");
    let first_end = windows.iter().map(|w| w.1).min().expect("some clients");
    let overlap = first_end.duration_since(last_start).unwrap_or_default().as_secs_f64();
    if overlap < 0.95 * longest {
        notes.push(format!("the windows overlap only {overlap:.2} s of the longest {longest:.2} s"));
    }
    if !every_log_has_raw {
        let old: Vec<String> =
            logs.iter().filter(|l| !l.has_raw).map(|l| l.path.display().to_string()).collect();
        notes.push(format!(
            "raw_* columns 0: {} hold no raw (Tag={RAW_TAG}) latencies (written by an older ringside-loadgen)",
            old.join(", ")
        ));
    }
    for c in clients {
        if !c.row.note.is_empty() {
            notes.push(format!("{}: {}", c.name(), c.row.note));
        }
    }

    let lat = latency_columns(corrected.as_ref());
    let rawc = latency_columns(raw.as_ref());
    let same = |f: fn(&Row) -> u32| if rows.iter().all(|r| f(r) == f(first)) { f(first) } else { 1 };
    let row = Row {
        schema: crate::SCHEMA_VERSION,
        timestamp: crate::timestamp_utc(start),
        run_id: joined(rows.iter().map(|r| r.run_id.as_str())),
        repetition: same(|r| r.repetition),
        git_rev: joined(rows.iter().map(|r| r.git_rev.as_str())),
        host: joined(rows.iter().map(|r| r.host.as_str())),
        kernel: joined(rows.iter().map(|r| r.kernel.as_str())),
        cpu_model: joined(rows.iter().map(|r| r.cpu_model.as_str())),
        backend: first.backend.clone(),
        backend_options: first.backend_options.clone(),
        protocol: first.protocol,
        server_cores: joined(rows.iter().map(|r| r.server_cores.as_str())),
        client_cores: joined(rows.iter().map(|r| r.client_cores.as_str())),
        client_threads: rows.iter().map(|r| r.client_threads).sum(),
        connections: rows.iter().map(|r| r.connections).sum(),
        pipeline: first.pipeline,
        mode: first.mode,
        arrival: first.arrival,
        target_rate,
        achieved_rate,
        rate_shortfall: first.mode == Mode::Open && achieved_rate < 0.95 * target_rate,
        request_bytes: first.request_bytes,
        response_bytes: first.response_bytes,
        work: first.work.clone(),
        warmup_s: rows.iter().map(|r| r.warmup_s).fold(0.0, f64::max),
        duration_s,
        requests,
        errors_connect: rows.iter().map(|r| r.errors_connect).sum(),
        errors_reset: rows.iter().map(|r| r.errors_reset).sum(),
        errors_timeout: rows.iter().map(|r| r.errors_timeout).sum(),
        errors_bad_response: rows.iter().map(|r| r.errors_bad_response).sum(),
        conns_unanswered: rows.iter().map(|r| r.conns_unanswered).sum(),
        conn_answers_min: rows.iter().map(|r| r.conn_answers_min).min().unwrap_or(0),
        conn_answers_max: rows.iter().map(|r| r.conn_answers_max).max().unwrap_or(0),
        complete: rows.iter().all(|r| r.complete),
        note: notes.join("; "),
        lat_p50_us: lat[0],
        lat_p90_us: lat[1],
        lat_p99_us: lat[2],
        lat_p999_us: lat[3],
        lat_p9999_us: lat[4],
        lat_max_us: lat[5],
        lat_mean_us: lat[6],
        raw_p50_us: rawc[0],
        raw_p90_us: rawc[1],
        raw_p99_us: rawc[2],
        raw_p999_us: rawc[3],
        raw_p9999_us: rawc[4],
        raw_max_us: rawc[5],
        raw_mean_us: rawc[6],
        server_cpu_user_us: server_user,
        server_cpu_sys_us: server_sys,
        server_vcs,
        server_ics,
        server_requests,
        client_cpu_user_us: per_request(|r| r.client_cpu_user_us),
        client_cpu_sys_us: per_request(|r| r.client_cpu_sys_us),
        client_vcs: per_request(|r| r.client_vcs),
        client_ics: per_request(|r| r.client_ics),
        ctxsw_same_cpu_ns: same_ns,
        ctxsw_cross_cpu_ns: cross_ns,
        switch_share_pct,
        hlog: hlog.map(|p| p.display().to_string()).unwrap_or_default(),
    };
    Ok(Merged { row, corrected, raw, seconds, start })
}

/// Write the merged interval log to `out`: per second, the corrected
/// latencies untagged and the raw ones tagged `raw`, in µs with a max-value
/// divisor of 1000 (ms), as the load generator writes its own.
pub fn write_hlog(out: &mut impl Write, merged: &Merged) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(
            "ringside-results merge: latency in microseconds; untagged lines: corrected (from the intended \
             send time), Tag=raw: raw (from the actual send)",
        )
        .with_start_time(merged.start)
        .with_base_time(merged.start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(out, &mut serializer)?;
    let raw_tag = Tag::new(RAW_TAG);
    for (&second, (corrected, raw)) in &merged.seconds {
        let (start, length) = (Duration::from_secs(second), Duration::from_secs(1));
        for (h, tag) in [(corrected, None), (raw, raw_tag)] {
            if let Some(h) = h {
                log.write_histogram(h, start, length, tag).map_err(|e| io::Error::other(format!("{e:?}")))?;
            }
        }
    }
    Ok(())
}

/// Write `h`'s percentile distribution (HdrHistogram's .hgrm text, values
/// in ms) to `out`.
pub fn write_hgrm(out: &mut impl Write, h: &Histogram<u64>) -> io::Result<()> {
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            writeln!(out, "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}", 1.0 / (1.0 - q))?;
        } else {
            writeln!(out, "{value:>12.3} {q:>14.12} {total:>10}")?;
        }
    }
    writeln!(out, "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]", h.mean() / 1000.0, h.stdev() / 1000.0)?;
    writeln!(out, "#[Max     = {:>12.3}, Total count    = {:>12}]", h.max() as f64 / 1000.0, h.len())?;
    // The counts array holds (buckets + 1) * sub_buckets / 2 entries.
    let sub_buckets = 2 * h.distinct_values() / (usize::from(h.buckets()) + 1);
    writeln!(out, "#[Buckets = {:>12}, SubBuckets     = {:>12}]", h.buckets(), sub_buckets)
}

/// A file written beside its destination and renamed over it when
/// [`Pending::commit`] is called; removed if dropped before.
struct Pending {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Pending {
    fn write(
        dest: &Path,
        fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> Result<Pending, Error> {
        let name = dest.file_name().map_or_else(|| "merged".into(), |n| n.to_string_lossy());
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(format!(".{name}.merge-tmp.{}", std::process::id()));
        let pending = Pending { temp, dest: dest.to_path_buf(), committed: false };
        let io_err = |source| Error::Io { path: dest.to_path_buf(), doing: "write", source };
        let file = File::create(&pending.temp).map_err(io_err)?;
        let mut w = BufWriter::new(file);
        fill(&mut w).map_err(io_err)?;
        let file = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        Ok(pending)
    }

    /// Put the finished file in place. A file already at the destination is
    /// moved aside first, so that [`Committed::undo`] can bring it back.
    fn commit(mut self) -> Result<Committed, Error> {
        let old = self.temp.with_extension("old");
        let old = match fs::rename(&self.dest, &old) {
            Ok(()) => Some(old),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(Error::Io {
                    path: self.dest.clone(),
                    doing: "move aside the file already at",
                    source,
                });
            }
        };
        if let Err(source) = fs::rename(&self.temp, &self.dest) {
            if let Some(old) = &old {
                let _ = fs::rename(old, &self.dest);
            }
            return Err(Error::Io {
                path: self.dest.clone(),
                doing: "rename the finished temporary file to",
                source,
            });
        }
        self.committed = true;
        Ok(Committed { dest: self.dest.clone(), old })
    }
}

/// A side file put in place, and the file it replaced, kept until the
/// merged row is appended.
struct Committed {
    dest: PathBuf,
    old: Option<PathBuf>,
}

impl Committed {
    /// Take the new file back and restore the one it replaced, if any.
    fn undo(self) {
        let _ = fs::remove_file(&self.dest);
        if let Some(old) = &self.old {
            let _ = fs::rename(old, &self.dest);
        }
    }

    /// The merge is complete: drop the replaced file.
    fn keep(self) {
        if let Some(old) = &self.old {
            let _ = fs::remove_file(old);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Two outputs on one path would overwrite each other.
    let outputs: Vec<&Path> = [Some(args.out.as_path()), args.hlog_out.as_deref(), args.hgrm_out.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    for (i, a) in outputs.iter().enumerate() {
        if outputs[..i].iter().any(|b| same_file(a, b)) {
            anyhow::bail!(
                "{} is given as two outputs: give --out, --hlog-out and --hgrm-out different files",
                a.display()
            );
        }
    }
    let clients = read_clients(&args.inputs, args.run_id.as_deref())?;
    check(&clients, args.force)?;
    let logs = read_logs(&clients)?;
    let merged = merge(&clients, &logs, args.hlog_out.as_deref())?;
    crate::check_writable(&args.out)?;

    let mut pending = Vec::new();
    if let Some(path) = &args.hlog_out {
        pending.push(Pending::write(path, |w| write_hlog(w, &merged))?);
    }
    if let Some(path) = &args.hgrm_out {
        let empty = Histogram::<u64>::new(3).expect("3 significant figures are valid");
        pending.push(Pending::write(path, |w| write_hgrm(w, merged.corrected.as_ref().unwrap_or(&empty)))?);
    }
    // The side files first, the row last: a row is never left without its
    // files; if a file cannot be put in place or the row cannot be
    // appended, the files are taken back and the ones they replaced
    // restored.
    let mut committed: Vec<Committed> = Vec::new();
    let undo = |committed: Vec<Committed>| committed.into_iter().rev().for_each(Committed::undo);
    for p in pending {
        match p.commit() {
            Ok(c) => committed.push(c),
            Err(e) => {
                undo(committed);
                return Err(e.into());
            }
        }
    }
    if let Err(e) = crate::append(&args.out, &merged.row) {
        undo(committed);
        return Err(e.into());
    }
    committed.into_iter().for_each(Committed::keep);

    let mut out = io::stdout().lock();
    for c in &clients {
        writeln!(
            out,
            "{}: {} requests, {:.0} req/s, p99 {} us",
            c.name(),
            c.row.requests,
            c.row.achieved_rate,
            c.row.lat_p99_us
        )?;
    }
    let r = &merged.row;
    writeln!(
        out,
        "merged: {} requests, {:.0} req/s, p50 {} us, p99 {} us, p99.9 {} us, max {} us (appended to {})",
        r.requests,
        r.achieved_rate,
        r.lat_p50_us,
        r.lat_p99_us,
        r.lat_p999_us,
        r.lat_max_us,
        args.out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::sample;

    #[test]
    fn a_side_file_taken_back_restores_the_one_it_replaced() {
        let dir = std::env::temp_dir().join(format!("ringside-merge-commit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (dest, fresh) = (dir.join("m.hgrm"), dir.join("new.hgrm"));
        fs::write(&dest, "old").unwrap();
        let new = |path: &Path| Pending::write(path, |w| w.write_all(b"new")).unwrap().commit().unwrap();

        new(&dest).undo();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "old");
        new(&fresh).undo();
        assert!(!fresh.exists());

        new(&dest).keep();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["m.hgrm"], "nothing set aside is left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory for one test.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ringside-merge-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// An interval log as the load generator writes it: per second, the
    /// corrected latencies untagged and (if given) the raw ones.
    fn write_log(path: &Path, start: SystemTime, seconds: &[(&[u64], Option<&[u64]>)]) {
        let mut file = File::create(path).unwrap();
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut file, &mut serializer)
            .unwrap();
        for (i, (corrected, raw)) in seconds.iter().enumerate() {
            let at = Duration::from_secs(i as u64);
            log.write_histogram(&histogram(corrected), at, Duration::from_secs(1), None).unwrap();
            if let Some(raw) = raw {
                log.write_histogram(&histogram(raw), at, Duration::from_secs(1), Tag::new(RAW_TAG)).unwrap();
            }
        }
    }

    /// Two clients of one closed-loop rr run, a second apart, with logs:
    /// client a 3 s, client b 2 s.
    fn two_clients(dir: &Path) -> (Vec<Client>, Vec<u64>, Vec<u64>) {
        let t0 = crate::parse_timestamp_utc("2026-11-21T22:00:05Z").unwrap();
        let a_corr: [&[u64]; 3] = [&[100, 200, 300], &[150, 5000], &[120]];
        let a_raw: [&[u64]; 3] = [&[90, 190, 290], &[140, 4000], &[110]];
        let b_corr: [&[u64]; 2] = [&[400, 410, 420, 430], &[10_000, 20]];
        let b_raw: [&[u64]; 2] = [&[300, 310, 320, 330], &[9_000, 15]];
        let zip =
            |c: &[&'static [u64]], r: &[&'static [u64]]| -> Vec<(&'static [u64], Option<&'static [u64]>)> {
                c.iter().zip(r).map(|(c, r)| (*c, Some(*r))).collect()
            };
        write_log(&dir.join("a.hlog"), t0, &zip(&a_corr, &a_raw));
        let t1 = t0 + Duration::from_millis(1500);
        write_log(&dir.join("b.hlog"), t1, &zip(&b_corr, &b_raw));
        let row = |ts: SystemTime, duration_s: f64, requests: u64, hlog: &str| {
            let mut r = sample(1);
            r.timestamp = crate::timestamp_utc(ts);
            r.mode = Mode::Closed;
            r.arrival = crate::Arrival::None;
            r.target_rate = 0.0;
            r.rate_shortfall = false;
            r.duration_s = duration_s;
            r.requests = requests;
            r.achieved_rate = requests as f64 / duration_s;
            r.hlog = hlog.into();
            r
        };
        let mut a = row(t0, 3.0, 6, "a.hlog");
        a.connections = 10;
        a.client_cpu_user_us = 2.0;
        a.server_cpu_user_us = 7.0;
        a.server_requests = 12;
        let mut b = row(t1, 2.0, 6, "b.hlog");
        b.connections = 20;
        b.client_cpu_user_us = 4.0;
        b.server_cpu_user_us = 9.0;
        b.host = "bench2".into();
        b.note = String::new();
        let csv = dir.join("clients.csv");
        crate::append(&csv, &a).unwrap();
        crate::append(&csv, &b).unwrap();
        let flat = |hs: &[&[u64]]| hs.iter().flat_map(|h| h.iter().copied()).collect::<Vec<u64>>();
        let mut corrected = flat(&a_corr);
        corrected.extend(flat(&b_corr));
        let mut raw = flat(&a_raw);
        raw.extend(flat(&b_raw));
        (read_clients(&[csv], None).unwrap(), corrected, raw)
    }

    #[test]
    fn merges_exactly() {
        let dir = temp_dir("exact");
        let (clients, corrected, raw) = two_clients(&dir);
        // The CSV is not in the working directory: the logs are found
        // beside it.
        check(&clients, false).unwrap();
        let logs = read_logs(&clients).unwrap();
        let merged = merge(&clients, &logs, Some(Path::new("m.hlog"))).unwrap();
        let r = &merged.row;
        assert_eq!(r.requests, 12);
        assert_eq!(r.connections, 30);
        assert_eq!(r.client_threads, 6);
        assert_eq!(r.achieved_rate, 2.0 + 3.0);
        assert_eq!(r.duration_s, 12.0 / 5.0);
        assert_eq!(r.timestamp, clients[0].row.timestamp);
        assert_eq!(r.host, "bench1 + bench2");
        assert_eq!(r.hlog, "m.hlog");
        // (2 × 6 + 4 × 6) / 12
        assert_eq!(r.client_cpu_user_us, 3.0);
        // The server figures of the longest window (client a), as they are.
        assert_eq!((r.server_cpu_user_us, r.server_requests), (7.0, 12));
        assert!(r.note.contains("server figures from") && r.note.contains("clients.csv row 1"), "{}", r.note);
        // Percentiles of all the latencies recorded in one histogram.
        let whole = histogram(&corrected);
        assert_eq!(r.lat_p99_us, whole.value_at_quantile(0.99) as f64);
        assert_eq!(r.lat_p50_us, whole.value_at_quantile(0.5) as f64);
        assert_eq!(r.lat_max_us, whole.max() as f64);
        assert_eq!(r.lat_mean_us, whole.mean());
        let whole_raw = histogram(&raw);
        assert_eq!(r.raw_p99_us, whole_raw.value_at_quantile(0.99) as f64);
        assert_eq!(r.raw_p90_us, whole_raw.value_at_quantile(0.9) as f64);
        // Seconds by the nearest start: b's first second (1.5 s) counts in 2.
        let counts: Vec<(u64, u64, u64)> = merged
            .seconds
            .iter()
            .map(|(s, (c, r))| (*s, c.as_ref().map_or(0, |h| h.len()), r.as_ref().map_or(0, |h| h.len())))
            .collect();
        assert_eq!(counts, vec![(0, 3, 3), (1, 2, 2), (2, 5, 5), (3, 2, 2)]);

        // The merged log written and read back holds the same histogram.
        let mut bytes = Vec::new();
        write_hlog(&mut bytes, &merged).unwrap();
        fs::write(dir.join("m.hlog"), &bytes).unwrap();
        let back = read_log(&dir.join("m.hlog"), UNIX_EPOCH).unwrap();
        assert_eq!(back.corrected.as_ref(), merged.corrected.as_ref());
        assert_eq!(back.raw.as_ref(), merged.raw.as_ref());
        let mut hgrm = Vec::new();
        write_hgrm(&mut hgrm, merged.corrected.as_ref().unwrap()).unwrap();
        assert!(String::from_utf8(hgrm).unwrap().contains("Total count    =           12"));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn echo_server_figures_scale_and_old_logs_have_no_raw() {
        let dir = temp_dir("echo");
        let (mut clients, _, _) = two_clients(&dir);
        for c in &mut clients {
            c.row.protocol = protocol::Protocol::Echo;
            c.row.server_requests = 0;
        }
        let t0 = window(&clients[0]).unwrap().0;
        write_log(&dir.join("a.hlog"), t0, &[(&[1, 2, 3], None), (&[4, 5], None), (&[6], None)]);
        check(&clients, false).unwrap();
        let logs = read_logs(&clients).unwrap();
        let merged = merge(&clients, &logs, None).unwrap();
        let r = &merged.row;
        // Client a's figure per its own request, times its share of the rate.
        assert!((r.server_cpu_user_us - 7.0 * 2.0 / 5.0).abs() < 1e-9, "{}", r.server_cpu_user_us);
        assert!(r.note.contains("counts none (echo)"), "{}", r.note);
        assert_eq!((r.raw_p50_us, r.raw_max_us), (0.0, 0.0));
        assert!(r.note.contains("raw_* columns 0"), "{}", r.note);
        assert!(r.lat_p50_us > 0.0);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn one_client_counted_twice_is_refused() {
        let dir = temp_dir("twice");
        let (a, copy) = (dir.join("a.csv"), dir.join("copy.csv"));
        for path in [&a, &copy] {
            crate::append(path, &sample(1)).unwrap();
        }
        let err = read_clients(&[a.clone(), a.clone()], None).err().unwrap().to_string();
        assert!(err.contains("a.csv is given twice"), "{err}");
        let err = read_clients(&[a.clone(), copy.clone()], None).err().unwrap().to_string();
        assert!(err.contains("are one client's row"), "{err}");
        assert_eq!(read_clients(&[a], None).unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_cannot_be_merged() {
        let dir = temp_dir("refuse");
        let (clients, _, _) = two_clients(&dir);
        let d = dir.display().to_string();
        let corrupt = dir.join("corrupt.hlog");
        let good = fs::read_to_string(dir.join("b.hlog")).unwrap();
        // Cut the third line (the first histogram) short.
        let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
        let n = lines.iter().position(|l| l.starts_with("Tag=") || l.starts_with('0')).unwrap();
        let cut = lines[n].len() - 20;
        lines[n].truncate(cut);
        fs::write(&corrupt, lines.join("\n") + "\n").unwrap();
        let tagged = dir.join("tagged.hlog");
        fs::write(&tagged, good.replace("Tag=raw", "Tag=other")).unwrap();
        let garbage = dir.join("garbage.hlog");
        fs::write(&garbage, "#[StartTime: 1 (seconds since epoch)]\nnot a log line\n").unwrap();
        type Change = fn(&mut Row);
        // (change to client b's row, whether --force, a piece of the error
        // or nothing if it merges)
        let table: Vec<(Change, bool, String)> = vec![
            (|r| r.backend = "epoll".into(), false, "column `backend`: `epoll`, but".into()),
            (|r| r.protocol = protocol::Protocol::Http, false, "column `protocol`: `http`".into()),
            (|r| r.pipeline = 2, true, "column `pipeline`".into()),
            (|r| r.work = "none".into(), true, "column `work`".into()),
            (|r| r.run_id = "other".into(), false, "column `run_id`: `other`".into()),
            (|r| r.timestamp = "2026-11-21T22:00:09Z".into(), false, "did not run at the same time".into()),
            (|r| r.timestamp = "yesterday".into(), false, "`yesterday` is not an RFC 3339".into()),
            (|r| r.hlog = String::new(), false, "row 2: column `hlog` is empty".into()),
            (|r| r.hlog = "gone.hlog".into(), false, format!("not at gone.hlog nor at {d}/gone.hlog: copy")),
            (|r| r.hlog = "/elsewhere/b.hlog".into(), false, String::new()),
            (|r| r.hlog = "corrupt.hlog".into(), false, format!("{d}/corrupt.hlog line 4: the histogram")),
            (|r| r.hlog = "garbage.hlog".into(), false, format!("{d}/garbage.hlog line 2: cannot parse")),
            (|r| r.hlog = "tagged.hlog".into(), false, "line 5: unknown tag `other`".into()),
            (|r| r.requests = 7, false, "holds 6 corrected latencies, but".into()),
        ];
        for (change, force, expected) in table {
            let mut clients = clients.clone();
            change(&mut clients[1].row);
            let outcome = check(&clients, force).and_then(|()| read_logs(&clients));
            if expected.is_empty() {
                // Not an error: found beside the CSV file by its name.
                outcome.unwrap();
                continue;
            }
            let e = outcome.unwrap_err().to_string();
            assert!(e.contains(&expected), "expected `{expected}` in: {e}");
        }
        // --force merges other run_ids.
        let mut forced = clients.clone();
        forced[1].row.run_id = "other".into();
        check(&forced, true).unwrap();
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn writes_nothing_on_bad_input() {
        let dir = temp_dir("nothing");
        let (clients, _, _) = two_clients(&dir);
        let csv = clients[0].csv.clone();
        let args = |out: &str| Args {
            inputs: vec![csv.clone()],
            out: dir.join(out),
            hlog_out: Some(dir.join("m.hlog")),
            hgrm_out: Some(dir.join("m.hgrm")),
            run_id: None,
            force: false,
        };
        fs::remove_file(dir.join("b.hlog")).unwrap();
        let e = run(&args("merged.csv")).unwrap_err().to_string();
        assert!(e.contains("b.hlog"), "{e}");
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.hlog", "clients.csv"]);

        // A good merge writes the row and both files, and leaves no
        // temporary files.
        fs::remove_file(&csv).unwrap();
        let (_, corrected, _) = two_clients(&dir);
        assert_eq!(run(&args("merged.csv")).unwrap(), ExitCode::SUCCESS);
        let rows = crate::read(&dir.join("merged.csv")).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].lat_p99_us, histogram(&corrected).value_at_quantile(0.99) as f64);
        let back = read_log(&dir.join("m.hlog"), UNIX_EPOCH).unwrap();
        assert_eq!(back.corrected.unwrap().len(), 12);
        assert!(
            fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("tmp"))
        );
        let _ = fs::remove_dir_all(dir);
    }
}
