//! `ringside-results export`: results files in the formats continuous
//! benchmarking services read, so a project can track ringside's figures
//! with the tools it already has.
//!
//! - **BMF** (Bencher Metric Format, `--format bmf`): one JSON object, a key
//!   per benchmark, a measure per figure, each `{value, lower_value,
//!   upper_value}`. Latencies are in nanoseconds, the unit of Bencher's
//!   built-in `latency` measure; throughput in requests per second, the
//!   operations per second of its built-in `throughput` measure.
//! - **github-action-benchmark** (`--format github-action-benchmark`): the
//!   action's `customBiggerIsBetter` and `customSmallerIsBetter` inputs,
//!   each a JSON array of `{name, unit, value, range, extra}`, one file per
//!   direction, since the action takes one direction per step.
//!
//! A benchmark is a [`Workload`]: its repetitions (the complete rows of
//! phase `run` or `capacity`; probes and incomplete runs are left out, a
//! note on stderr says how many; so are a sweep's counting runs, phase
//! `count`, silently: counting slowed them, and the system calls, their one
//! figure, are not exported) give each figure's median as the value
//! and their lowest and highest as its bounds. Figures come from
//! [`Metric::value`], as `compare` and `gate` take them, so an unmeasured
//! figure (a server without counters) is left out, never exported as 0.
//!
//! Everything is computed before anything is written, and each file goes
//! through a temporary file renamed into place: bad input leaves no file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::stats::Summary;
use crate::workload::{Metric, Workload};
use crate::{Phase, Row};

/// The flags of `ringside-results export`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Export results for continuous benchmarking: Bencher's BMF or github-action-benchmark's JSON",
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// Results files; their rows are pooled, each workload's complete runs its repetitions.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// What to write.
    #[arg(long, value_enum)]
    pub format: Format,

    /// --format bmf: write the document to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// --format github-action-benchmark: the directory to write the two files into
    /// (customBiggerIsBetter.json and customSmallerIsBetter.json; created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Bencher Metric Format: one JSON object, benchmarks to measures.
    Bmf,
    /// github-action-benchmark's custom tools: two JSON arrays, one per direction.
    GithubActionBenchmark,
}

const LONG_ABOUT: &str = "\
Export results files for continuous benchmarking services: Bencher's BMF (Bencher Metric Format) \
or github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter JSON.

Each workload is a benchmark, named by its backend, protocol, connections and load, e.g. `epoll http \
c=50 closed` (with pipeline, sizes, work and, where two workloads would share a name, the backend's \
options). Its complete runs (phase run or capacity; probes, counting runs and incomplete runs are left \
out) are its repetitions: each figure's value is their median, its bounds their lowest and highest.";

const AFTER_LONG_HELP: &str = "\
--format bmf measures (Bencher creates those it does not have; `latency` and `throughput` are its
built-in measures, in nanoseconds and operations per second):
  throughput                   achieved req/s (runs)
  capacity                     req/s under the search's latency objective (capacity rows)
  latency                      p50 latency from the intended send time, ns
  latency-p99, latency-p99-9   p99 and p99.9 latency, ns
  server-cpu-per-request       server CPU time (user + system) per request, ns
  server-switches-per-request  server context switches per request
each as {\"value\": median, \"lower_value\": lowest, \"upper_value\": highest} (bounds with 2 runs or
more).

--format github-action-benchmark writes DIR/customBiggerIsBetter.json (throughput, capacity; unit
req/s) and DIR/customSmallerIsBetter.json (p50, p99, p99.9 latency in us; server CPU per request in
us; server switches per request), each an array of {\"name\": \"<benchmark> - <figure>\", \"unit\",
\"value\": median, \"range\": \"± half the range of the runs\", \"extra\": runs, lowest, highest, git
revision}. Give each to its own step of the action, with `tool` set to the file's name.

Examples:
  ringside-results export --format bmf sweep.csv > bmf.json
  bencher run --adapter json --file bmf.json
  ringside-results export --format github-action-benchmark --out-dir bench sweep.csv";

