//! `ringside-results merge`: the results of several load generators that
//! drove one server at the same time, as one row and one histogram.
//!
//! Each load generator (`ringside-loadgen run --csv FILE --hlog FILE`)
//! writes a row and an HdrHistogram interval log. Merging reads every
//! interval of every log and adds them into one histogram with
//! HdrHistogram's add, which is exact: the merged row's latency columns are
//! that histogram's percentiles, never an average of the clients'
//! percentiles. Untagged log lines are the corrected latencies (`lat_*`),
//! lines tagged `Tag=raw` the raw ones (`raw_*`), lines tagged `Tag=lag`
//! the send lag (`send_lag_*`); if any log has no raw lines (written by an
//! early load generator), the `raw_*` columns are 0 and `note` says so, and
//! likewise the `send_lag_*` columns for logs without lag lines (written
//! before schema 3; the note only for open loop, where send lag exists).
//! Each log must hold exactly its row's `requests` latencies, which catches
//! a log that belongs to another run. The logs are read with
//! [`crate::hdr::read_log`], which converts the microseconds of logs
//! written before schema 3 to nanoseconds, so old and new logs merge.
//!
//! The other columns:
//! - Counts add up: `requests`, `answered_late`, the errors,
//!   `conns_unanswered`, `connections`, `client_threads`, and the rates
//!   `target_rate`, `offered_rate`, `sent_rate` and `achieved_rate` (the
//!   clients' rates add up). `duration_s` is the clients' answers in their
//!   windows (`achieved_rate` × `duration_s` each) ÷ the merged
//!   `achieved_rate`, so that `achieved_rate` is still answers ÷
//!   `duration_s`: the clients' duration when they ran equally long,
//!   between the shortest and the longest otherwise. `drain_s` is the
//!   longest drain. `timestamp` is the earliest window start.
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
//! - Text that must agree (phase and objective, backend and options,
//!   protocol, pipeline, loop mode and arrival, sizes, work) is checked: rows that differ are
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
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use crate::hdr::{self, LAG_TAG, LatencyColumns, Log, LogWriter, RAW_TAG, Series, add};
use crate::{Mode, Row};

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
                       client-2.csv\n\nExit status: 0 merged; 1 bad input (nothing written); 2 usage."
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

impl From<hdr::ReadError> for Error {
    fn from(e: hdr::ReadError) -> Self {
        match e {
            hdr::ReadError::Io { path, source } => Error::Io { path, doing: "read", source },
            hdr::ReadError::Corrupt { path, line, problem } => Error::HlogCorrupt { path, line, problem },
        }
    }
}

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

/// One second of the merged log: the clients' intervals of each series
/// added up (`None`: no interval of that series).
#[derive(Debug, Default)]
pub struct Second {
    pub corrected: Option<Histogram<u64>>,
    pub raw: Option<Histogram<u64>>,
    pub lag: Option<Histogram<u64>>,
}

impl Second {
    fn series_mut(&mut self, series: Series) -> &mut Option<Histogram<u64>> {
        match series {
            Series::Corrected => &mut self.corrected,
            Series::Raw => &mut self.raw,
            Series::Lag => &mut self.lag,
        }
    }
}

