//! ringside's HdrHistogram files read by an independent implementation:
//! a real `ringside-loadgen run --hlog --hgrm --csv` against a real
//! `ringside-server` (epoll), then `tests/hdr_interop.py`, which reads the
//! interval log with the PyPI `hdrhistogram` package (HdrHistogram_py,
//! sharing no code with the Rust crate that wrote it), and this test
//! compares what it found with ringside's own figures:
//!
//! - every interval: the same series (tag), count and recorded buckets
//!   (exactly), and p50, p99 and max equivalent within the histogram's
//!   resolution (the same bucket) to `LatencyColumns`, the function that
//!   makes the CSV's columns, applied to the interval as `results::hdr`
//!   reads it;
//! - the total (the corrected intervals added up): the CSV row's requests,
//!   p50, p99 and max;
//! - the `.hgrm`: every row's value and total count a bucket of that total
//!   and its cumulative count, its percentile the first that bucket
//!   reaches; its footer's mean, max and count; and the CSV's percentile
//!   columns between the rows around each percentile.
//!
//! The two libraries choose a percentile's rank differently: the Rust
//! crate the `ceil(q·N)`-th value, HdrHistogram_py the
//! `floor(q·N + 0.5)`-th. Where those ranks differ (a fraction below one
//! half), the two values may be a bucket apart, so the check there is
//! that HdrHistogram_py's value is the one ringside's histogram holds at
//! HdrHistogram_py's rank; the test prints how often that happened.
//!
//! Needs python3 with the `hdrhistogram` package (`.ci/run` installs it)
//! and the server and load generator binaries; skips without them, saying
//! so, except under `CI=true`, where a missing package fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use hdrhistogram::Histogram;
use results::hdr::{LatencyColumns, Series, read_log};
use serde_json::Value;

use crate::support::{bin_dir, scratch, skip};

const TEST: &str = "hlog_and_hgrm_read_by_hdrhistogram_py";

/// Whether python3 can import HdrHistogram_py; if not, the test skips (or
/// fails under `CI=true`).
fn have_hdrh() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import hdrh.log, hdrh.histogram"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but python3 cannot import hdrh (.ci/run installs it: pip install hdrhistogram)"
        );
        skip(TEST, "python3 cannot import hdrh (pip install hdrhistogram)");
    }
    ok
}

/// The value at 1-based rank `rank` of `h`, as both libraries report a
/// percentile's value: the highest equivalent of the bucket that holds it.
fn value_at_rank(h: &Histogram<u64>, rank: u64) -> u64 {
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            return v.value_iterated_to();
        }
    }
    h.max()
}

/// How a percentile agreed: on the same rank, or at HdrHistogram_py's rank
/// where the two rules chose different ones.
#[derive(Debug, PartialEq)]
enum Agreement {
    SameBucket,
    AdjacentRank,
}

/// HdrHistogram_py's value at `percentile` against ringside's own (`ours`,
/// ns), for histogram `h` as ringside read it.
fn agree(h: &Histogram<u64>, percentile: f64, ours: u64, theirs: u64, what: &str) -> Agreement {
    if h.equivalent(ours, theirs) {
        return Agreement::SameBucket;
    }
    let n = h.len();
    // The ranks each library's rule picks, computed as each computes them.
    let rust_rank = ((percentile / 100.0) * n as f64).ceil().max(1.0) as u64;
    let py_rank = ((percentile * n as f64 / 100.0) + 0.5).floor().max(1.0) as u64;
    assert_ne!(
        rust_rank, py_rank,
        "{what}: ringside {ours} ns, HdrHistogram_py {theirs} ns at the same rank"
    );
    let at_py_rank = value_at_rank(h, py_rank);
    assert!(
        h.equivalent(at_py_rank, theirs),
        "{what}: HdrHistogram_py {theirs} ns at rank {py_rank}, ringside's histogram holds {at_py_rank} ns there"
    );
    Agreement::AdjacentRank
}

fn ns(us: f64) -> u64 {
    (us * 1000.0).round() as u64
}

fn series_tag(s: Series) -> Option<&'static str> {
    s.tag()
}