/// One exported figure: which metric, under which measure name and unit.
struct Figure {
    metric: Metric,
    /// The BMF measure slug.
    measure: &'static str,
    /// Multiplies the row's unit into BMF's (µs to ns for latencies and CPU).
    bmf_scale: f64,
    /// How a github-action-benchmark entry names it, after the benchmark.
    label: &'static str,
    /// github-action-benchmark's unit (the row's).
    unit: &'static str,
}

const FIGURES: [Figure; 7] = [
    Figure {
        metric: Metric::Throughput,
        measure: "throughput",
        bmf_scale: 1.0,
        label: "throughput",
        unit: "req/s",
    },
    Figure {
        metric: Metric::Capacity,
        measure: "capacity",
        bmf_scale: 1.0,
        label: "capacity",
        unit: "req/s",
    },
    Figure { metric: Metric::P50, measure: "latency", bmf_scale: 1e3, label: "p50 latency", unit: "us" },
    Figure { metric: Metric::P99, measure: "latency-p99", bmf_scale: 1e3, label: "p99 latency", unit: "us" },
    Figure {
        metric: Metric::P999,
        measure: "latency-p99-9",
        bmf_scale: 1e3,
        label: "p99.9 latency",
        unit: "us",
    },
    Figure {
        metric: Metric::ServerCpu,
        measure: "server-cpu-per-request",
        bmf_scale: 1e3,
        label: "server CPU per request",
        unit: "us",
    },
    Figure {
        metric: Metric::ServerSwitches,
        measure: "server-switches-per-request",
        bmf_scale: 1.0,
        label: "server context switches per request",
        unit: "switches/req",
    },
];

/// A figure of one benchmark over its repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub summary: Summary,
    pub lowest: f64,
    pub highest: f64,
}

/// One benchmark: its name, its workload, and the git revisions of its runs.
#[derive(Debug)]
pub struct Benchmark {
    pub name: String,
    pub workload: Workload,
    pub git_revs: Vec<String>,
    /// Per exported figure (the index into the figures), what it measured.
    figures: Vec<(usize, Measured)>,
}

/// The benchmarks of `rows` (complete runs and capacity rows, in
/// workload order) and how many rows were left out, as a note.
pub fn benchmarks(rows: &[Row]) -> (Vec<Benchmark>, Option<String>) {
    let mut groups: BTreeMap<Workload, Vec<&Row>> = BTreeMap::new();
    let (mut probes, mut incomplete) = (0, 0);
    for row in rows {
        if row.phase == Phase::Count {
            // Counting slowed its every figure but the system calls, which
            // are not exported.
            continue;
        } else if row.phase == Phase::Probe {
            probes += 1;
        } else if !row.complete {
            incomplete += 1;
        } else {
            groups.entry(Workload::of(row)).or_default().push(row);
        }
    }
    let names: Vec<String> = groups.keys().map(name).collect();
    let mut out = Vec::new();
    for ((workload, runs), base) in groups.into_iter().zip(&names) {
        let name = if names.iter().filter(|n| *n == base).count() > 1 {
            let o = &workload.backend_options;
            format!("{base} ({})", if o.is_empty() { "no options" } else { o })
        } else {
            base.clone()
        };
        let figures = FIGURES
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let values: Vec<f64> = runs.iter().filter_map(|r| f.metric.value(r)).collect();
                let summary = Summary::of(&values)?;
                let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
                let highest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Some((i, Measured { summary, lowest, highest }))
            })
            .collect();
        let mut git_revs: Vec<String> = Vec::new();
        for r in &runs {
            if !git_revs.contains(&r.git_rev) {
                git_revs.push(r.git_rev.clone());
            }
        }
        out.push(Benchmark { name, workload, git_revs, figures });
    }
    let note = match (probes, incomplete) {
        (0, 0) => None,
        _ => Some(format!(
            "left out {probes} probe row{} (a capacity search's runs) and {incomplete} incomplete run{}",
            if probes == 1 { "" } else { "s" },
            if incomplete == 1 { "" } else { "s" }
        )),
    };
    (out, note)
}

