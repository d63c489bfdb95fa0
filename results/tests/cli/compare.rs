//! `ringside-results compare` as a user runs it: the binary, on results
//! files written with `results::append`.

use std::path::{Path, PathBuf};
use std::process::Output;

use results::Row;

use crate::support::{self, ringside_results, scratch};

/// A complete closed-loop http run of `backend` with `connections`, whose
/// every compared figure is `value`.
fn run(backend: &str, connections: u32, value: f64) -> Row {
    Row {
        achieved_rate: value,
        lat_p50_us: value,
        lat_p90_us: value,
        lat_p99_us: value,
        lat_p999_us: value,
        lat_p9999_us: value,
        lat_max_us: value,
        lat_mean_us: value,
        server_cpu_user_us: value / 2.0,
        server_cpu_sys_us: value / 2.0,
        server_vcs: value,
        server_ics: 0.0,
        ..support::row(backend, connections)
    }
}

/// A fresh directory for one test.
fn dir(test: &str) -> PathBuf {
    scratch(&format!("compare-{test}"))
}

/// Writes `runs` (backend, connections, values) to `path`.
fn write(path: &Path, runs: &[(&str, u32, &[f64])]) {
    for &(backend, connections, values) in runs {
        for &v in values {
            results::append(path, &run(backend, connections, v)).unwrap();
        }
    }
}