/// The merged result: the row, and the histograms its latencies come from.
#[derive(Debug)]
pub struct Merged {
    pub row: Row,
    /// All clients' corrected latencies (`None`: no request completed).
    pub corrected: Option<Histogram<u64>>,
    /// All clients' raw latencies (`None`: none completed, or some log has
    /// no raw lines).
    pub raw: Option<Histogram<u64>>,
    /// All clients' send lag (`None`: none recorded, or some log has no lag
    /// lines).
    pub lag: Option<Histogram<u64>>,
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
fn workload_columns(row: &Row) -> [(&'static str, String); 11] {
    [
        ("phase", format!("{:?}", row.phase).to_lowercase()),
        ("slo", row.slo.clone()),
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
            let log = hdr::read_log(&path, start)?;
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

/// Merge checked clients (see [`check`]) and their logs (see
/// [`read_logs`]) into one row; `hlog` is the merged log's path, if one is
/// written. In steps: the logs added up ([`Sums::of`]), the rates and
/// durations added up ([`Totals::of`]), the server's figures taken from one
/// client ([`ServerFigures::of`]), the notes, then the row
/// ([`merged_row`]).
pub fn merge(clients: &[Client], logs: &[Log], hlog: Option<&Path>) -> Result<Merged, Error> {
    assert_eq!(clients.len(), logs.len(), "a log per client");
    let rows: Vec<&Row> = clients.iter().map(|c| &c.row).collect();
    let windows = clients.iter().map(window).collect::<Result<Vec<_>, _>>()?;
    let start = windows.iter().map(|w| w.0).min().expect("some clients");
    let sums = Sums::of(logs, start)?;
    let totals = Totals::of(&rows);

    let mut notes = vec![format!(
        "merged from {} load generators ({}); latencies from the sum of their interval logs",
        clients.len(),
        clients.iter().map(Client::name).collect::<Vec<_>>().join(", ")
    )];
    let (mut server, server_note) = ServerFigures::of(clients, totals.achieved_rate);
    notes.push(server_note);
    notes.extend(input_notes(clients, logs, &windows, totals.longest));
    server.syscalls = server_syscalls(&rows, clients, totals.achieved_rate, &mut notes);

    let row = merged_row(&rows, &totals, &server, &sums, start, notes, hlog);
    let Sums { corrected, raw, lag, seconds } = sums;
    Ok(Merged { row, corrected, raw, lag, seconds, start })
}

/// Whether every log has a series: a series goes into the merged row only
/// then, since a sum over some of the clients would pass for all of them.
fn every_log_has(logs: &[Log], series: Series) -> bool {
    match series {
        Series::Corrected => true,
        Series::Raw => logs.iter().all(|l| l.has_raw),
        Series::Lag => logs.iter().all(|l| l.has_lag),
    }
}

/// The clients' logs added up: each series over the whole run, and per
/// second of the merged log.
struct Sums {
    corrected: Option<Histogram<u64>>,
    raw: Option<Histogram<u64>>,
    lag: Option<Histogram<u64>>,
    seconds: BTreeMap<u64, Second>,
}

impl Sums {
    /// Add every log's series that every log has (see [`every_log_has`]);
    /// each interval into the whole second since `start` nearest to its
    /// start.
    fn of(logs: &[Log], start: SystemTime) -> Result<Sums, Error> {
        let mut sums: [Option<Histogram<u64>>; 3] = [None, None, None];
        let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
        for log in logs {
            let problem = |e: String| Error::HlogCorrupt { path: log.path.clone(), line: 0, problem: e };
            for (i, series) in Series::ALL.into_iter().enumerate() {
                if every_log_has(logs, series)
                    && let Some(h) = log.sum(series)
                {
                    add(&mut sums[i], h).map_err(problem)?;
                }
            }
            for (at, series, h) in &log.intervals {
                if !every_log_has(logs, *series) {
                    continue;
                }
                // The nearest whole second since the earliest window start.
                let second = at.duration_since(start).unwrap_or_default().as_secs_f64().round() as u64;
                add(seconds.entry(second).or_default().series_mut(*series), h).map_err(problem)?;
            }
        }
        let [corrected, raw, lag] = sums;
        Ok(Sums { corrected, raw, lag, seconds })
    }
}

/// The figures that add up over the clients (see the module doc).
struct Totals {
    requests: u64,
    achieved_rate: f64,
    offered_rate: f64,
    /// The longest client's window, s.
    longest: f64,
    /// The merged window: the clients' when all ran equally long, else
    /// their answers over the merged rate.
    duration_s: f64,
}

impl Totals {
    fn of(rows: &[&Row]) -> Totals {
        let first = rows[0];
        let achieved_rate = rows.iter().map(|r| r.achieved_rate).sum::<f64>();
        let offered_rate = rows.iter().map(|r| r.offered_rate).sum::<f64>();
        let longest = rows.iter().map(|r| r.duration_s).fold(0.0, f64::max);
        // Answers in the clients' windows over the merged rate (see the
        // module doc).
        let answers: f64 = rows.iter().map(|r| r.achieved_rate * r.duration_s).sum();
        let duration_s = if rows.iter().all(|r| r.duration_s == first.duration_s) {
            first.duration_s
        } else if achieved_rate > 0.0 {
            answers / achieved_rate
        } else {
            longest
        };
        Totals {
            requests: rows.iter().map(|r| r.requests).sum(),
            achieved_rate,
            offered_rate,
            longest,
            duration_s,
        }
    }
}

/// The server's figures of the merged row: one client's (see the module
/// doc), never a sum.
struct ServerFigures {
    user: f64,
    sys: f64,
    vcs: f64,
    ics: f64,
    requests: u64,
    same_ns: f64,
    cross_ns: f64,
    /// System calls per request and by name (see [`server_syscalls`]).
    syscalls: (Option<f64>, String),
}

impl ServerFigures {
    /// The figures of the client with the longest window among those that
    /// read the counters (an echo server's scaled by that client's share
    /// of the total rate), and the note that says whose they are.
    fn of(clients: &[Client], achieved_rate: f64) -> (ServerFigures, String) {
        let rows: Vec<&Row> = clients.iter().map(|c| &c.row).collect();
        let measured = |r: &Row| r.server_cpu_user_us + r.server_cpu_sys_us > 0.0 || r.server_requests > 0;
        let server =
            (0..rows.len()).filter(|&i| measured(rows[i])).fold(None, |best: Option<usize>, i| match best {
                Some(b) if rows[b].duration_s >= rows[i].duration_s => Some(b),
                _ => Some(i),
            });
        let Some(i) = server else {
            let r = rows[0];
            let figures = ServerFigures {
                user: 0.0,
                sys: 0.0,
                vcs: 0.0,
                ics: 0.0,
                requests: 0,
                same_ns: r.ctxsw_same_cpu_ns,
                cross_ns: r.ctxsw_cross_cpu_ns,
                syscalls: (None, String::new()),
            };
            return (figures, "server figures 0: no load generator read the server's counters".into());
        };
        let r = rows[i];
        // Echo's figures are per request of the client's own requests.
        let (scale, note) = if r.server_requests == 0 && achieved_rate > 0.0 {
            let note = format!(
                "server figures from {}, whose window ({:.2} s) is the longest: the server's counters \
                 cover every client's requests; it counts none (echo), so they are scaled by that \
                 client's share of the total rate ({:.3})",
                clients[i].name(),
                r.duration_s,
                r.achieved_rate / achieved_rate
            );
            (r.achieved_rate / achieved_rate, note)
        } else {
            let note = format!(
                "server figures from {}, whose window ({:.2} s) is the longest: the server's counters \
                 cover every client's requests",
                clients[i].name(),
                r.duration_s
            );
            (1.0, note)
        };
        let figures = ServerFigures {
            user: r.server_cpu_user_us * scale,
            sys: r.server_cpu_sys_us * scale,
            vcs: r.server_vcs * scale,
            ics: r.server_ics * scale,
            requests: r.server_requests,
            same_ns: r.ctxsw_same_cpu_ns,
            cross_ns: r.ctxsw_cross_cpu_ns,
            syscalls: (None, String::new()),
        };
        (figures, note)
    }

    /// The share of the server's CPU time its context switches explain
    /// (0 where it cannot be computed).
    fn switch_share_pct(&self) -> f64 {
        let cpu = self.user + self.sys;
        let share = (self.vcs + self.ics) * self.same_ns / (1000.0 * cpu) * 100.0;
        if share.is_finite() { share } else { 0.0 }
    }
}

/// What the merged row's `note` says about its inputs: windows that
/// overlap little, series some logs lack, and each client's own note.
fn input_notes(
    clients: &[Client],
    logs: &[Log],
    windows: &[(SystemTime, SystemTime)],
    longest: f64,
) -> Vec<String> {
    let mut notes = Vec::new();
    let last_start = windows.iter().map(|w| w.0).max().expect("some clients");
    let first_end = windows.iter().map(|w| w.1).min().expect("some clients");
    let overlap = first_end.duration_since(last_start).unwrap_or_default().as_secs_f64();
    if overlap < 0.95 * longest {
        notes.push(format!("the windows overlap only {overlap:.2} s of the longest {longest:.2} s"));
    }
    if !every_log_has(logs, Series::Raw) {
        let old: Vec<String> =
            logs.iter().filter(|l| !l.has_raw).map(|l| l.path.display().to_string()).collect();
        notes.push(format!(
            "raw_* columns 0: {} hold no raw (Tag={RAW_TAG}) latencies (written by an older ringside-loadgen)",
            old.join(", ")
        ));
    }
    if !every_log_has(logs, Series::Lag) && clients[0].row.mode == Mode::Open {
        let old: Vec<String> =
            logs.iter().filter(|l| !l.has_lag).map(|l| l.path.display().to_string()).collect();
        notes.push(format!(
            "send_lag_* columns 0: {} hold no send lag (Tag={LAG_TAG}) (written before results schema 3)",
            old.join(", ")
        ));
    }
    for c in clients {
        if !c.row.note.is_empty() {
            notes.push(format!("{}: {}", c.name(), c.row.note));
        }
    }
    notes
}

/// The merged row, column by column: the workload from the first row
/// (checked equal in all), text that may differ joined, counts added up,
/// client figures per request over all requests, latencies from the sums.
fn merged_row(
    rows: &[&Row],
    totals: &Totals,
    server: &ServerFigures,
    sums: &Sums,
    start: SystemTime,
    notes: Vec<String>,
    hlog: Option<&Path>,
) -> Row {
    let first = rows[0];
    let requests = totals.requests;
    let rate = |f: fn(&Row) -> f64| rows.iter().map(|r| f(r)).sum::<f64>();
    // Totals over total requests.
    let per_request = |f: fn(&Row) -> f64| {
        if requests == 0 {
            0.0
        } else {
            rows.iter().map(|r| f(r) * r.requests as f64).sum::<f64>() / requests as f64
        }
    };
    let lat = LatencyColumns::of_option(sums.corrected.as_ref());
    let rawc = LatencyColumns::of_option(sums.raw.as_ref());
    let lagc = LatencyColumns::of_option(sums.lag.as_ref());
    let same = |f: fn(&Row) -> u32| if rows.iter().all(|r| f(r) == f(first)) { f(first) } else { 1 };
    let (achieved_rate, offered_rate) = (totals.achieved_rate, totals.offered_rate);
    let (server_syscalls, server_syscalls_by_name) = server.syscalls.clone();
    let client_calls: Vec<(&str, f64)> =
        rows.iter().map(|r| (r.client_syscalls_by_name.as_str(), r.requests as f64)).collect();
    Row {
        schema: crate::SCHEMA_VERSION,
        timestamp: crate::timestamp_utc(start),
        run_id: joined(rows.iter().map(|r| r.run_id.as_str())),
        repetition: same(|r| r.repetition),
        phase: first.phase,
        slo: first.slo.clone(),
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
        target_rate: rate(|r| r.target_rate),
        offered_rate,
        sent_rate: rate(|r| r.sent_rate),
        achieved_rate,
        rate_shortfall: first.mode == Mode::Open && achieved_rate < 0.98 * offered_rate,
        request_bytes: first.request_bytes,
        response_bytes: first.response_bytes,
        work: first.work.clone(),
        warmup_s: rows.iter().map(|r| r.warmup_s).fold(0.0, f64::max),
        duration_s: totals.duration_s,
        requests,
        answered_late: rows.iter().map(|r| r.answered_late).sum(),
        drain_s: rows.iter().map(|r| r.drain_s).fold(0.0, f64::max),
        errors_connect: rows.iter().map(|r| r.errors_connect).sum(),
        errors_reset: rows.iter().map(|r| r.errors_reset).sum(),
        errors_timeout: rows.iter().map(|r| r.errors_timeout).sum(),
        errors_bad_response: rows.iter().map(|r| r.errors_bad_response).sum(),
        errors_http_3xx: rows.iter().map(|r| r.errors_http_3xx).sum(),
        errors_http_4xx: rows.iter().map(|r| r.errors_http_4xx).sum(),
        errors_http_5xx: rows.iter().map(|r| r.errors_http_5xx).sum(),
        conns_unanswered: rows.iter().map(|r| r.conns_unanswered).sum(),
        conn_answers_min: rows.iter().map(|r| r.conn_answers_min).min().unwrap_or(0),
        conn_answers_max: rows.iter().map(|r| r.conn_answers_max).max().unwrap_or(0),
        reconnects: rows.iter().map(|r| r.reconnects).sum(),
        complete: rows.iter().all(|r| r.complete),
        note: notes.join("; "),
        lat_p50_us: lat.p50_us,
        lat_p90_us: lat.p90_us,
        lat_p99_us: lat.p99_us,
        lat_p999_us: lat.p999_us,
        lat_p9999_us: lat.p9999_us,
        lat_max_us: lat.max_us,
        lat_mean_us: lat.mean_us,
        raw_p50_us: rawc.p50_us,
        raw_p90_us: rawc.p90_us,
        raw_p99_us: rawc.p99_us,
        raw_p999_us: rawc.p999_us,
        raw_p9999_us: rawc.p9999_us,
        raw_max_us: rawc.max_us,
        raw_mean_us: rawc.mean_us,
        send_lag_p50_us: lagc.p50_us,
        send_lag_p99_us: lagc.p99_us,
        send_lag_max_us: lagc.max_us,
        server_cpu_user_us: server.user,
        server_cpu_sys_us: server.sys,
        server_vcs: server.vcs,
        server_ics: server.ics,
        server_requests: server.requests,
        server_syscalls,
        server_syscalls_by_name,
        client_cpu_user_us: per_request(|r| r.client_cpu_user_us),
        client_cpu_sys_us: per_request(|r| r.client_cpu_sys_us),
        client_vcs: per_request(|r| r.client_vcs),
        client_ics: per_request(|r| r.client_ics),
        client_syscalls: if client_calls.iter().any(|(c, _)| c.is_empty()) {
            None
        } else {
            Some(per_request(|r| r.client_syscalls.unwrap_or(0.0)))
        },
        client_syscalls_by_name: crate::syscalls::weighted(&client_calls),
        ctxsw_same_cpu_ns: server.same_ns,
        ctxsw_cross_cpu_ns: server.cross_ns,
        switch_share_pct: server.switch_share_pct(),
        hlog: hlog.map(|p| p.display().to_string()).unwrap_or_default(),
    }
}

/// The server's system calls per request in the merged row. Each load
/// generator that counted them counted every call of the server in its
/// window, divided by its own answers: the longest window's figures, scaled
/// by that client's share of the total rate (as echo's server figures).
fn server_syscalls(
    rows: &[&Row],
    clients: &[Client],
    achieved_rate: f64,
    notes: &mut Vec<String>,
) -> (Option<f64>, String) {
    let best = (0..rows.len())
        .filter(|&i| !rows[i].server_syscalls_by_name.is_empty())
        .max_by(|&a, &b| rows[a].duration_s.total_cmp(&rows[b].duration_s));
    let Some(i) = best else { return (None, String::new()) };
    let r = rows[i];
    let scale = if achieved_rate > 0.0 { r.achieved_rate / achieved_rate } else { 1.0 };
    notes.push(format!(
        "server system calls from {}, whose window ({:.2} s) is the longest, scaled by its share of the total \
         rate ({scale:.3})",
        clients[i].name(),
        r.duration_s
    ));
    (r.server_syscalls.map(|v| v * scale), crate::syscalls::scaled(&r.server_syscalls_by_name, scale))
}

/// Write the merged interval log to `out` ([`hdr::LogWriter`]): per
/// second, the series the merged row's figures come from.
pub fn write_hlog(out: &mut impl Write, merged: &Merged) -> io::Result<()> {
    let mut log = LogWriter::begin(out, merged.start, "ringside-results merge")?;
    for (&second, sums) in &merged.seconds {
        for (series, h) in
            [(Series::Corrected, &sums.corrected), (Series::Raw, &sums.raw), (Series::Lag, &sums.lag)]
        {
            if let Some(h) = h {
                log.write(second, series, h)?;
            }
        }
    }
    Ok(())
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
        pending
            .push(Pending::write(path, |w| hdr::write_hgrm(w, merged.corrected.as_ref().unwrap_or(&empty)))?);
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
    use std::time::UNIX_EPOCH;

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

    /// A histogram of these latencies, given in microseconds.
    fn histogram(values_us: &[u64]) -> Histogram<u64> {
        let mut h = hdr::new_histogram();
        for &v in values_us {
            h.record(v * 1000).unwrap();
        }
        h
    }

    /// An interval log as the load generator writes it: per second, the
    /// corrected latencies untagged and (if given) the raw ones and the
    /// send lag, all given in microseconds.
    fn write_log(path: &Path, start: SystemTime, seconds: &[(&[u64], Option<&[u64]>)]) {
        write_log_with_lag(path, start, seconds, &[]);
    }

    fn write_log_with_lag(
        path: &Path,
        start: SystemTime,
        seconds: &[(&[u64], Option<&[u64]>)],
        lag: &[&[u64]],
    ) {
        let mut log = LogWriter::begin(File::create(path).unwrap(), start, "test").unwrap();
        for (i, (corrected, raw)) in seconds.iter().enumerate() {
            log.write(i as u64, Series::Corrected, &histogram(corrected)).unwrap();
            if let Some(raw) = raw {
                log.write(i as u64, Series::Raw, &histogram(raw)).unwrap();
            }
            if let Some(lag) = lag.get(i) {
                log.write(i as u64, Series::Lag, &histogram(lag)).unwrap();
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
            r.offered_rate = r.achieved_rate;
            r.sent_rate = r.achieved_rate;
            r.hlog = hlog.into();
            r
        };
        let mut a = row(t0, 3.0, 6, "a.hlog");
        (a.answered_late, a.drain_s) = (1, 0.25);
        a.connections = 10;
        a.client_cpu_user_us = 2.0;
        a.server_cpu_user_us = 7.0;
        a.server_requests = 12;
        let mut b = row(t1, 2.0, 6, "b.hlog");
        (b.answered_late, b.drain_s) = (2, 0.5);
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
        assert_eq!((r.offered_rate, r.sent_rate), (5.0, 5.0));
        assert_eq!((r.answered_late, r.drain_s), (3, 0.5));
        assert_eq!((r.phase, r.slo.as_str()), (crate::Phase::Probe, "p99<=1000us"));
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
        assert_eq!(r.lat_p99_us, hdr::us(whole.value_at_quantile(0.99)));
        assert_eq!(r.lat_p50_us, hdr::us(whole.value_at_quantile(0.5)));
        assert_eq!(r.lat_max_us, hdr::us(whole.max()));
        assert_eq!(r.lat_mean_us, whole.mean().round() / 1000.0);
        let whole_raw = histogram(&raw);
        assert_eq!(r.raw_p99_us, hdr::us(whole_raw.value_at_quantile(0.99)));
        assert_eq!(r.raw_p90_us, hdr::us(whole_raw.value_at_quantile(0.9)));
        // Closed loop without lag lines: 0, without a note.
        assert_eq!((r.send_lag_p99_us, merged.lag.is_none()), (0.0, true));
        assert!(!r.note.contains("send_lag"), "{}", r.note);
        // Seconds by the nearest start: b's first second (1.5 s) counts in 2.
        let counts: Vec<(u64, u64, u64)> = merged
            .seconds
            .iter()
            .map(|(s, sums)| {
                let n = |h: &Option<Histogram<u64>>| h.as_ref().map_or(0, Histogram::len);
                (*s, n(&sums.corrected), n(&sums.raw))
            })
            .collect();
        assert_eq!(counts, vec![(0, 3, 3), (1, 2, 2), (2, 5, 5), (3, 2, 2)]);

        // The merged log written and read back holds the same histogram.
        let mut bytes = Vec::new();
        write_hlog(&mut bytes, &merged).unwrap();
        fs::write(dir.join("m.hlog"), &bytes).unwrap();
        let back = hdr::read_log(&dir.join("m.hlog"), UNIX_EPOCH).unwrap();
        assert_eq!(back.corrected.as_ref(), merged.corrected.as_ref());
        assert_eq!(back.raw.as_ref(), merged.raw.as_ref());
        assert!(!back.was_microseconds);
        let mut hgrm = Vec::new();
        hdr::write_hgrm(&mut hgrm, merged.corrected.as_ref().unwrap()).unwrap();
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
            // A counting run is not one client of a measured run.
            (|r| r.phase = crate::Phase::Count, true, "column `phase`: `count`, but".into()),
            (|r| r.protocol = protocol::Protocol::Http, false, "column `protocol`: `http`".into()),
            (|r| r.pipeline = 2, true, "column `pipeline`".into()),
            (|r| r.work = "none".into(), true, "column `work`".into()),
            (|r| r.run_id = "other".into(), false, "column `run_id`: `other`".into()),
            (|r| r.timestamp = "2026-11-21T22:00:09Z".into(), false, "did not run at the same time".into()),
            (|r| r.timestamp = "yesterday".into(), false, "`yesterday` is not an RFC 3339".into()),
            (|r| r.hlog = String::new(), false, "row 2: column `hlog` is empty".into()),
            (|r| r.hlog = "gone.hlog".into(), false, format!("not at gone.hlog nor at {d}/gone.hlog: copy")),
            (|r| r.hlog = "/elsewhere/b.hlog".into(), false, String::new()),
            (|r| r.hlog = "corrupt.hlog".into(), false, format!("{d}/corrupt.hlog line 5: the histogram")),
            (|r| r.hlog = "garbage.hlog".into(), false, format!("{d}/garbage.hlog line 2: cannot parse")),
            (|r| r.hlog = "tagged.hlog".into(), false, "line 6: unknown tag `other`".into()),
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
        assert_eq!(rows[0].lat_p99_us, hdr::us(histogram(&corrected).value_at_quantile(0.99)));
        let back = hdr::read_log(&dir.join("m.hlog"), UNIX_EPOCH).unwrap();
        assert_eq!(back.corrected.unwrap().len(), 12);
        assert!(
            fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("tmp"))
        );
        let _ = fs::remove_dir_all(dir);
    }

    /// Open loop: the send lag of every log is merged; a log without lag
    /// lines (written before schema 3) leaves the columns 0 with a note.
    #[test]
    fn open_loop_send_lag_is_merged_from_the_lag_lines() {
        let dir = temp_dir("lag");
        let (mut clients, _, _) = two_clients(&dir);
        for c in &mut clients {
            c.row.mode = Mode::Open;
            c.row.arrival = crate::Arrival::Uniform;
            c.row.target_rate = 2.5;
            c.row.offered_rate = 2.5;
        }
        let starts: Vec<SystemTime> = clients.iter().map(|c| window(c).unwrap().0).collect();
        let a: [(&[u64], Option<&[u64]>); 3] = [
            (&[100, 200, 300], Some(&[90, 190, 290])),
            (&[150, 5000], Some(&[140, 4000])),
            (&[120], Some(&[110])),
        ];
        let b: [(&[u64], Option<&[u64]>); 2] =
            [(&[400, 410, 420, 430], Some(&[300, 310, 320, 330])), (&[10_000, 20], Some(&[9_000, 15]))];
        write_log_with_lag(&dir.join("a.hlog"), starts[0], &a, &[&[1, 2], &[3], &[]]);
        write_log_with_lag(&dir.join("b.hlog"), starts[1], &b, &[&[4, 50], &[6]]);
        let logs = read_logs(&clients).unwrap();
        let merged = merge(&clients, &logs, None).unwrap();
        let lag = histogram(&[1, 2, 3, 4, 50, 6]);
        assert_eq!(merged.lag.as_ref(), Some(&lag));
        let r = &merged.row;
        assert_eq!(r.send_lag_p50_us, hdr::us(lag.value_at_quantile(0.5)));
        let top = hdr::us(lag.highest_equivalent(50_000));
        assert_eq!((r.send_lag_p99_us, r.send_lag_max_us), (top, top));
        // 5 answers a second against 5 offered: no shortfall; 4.8 is one.
        assert!(!r.rate_shortfall);
        clients[1].row.achieved_rate = 2.8;
        let r = merge(&clients, &logs, None).unwrap().row;
        assert!(r.rate_shortfall, "4.8 of 5 offered is below 98%");

        write_log(&dir.join("b.hlog"), starts[1], &b);
        let logs = read_logs(&clients).unwrap();
        let r = merge(&clients, &logs, None).unwrap().row;
        assert_eq!((r.send_lag_p50_us, r.send_lag_max_us), (0.0, 0.0));
        assert!(r.note.contains("send_lag_* columns 0:") && r.note.contains("b.hlog"), "{}", r.note);
        let _ = fs::remove_dir_all(dir);
    }

    /// A schema-2 client (its row and its microsecond log, as the
    /// schema-2 load generator wrote them) merges into a schema-3 row.
    #[test]
    fn a_schema_2_client_and_its_microsecond_log_merge() {
        let dir = temp_dir("v2");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata");
        let text = fs::read_to_string(fixtures.join("schema2.csv")).unwrap();
        let closed: Vec<&str> = text.lines().take(2).collect();
        fs::write(dir.join("old.csv"), closed.join("\n") + "\n").unwrap();
        fs::copy(fixtures.join("schema2-closed.hlog"), dir.join("schema2-closed.hlog")).unwrap();
        let clients = read_clients(&[dir.join("old.csv")], None).unwrap();
        assert_eq!(clients[0].row.schema, 2);
        check(&clients, false).unwrap();
        let logs = read_logs(&clients).unwrap();
        let merged = merge(&clients, &logs, None).unwrap();
        let (old, r) = (&clients[0].row, &merged.row);
        assert_eq!((r.schema, r.requests), (crate::SCHEMA_VERSION, old.requests));
        assert!(r.lat_p99_us >= old.lat_p99_us && r.lat_p99_us <= old.lat_p99_us * 1.001);
        assert_eq!((r.offered_rate, r.achieved_rate), (old.achieved_rate, old.achieved_rate));
        assert!(!r.note.contains("send_lag"), "closed loop: {}", r.note);
        let out = dir.join("merged.csv");
        crate::append(&out, r).unwrap();
        assert_eq!(crate::read(&out).unwrap()[0].schema, crate::SCHEMA_VERSION);
        let _ = fs::remove_dir_all(dir);
    }
}