/// A workload's benchmark name: backend, protocol, connections and load,
/// then what differs from a plain run (pipeline, sizes, work).
pub fn name(w: &Workload) -> String {
    let backend = if w.backend.is_empty() { "unknown-backend" } else { &w.backend };
    let mut s = format!("{backend} {} c={} {}", w.protocol, w.connections, w.load);
    if w.pipeline != 1 {
        s.push_str(&format!(" pipeline={}", w.pipeline));
    }
    if w.protocol != "http" {
        s.push_str(&format!(" req={}B", w.request_bytes));
        if w.protocol == "rr" {
            s.push_str(&format!(" resp={}B", w.response_bytes));
        }
    }
    if !w.work.is_empty() && w.work != "none" {
        s.push_str(&format!(" work={}", w.work));
    }
    s
}

/// A BMF measure.
#[derive(Debug, PartialEq, Serialize)]
pub struct BmfMetric {
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_value: Option<f64>,
}

/// The BMF document: benchmark name → measure slug → metric.
pub fn bmf(benchmarks: &[Benchmark]) -> BTreeMap<String, BTreeMap<&'static str, BmfMetric>> {
    benchmarks
        .iter()
        .map(|b| {
            let measures = b
                .figures
                .iter()
                .map(|(i, m)| {
                    let f = &FIGURES[*i];
                    let bounds = m.summary.n >= 2;
                    let scale = |v: f64| bmf_value(v, f.bmf_scale);
                    (
                        f.measure,
                        BmfMetric {
                            value: scale(m.summary.median),
                            lower_value: bounds.then(|| scale(m.lowest)),
                            upper_value: bounds.then(|| scale(m.highest)),
                        },
                    )
                })
                .collect();
            (b.name.clone(), measures)
        })
        .collect()
}

/// `v` in BMF's unit: times `scale`, which for µs to ns would leave
/// `8310782.999999999` where the histogram held 8,310,783 ns, so it is
/// rounded to a thousandth of the new unit (the rows' own precision).
fn bmf_value(v: f64, scale: f64) -> f64 {
    if scale == 1.0 { v } else { (v * scale * 1000.0).round() / 1000.0 }
}