fn compare(args: &[&str]) -> Output {
    ringside_results("compare").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Two files: c=50 faster in b (4 runs a side, separated), c=500 the same
/// within noise, c=5000 only in b; a has an incomplete run.
fn two_files(dir: &Path) -> (String, String) {
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    write(&a, &[("epoll", 50, &[100.0, 101.0, 102.0, 103.0]), ("epoll", 500, &[200.0, 202.0, 204.0, 206.0])]);
    results::append(&a, &Row { complete: false, ..run("epoll", 50, 1.0) }).unwrap();
    write(
        &b,
        &[
            ("epoll", 50, &[120.0, 121.0, 122.0, 123.0]),
            ("epoll", 500, &[201.0, 203.0, 205.0, 207.0]),
            ("epoll", 5000, &[9.0, 9.0, 9.0]),
        ],
    );
    (a.display().to_string(), b.display().to_string())
}

#[test]
fn two_files_side_by_side() {
    let dir = dir("two");
    let (a, b) = two_files(&dir);
    let out = stdout(&compare(&["--metric", "throughput", &a, &b]));
    assert!(out.contains("note: left out 1 incomplete run"), "{out}");
    assert!(out.contains("note: `epoll http c=5000` is only in b.csv"), "{out}");
    assert!(out.contains("throughput (req/s); higher is better"), "{out}");
    assert!(!out.contains("p99 latency"), "--metric restricts the tables: {out}");
    let row = |w: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.starts_with(w)).unwrap_or_else(|| panic!("no {w}: {out}"));
        line.split_whitespace().map(String::from).collect()
    };
    // 4 runs against 4, separated: p = 2/70.
    assert_eq!(row("epoll http c=50 ")[8..], ["121.5", "±∞", "4", "+19.7%", "0.029"]);
    // Interleaved: within the noise.
    assert_eq!(row("epoll http c=500 ")[11], "~");
    // The workload only b has, with 3 runs: listed; nothing to compare it
    // with, so not marked as too small to compare.
    assert_eq!(row("epoll http c=5000")[4..], ["—", "│", "9.000", "±∞", "3", "?"]);
    assert_eq!(row("geomean")[..3], ["geomean", "│", "143.5"]);
    assert!(!out.contains('¹'), "{out}");

    // All seven metrics by default (the system calls too: the rows have them).
    let out = stdout(&compare(&[&a, &b]));
    assert_eq!(out.matches("is better").count(), 7, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn across_backends_within_a_file() {
    let dir = dir("across");
    let a = dir.join("sweep.csv");
    write(
        &a,
        &[
            ("epoll", 50, &[100.0, 101.0, 102.0, 103.0]),
            ("io-uring", 50, &[150.0, 151.0, 152.0, 153.0]),
            ("epoll", 500, &[100.0; 4]),
            ("io-uring", 500, &[150.0; 4]),
            ("thread-pool", 5000, &[1.0; 4]),
        ],
    );
    let a = a.display().to_string();
    let out = stdout(&compare(&["--across", "backend", "--baseline", "epoll", "--metric", "p99", &a]));
    assert!(out.starts_with("sweep.csv: backends against epoll\n"), "{out}");
    assert!(out.contains("note: no epoll runs for `http c=5000`"), "{out}");
    let head = out.lines().find(|l| l.contains("io-uring")).unwrap();
    assert!(head.contains("epoll") && head.contains("thread-pool"), "{out}");
    let c50: Vec<&str> =
        out.lines().find(|l| l.starts_with("http c=50 ")).unwrap().split_whitespace().collect();
    assert_eq!(c50[7..12], ["151.5", "±∞", "4", "+49.3%", "0.029"], "{out}");

    // A baseline no file has: exit 1 (an error), naming what there is.
    let out = compare(&["--across", "backend", "--baseline", "tokio", &a]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--baseline tokio") && err.contains("backends found: epoll, io-uring, thread-pool"),
        "{err}"
    );

    // --across needs --baseline.
    assert_eq!(compare(&["--across", "backend", &a]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_format_parses() {
    let dir = dir("formats");
    let (a, b) = two_files(&dir);

    let md = stdout(&compare(&["--format", "markdown", &a, &b]));
    assert_eq!(md.matches("\n### ").count(), 7, "{md}");
    for table in md.split("\n\n").filter(|block| block.starts_with('|')) {
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let lines: Vec<&str> = table.lines().take_while(|l| l.starts_with('|')).collect();
        assert!(lines.len() >= 3, "heading, rule and rows: {table}");
        assert!(lines.iter().all(|l| cells(l) == cells(lines[0]) && l.ends_with('|')), "{table}");
    }

    let out = compare(&["--format", "csv", &a, &b]);
    let text = stdout(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("note: `epoll http c=5000` is only in b.csv"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "metric",
            "within",
            "workload",
            "side",
            "median",
            "ci_low",
            "ci_high",
            "n",
            "delta_pct",
            "p_value",
            "significant"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // 7 metrics × (3 workloads × 2 sides + 2 geomean rows).
    assert_eq!(rows.len(), 7 * (3 * 2 + 2));
    let c50_b = rows
        .iter()
        .find(|r| &r[0] == "throughput" && &r[2] == "epoll http c=50" && &r[3] == "b.csv")
        .unwrap();
    assert_eq!(c50_b[4].parse::<f64>().unwrap(), 121.5);
    assert_eq!(&c50_b[7], "4");
    assert!((c50_b[8].parse::<f64>().unwrap() - (121.5 / 101.5 - 1.0) * 100.0).abs() < 1e-9);
    assert!((c50_b[9].parse::<f64>().unwrap() - 2.0 / 70.0).abs() < 1e-12);
    assert_eq!(&c50_b[10], "true");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--format json`: the figures the CSV format gives, row for row, with
/// the notes and each workload's fields.
#[test]
fn json_has_the_csv_figures_and_the_notes() {
    let dir = dir("json");
    let (a, b) = two_files(&dir);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout(&compare(&["--format", "json", &a, &b]))).expect("one JSON document");
    let notes: Vec<&str> = doc["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.starts_with("left out 1 incomplete run")), "{notes:?}");
    assert!(notes.contains(&"`epoll http c=5000` is only in b.csv"), "{notes:?}");
    assert_eq!((doc["paired"].as_bool(), doc["alpha"].as_f64()), (Some(false), Some(0.05)));
    let section = &doc["sections"][0];
    assert_eq!(section["sides"], serde_json::json!(["a.csv", "b.csv"]));
    let metrics = section["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics.iter().map(|m| m["metric"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["throughput", "p50", "p99", "p99.9", "server_cpu", "server_switches", "server_syscalls"],
        "{section}"
    );
    let throughput = &metrics[0];
    assert_eq!(
        (throughput["metric"].as_str(), throughput["higher_is_better"].as_bool()),
        (Some("throughput"), Some(true))
    );
    let c50 = throughput["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workload"] == "epoll http c=50")
        .unwrap();
    assert_eq!(c50["fields"]["connections"], 50);
    assert_eq!(c50["fields"]["backend"], "epoll");
    let (base, this) = (&c50["sides"][0], &c50["sides"][1]);
    assert_eq!(
        (base["side"].as_str(), base["median"].as_f64(), base["n"].as_u64()),
        (Some("a.csv"), Some(101.5), Some(4))
    );
    assert!(base["delta_pct"].is_null() && base["p"].is_null() && base["significant"].is_null());
    assert_eq!((this["median"].as_f64(), this["significant"].as_bool()), (Some(121.5), Some(true)));
    assert!((this["delta_pct"].as_f64().unwrap() - (121.5 / 101.5 - 1.0) * 100.0).abs() < 1e-9);
    assert!((this["p"].as_f64().unwrap() - 2.0 / 70.0).abs() < 1e-12);
    assert_eq!(this["can_be_significant"], true);
    // c=5000 has no baseline: no figures on that side, nothing to test.
    let c5000 = throughput["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workload"] == "epoll http c=5000")
        .unwrap();
    assert!(c5000["sides"][0]["median"].is_null() && c5000["sides"][1]["p"].is_null(), "{c5000}");
    let geomean = &throughput["geomean"][0];
    assert_eq!(geomean["side"], "b.csv");
    let expected = ((121.5f64 / 101.5) * (204.0 / 203.0)).sqrt();
    assert!(
        (geomean["value"].as_f64().unwrap() / geomean["baseline"].as_f64().unwrap() - expected).abs() < 1e-12
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_file_is_exit_1_naming_file_and_line() {
    let dir = dir("bad");
    let (a, b) = two_files(&dir);
    // Pairs are by order: an incomplete run left out would shift them.
    let out = compare(&["--paired", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no half report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.csv has 1 incomplete run(s)") && err.contains("without --paired"), "{err}");

    let text = std::fs::read_to_string(&b).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replacen(",http,", ",gopher,", 1);
    std::fs::write(&b, lines.join("\n") + "\n").unwrap();
    let out = compare(&[&a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no half report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{b} line 3, column `protocol`")), "{err}");

    let out = compare(&[&a, &dir.join("missing.csv").display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.csv"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "the cause once: {err}");

    let header_only = dir.join("header.csv");
    std::fs::write(&header_only, results::COLUMNS.join(",") + "\n").unwrap();
    let out = compare(&[&a, &header_only.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no half report");
    assert!(String::from_utf8_lossy(&out.stderr).contains("header.csv has no rows"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_explains_the_statistics() {
    let out = stdout(&compare(&["--help"]));
    for phrase in ["±", "~", "Mann-Whitney", "at least 4 runs", "Medians rather than means", "delta_pct"] {
        assert!(out.contains(phrase), "{phrase}: {out}");
    }
}