#[test]
fn hlog_and_hgrm_read_by_hdrhistogram_py() {
    let dir = bin_dir();
    let (server, loadgen) = (dir.join("ringside-server"), dir.join("ringside-loadgen"));
    if !server.is_file() || !loadgen.is_file() {
        return skip(
            TEST,
            &format!(
                "no ringside-server and ringside-loadgen in {}; build them with `cargo build -p servers -p \
                 loadgen` (cargo test --workspace does)",
                dir.display()
            ),
        );
    }
    if !have_hdrh() {
        return;
    }
    let dir = scratch("hdr-interop");
    let (hlog, hgrm, csv) = (dir.join("run.hlog"), dir.join("run.hgrm"), dir.join("run.csv"));

    let mut command = Command::new(&server);
    command.args(["--backend", "epoll", "--protocol", "http", "--listen", "127.0.0.1:0"]);
    let mut child = platform::server::ServerProcess::spawn(command).expect("start ringside-server");
    let addr = child
        .wait_ready(std::time::Duration::from_secs(20))
        .expect("the server announces itself")
        .listen
        .to_string();
    // Open loop, so that the log has all three series.
    let out = Command::new(&loadgen)
        .args([
            "run",
            "--target",
            &addr,
            "-c",
            "8",
            "--rate",
            "4000",
            "--duration",
            "3s",
            "--warmup",
            "200ms",
        ])
        .args(["--no-calibrate", "--quiet"])
        .arg("--hlog")
        .arg(&hlog)
        .arg("--hgrm")
        .arg(&hgrm)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    drop(child);
    assert!(out.status.success(), "ringside-loadgen failed: {}", String::from_utf8_lossy(&out.stderr));

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hdr_interop.py");
    let out = Command::new("python3").arg(&script).arg(&hlog).output().unwrap();
    assert!(out.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&out.stderr));
    let theirs: Value = serde_json::from_slice(&out.stdout).expect("the script's JSON");

    let log = read_log(&hlog, UNIX_EPOCH).unwrap();
    let row = &results::read(&csv).unwrap()[0];
    check_intervals(&log.intervals, theirs["intervals"].as_array().unwrap());
    let total = log.corrected.as_ref().expect("corrected intervals");
    check_total(total, row, &theirs["total"]);
    check_hgrm(&std::fs::read_to_string(&hgrm).unwrap(), row, &theirs["total"]);
    let _ = std::fs::remove_dir_all(PathBuf::from(&dir));
}