/// `v` for a text field: at most 3 decimals, without trailing zeros.
fn text(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A github-action-benchmark entry (its `BenchmarkResult`).
#[derive(Debug, PartialEq, Serialize)]
pub struct ActionEntry {
    pub name: String,
    pub unit: &'static str,
    pub value: f64,
    pub range: String,
    pub extra: String,
}

/// The two github-action-benchmark arrays: (bigger is better, smaller is
/// better).
pub fn action_entries(benchmarks: &[Benchmark]) -> (Vec<ActionEntry>, Vec<ActionEntry>) {
    let (mut bigger, mut smaller) = (Vec::new(), Vec::new());
    for b in benchmarks {
        for (i, m) in &b.figures {
            let f = &FIGURES[*i];
            let n = m.summary.n;
            let extra = format!(
                "median of {n} run{}\nlowest {}, highest {}\ngit {}",
                if n == 1 { "" } else { "s" },
                text(m.lowest),
                text(m.highest),
                b.git_revs.join(", ")
            );
            let entry = ActionEntry {
                name: format!("{} - {}", b.name, f.label),
                unit: f.unit,
                value: m.summary.median,
                range: format!("± {}", text((m.highest - m.lowest) / 2.0)),
                extra,
            };
            if f.metric.higher_is_better() { bigger.push(entry) } else { smaller.push(entry) }
        }
    }
    (bigger, smaller)
}

/// The file names `--format github-action-benchmark` writes: the action's
/// `tool` values.
pub const BIGGER_FILE: &str = "customBiggerIsBetter.json";
pub const SMALLER_FILE: &str = "customSmallerIsBetter.json";

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match (args.format, &args.out, &args.out_dir) {
        (Format::Bmf, _, Some(_)) => {
            anyhow::bail!("--out-dir is for --format github-action-benchmark; give --format bmf --out FILE")
        }
        (Format::GithubActionBenchmark, Some(_), _) | (Format::GithubActionBenchmark, _, None) => {
            anyhow::bail!(
                "--format github-action-benchmark writes two files ({BIGGER_FILE} and {SMALLER_FILE}): give \
                 --out-dir DIR instead of --out"
            )
        }
        _ => {}
    }
    let rows = crate::read_all(&args.files)?;
    let (benchmarks, note) = benchmarks(&rows);
    anyhow::ensure!(
        !benchmarks.is_empty(),
        "{}: no complete run to export{}",
        args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
    );
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    match args.format {
        Format::Bmf => {
            let text = pretty(&bmf(&benchmarks));
            match &args.out {
                Some(path) => write_file(path, &text)?,
                None => {
                    let mut stdout = io::stdout().lock();
                    stdout.write_all(text.as_bytes())?;
                    stdout.flush()?;
                }
            }
        }
        Format::GithubActionBenchmark => {
            let dir = args.out_dir.as_ref().expect("checked above");
            let (bigger, smaller) = action_entries(&benchmarks);
            let (bigger, smaller) = (pretty(&bigger), pretty(&smaller));
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            write_file(&dir.join(BIGGER_FILE), &bigger)?;
            write_file(&dir.join(SMALLER_FILE), &smaller)?;
            eprintln!(
                "ringside-results: wrote {} and {}",
                dir.join(BIGGER_FILE).display(),
                dir.join(SMALLER_FILE).display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` into `path`, through a temporary file beside it renamed into place.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp-{}", std::process::id()));
    let temp = PathBuf::from(temp);
    fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        anyhow::anyhow!("cannot rename {} to {}: {e}", temp.display(), path.display())
    })
}

/// `v` as pretty JSON with a final newline.
fn pretty<T: Serialize>(v: &T) -> String {
    // Numbers and strings: serialising cannot fail.
    serde_json::to_string_pretty(v).expect("numbers and strings serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::clean;

    fn run(backend: &str, connections: u32, rate: f64, p99: f64) -> Row {
        Row {
            achieved_rate: rate,
            requests: 100,
            lat_p50_us: p99 / 2.0,
            lat_p99_us: p99,
            lat_p999_us: p99 * 2.0,
            server_cpu_user_us: 1.0,
            server_cpu_sys_us: 2.0,
            server_vcs: 0.5,
            server_ics: 0.25,
            ..clean(backend, connections)
        }
    }

    #[test]
    fn names_say_backend_protocol_connections_and_load() {
        let w = Workload::of(&run("epoll", 50, 1.0, 1.0));
        assert_eq!(name(&w), "epoll http c=50 closed");
        let rr = Workload {
            protocol: "rr".into(),
            pipeline: 4,
            request_bytes: 64,
            response_bytes: 1024,
            work: "spin:500ns".into(),
            load: "open poisson 1000/s".into(),
            ..w.clone()
        };
        assert_eq!(
            name(&rr),
            "epoll rr c=50 open poisson 1000/s pipeline=4 req=64B resp=1024B work=spin:500ns"
        );
        assert_eq!(name(&Workload { backend: String::new(), ..w }), "unknown-backend http c=50 closed");
    }

    #[test]
    fn medians_and_the_runs_range_in_the_units_each_format_expects() {
        let rows = vec![
            run("epoll", 50, 100.0, 10.0),
            run("epoll", 50, 300.0, 30.0),
            run("epoll", 50, 200.0, 20.0),
            run("io-uring", 50, 400.0, 40.0),
            Row { complete: false, ..run("epoll", 50, 1.0, 1.0) },
            Row { phase: Phase::Probe, ..run("epoll", 50, 1.0, 1.0) },
        ];
        let (benchmarks, note) = benchmarks(&rows);
        assert_eq!(
            note.as_deref(),
            Some("left out 1 probe row (a capacity search's runs) and 1 incomplete run")
        );
        let doc = bmf(&benchmarks);
        let epoll = &doc["epoll http c=50 closed"];
        assert_eq!(
            epoll["throughput"],
            BmfMetric { value: 200.0, lower_value: Some(100.0), upper_value: Some(300.0) }
        );
        // µs in the rows, ns in BMF.
        assert_eq!(
            epoll["latency-p99"],
            BmfMetric { value: 20_000.0, lower_value: Some(10_000.0), upper_value: Some(30_000.0) }
        );
        assert_eq!(epoll["latency"].value, 10_000.0);
        assert_eq!(epoll["server-cpu-per-request"].value, 3_000.0);
        assert_eq!(epoll["server-switches-per-request"].value, 0.75);
        assert!(!epoll.contains_key("capacity"), "no capacity rows: {epoll:?}");
        // One run: a value without bounds.
        let uring = &doc["io-uring http c=50 closed"];
        assert_eq!(uring["throughput"], BmfMetric { value: 400.0, lower_value: None, upper_value: None });

        let (bigger, smaller) = action_entries(&benchmarks);
        assert_eq!(bigger.len(), 2, "throughput of each: {bigger:?}");
        assert_eq!(bigger[0].name, "epoll http c=50 closed - throughput");
        assert_eq!((bigger[0].unit, bigger[0].value, bigger[0].range.as_str()), ("req/s", 200.0, "± 100"));
        assert!(
            bigger[0].extra.starts_with("median of 3 runs\nlowest 100, highest 300\ngit "),
            "{}",
            bigger[0].extra
        );
        let p99 = smaller.iter().find(|e| e.name == "epoll http c=50 closed - p99 latency").unwrap();
        assert_eq!((p99.unit, p99.value), ("us", 20.0));
        assert_eq!(smaller.len(), 2 * 5, "p50, p99, p99.9, CPU and switches of each");
    }

    /// A sweep's counting runs: in no figure, not in the runs counted, no
    /// note; a workload of counting runs alone is no benchmark.
    #[test]
    fn counting_runs_are_left_out() {
        let count = |backend: &str| Row {
            phase: Phase::Count,
            server_syscalls: Some(2.0),
            server_syscalls_by_name: "read=1 write=1".into(),
            ..run(backend, 50, 1.0, 1e6)
        };
        let rows = vec![
            count("epoll"),
            run("epoll", 50, 100.0, 10.0),
            run("epoll", 50, 300.0, 30.0),
            count("tokio"),
        ];
        let (benchmarks, note) = benchmarks(&rows);
        assert_eq!(note, None);
        let names: Vec<&str> = benchmarks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["epoll http c=50 closed"]);
        let doc = bmf(&benchmarks);
        let epoll = &doc["epoll http c=50 closed"];
        assert_eq!(
            epoll["throughput"],
            BmfMetric { value: 200.0, lower_value: Some(100.0), upper_value: Some(300.0) }
        );
        assert_eq!(epoll["latency-p99"].upper_value, Some(30_000.0));
        let (bigger, _) = action_entries(&benchmarks);
        assert!(bigger[0].extra.starts_with("median of 2 runs\n"), "{}", bigger[0].extra);
    }

    #[test]
    fn nanoseconds_and_texts_keep_the_rows_precision() {
        assert_eq!(bmf_value(8310.783, 1e3), 8_310_783.0);
        assert_eq!(bmf_value(0.1 + 0.2, 1.0), 0.1 + 0.2, "unscaled values are as measured");
        assert_eq!(
            (text(7.103999999999999), text(100.0), text(0.0), text(-0.0001)),
            ("7.104".into(), "100".into(), "0".into(), "0".into())
        );
    }

    #[test]
    fn unmeasured_figures_are_left_out_not_zero() {
        let row = Row { server_cpu_user_us: 0.0, server_cpu_sys_us: 0.0, ..run("epoll", 50, 100.0, 10.0) };
        let (benchmarks, _) = benchmarks(&[row]);
        let doc = bmf(&benchmarks);
        let measures: Vec<&str> = doc["epoll http c=50 closed"].keys().copied().collect();
        assert_eq!(measures, ["latency", "latency-p99", "latency-p99-9", "throughput"]);
    }

    #[test]
    fn workloads_that_differ_only_in_options_get_them_in_the_name() {
        let a = Row { backend_options: "threads=1".into(), ..run("epoll", 50, 100.0, 10.0) };
        let b = Row { backend_options: "threads=2".into(), ..run("epoll", 50, 100.0, 10.0) };
        let (benchmarks, _) = benchmarks(&[a, b]);
        let names: Vec<&str> = benchmarks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["epoll http c=50 closed (threads=1)", "epoll http c=50 closed (threads=2)"]);
    }
}