/// Every interval, ringside's reading against HdrHistogram_py's.
fn check_intervals(ours: &[(std::time::SystemTime, Series, Histogram<u64>)], theirs: &[Value]) {
    assert_eq!(ours.len(), theirs.len(), "both read every interval line");
    assert!(ours.len() >= 9, "3 seconds of 3 series at least: {}", ours.len());
    let mut adjacent = 0;
    eprintln!(
        "{:>5} {:>9} {:>6}  {:>26}  {:>26}  {:>26}",
        "start", "series", "count", "p50 us ringside/py", "p99 us ringside/py", "max us ringside/py"
    );
    for ((_, series, h), t) in ours.iter().zip(theirs) {
        let what = format!("interval at {}s, {}", t["start"], series.name());
        assert_eq!(t["tag"].as_str(), series_tag(*series), "{what}");
        assert_eq!(t["count"].as_u64(), Some(h.len()), "{what}");
        assert_eq!(t["significant_figures"].as_u64(), Some(3), "{what}");
        let recorded: Vec<(u64, u64)> =
            h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        let their_recorded: Vec<(u64, u64)> = t["recorded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()))
            .collect();
        assert_eq!(recorded, their_recorded, "{what}: the same buckets and counts");

        let c = LatencyColumns::of(h);
        let p = |k: &str| t["percentiles"][k].as_u64().unwrap();
        let max = t["max"].as_u64().unwrap();
        assert_eq!(ns(c.max_us), max, "{what}: max");
        for (percentile, key, ours) in [(50.0, "50.0", c.p50_us), (99.0, "99.0", c.p99_us)] {
            if agree(h, percentile, ns(ours), p(key), &format!("{what}, p{percentile}"))
                == Agreement::AdjacentRank
            {
                adjacent += 1;
            }
        }
        eprintln!(
            "{:>5} {:>9} {:>6}  {:>12.3} {:>12.3}  {:>12.3} {:>12.3}  {:>12.3} {:>12.3}",
            t["start"].as_f64().unwrap(),
            series.name(),
            h.len(),
            c.p50_us,
            p("50.0") as f64 / 1000.0,
            c.p99_us,
            p("99.0") as f64 / 1000.0,
            c.max_us,
            max as f64 / 1000.0
        );
    }
    eprintln!(
        "{} intervals: counts and buckets identical; max identical; of {} p50/p99 values, {} in the same bucket, \
         {adjacent} at adjacent ranks (the two rank rules differ there)",
        ours.len(),
        2 * ours.len(),
        2 * ours.len() - adjacent
    );
}

/// The corrected intervals added up, against the CSV row of the run.
fn check_total(total: &Histogram<u64>, row: &results::Row, theirs: &Value) {
    assert_eq!(theirs["count"].as_u64(), Some(row.requests), "the log holds every request of the row");
    assert_eq!(total.len(), row.requests);
    let p = |k: &str| theirs["percentiles"][k].as_u64().unwrap();
    assert_eq!(theirs["max"].as_u64(), Some(ns(row.lat_max_us)), "total max");
    for (percentile, key, column) in [
        (50.0, "50.0", row.lat_p50_us),
        (90.0, "90.0", row.lat_p90_us),
        (99.0, "99.0", row.lat_p99_us),
        (99.9, "99.9", row.lat_p999_us),
        (99.99, "99.99", row.lat_p9999_us),
    ] {
        agree(total, percentile, ns(column), p(key), &format!("total p{percentile}"));
    }
    eprintln!(
        "total: {} requests; CSV p50 {} us, p99 {} us, max {} us; HdrHistogram_py p50 {} us, p99 {} us, max {} us",
        row.requests,
        row.lat_p50_us,
        row.lat_p99_us,
        row.lat_max_us,
        p("50.0") as f64 / 1000.0,
        p("99.0") as f64 / 1000.0,
        theirs["max"].as_u64().unwrap() as f64 / 1000.0
    );
}

/// ringside's `.hgrm` (ms) against the total as HdrHistogram_py decoded
/// it, and against the CSV's percentile columns.
fn check_hgrm(text: &str, row: &results::Row, theirs: &Value) {
    let buckets: Vec<(u64, u64)> = {
        let mut cumulative = 0;
        theirs["recorded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                cumulative += b[1].as_u64().unwrap();
                (b[0].as_u64().unwrap(), cumulative)
            })
            .collect()
    };
    let n = theirs["count"].as_u64().unwrap();
    // Value (ms, 3 decimals), percentile (as a quantile), total count.
    let rows: Vec<(f64, f64, u64)> = text
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0].parse().unwrap(), cells[1].parse().unwrap(), cells[2].parse().unwrap())
        })
        .collect();
    assert!(rows.len() > 20, "{text}");
    for &(value_ms, q, count) in &rows {
        // The row is a bucket with this cumulative count, printed in ms to
        // 3 decimals (the format's precision: half a microsecond).
        let i = buckets
            .iter()
            .position(|&(_, c)| c == count)
            .unwrap_or_else(|| panic!("row {value_ms} {q} {count}: no bucket ends at that count"));
        let (bucket_value, _) = buckets[i];
        assert!((bucket_value as f64 / 1e6 - value_ms).abs() <= 0.0005 + 1e-9, "row {value_ms} {q} {count}");
        // The first bucket that reaches the row's percentile.
        assert!(count as f64 >= q * n as f64 - 1e-6, "row {value_ms} {q} {count}");
        if i > 0 {
            assert!(
                (buckets[i - 1].1 as f64) < q * n as f64,
                "row {value_ms} {q} {count}: an earlier bucket"
            );
        }
    }
    let last = rows.last().unwrap();
    assert_eq!((last.1, last.2), (1.0, n), "the last row is the whole");
    // The footer.
    let footer = |key: &str| -> f64 {
        let line = text.lines().find(|l| l.contains(key)).unwrap();
        let after = line.split(key).nth(1).unwrap();
        after.trim_start_matches([' ', '=']).split([',', ']']).next().unwrap().trim().parse().unwrap()
    };
    assert_eq!(footer("Total count"), n as f64);
    assert!((footer("Max") - theirs["max"].as_u64().unwrap() as f64 / 1e6).abs() <= 0.0005 + 1e-9);
    assert!((footer("Mean") - theirs["mean"].as_f64().unwrap() / 1e6).abs() <= 0.0005 + 1e-9, "{text}");
    // The CSV's columns (µs) lie between the rows around each percentile.
    for (q, column) in
        [(0.5, row.lat_p50_us), (0.9, row.lat_p90_us), (0.99, row.lat_p99_us), (0.999, row.lat_p999_us)]
    {
        let after = rows.iter().position(|r| r.1 >= q).unwrap();
        let below = if after == 0 { 0.0 } else { rows[after - 1].0 };
        let ms = column / 1000.0;
        assert!(
            below - 0.0005 <= ms && ms <= rows[after].0 + 0.0005,
            "p{} {ms} ms: rows {rows:?}",
            q * 100.0
        );
    }
    eprintln!(
        ".hgrm: {} rows, each a bucket of HdrHistogram_py's total with its cumulative count; footer agrees; \
         the CSV's p50-p99.9 between the rows around them",
        rows.len()
    );
}
