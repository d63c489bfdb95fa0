//! `ringside-results export` as a user runs it: a known results file in,
//! Bencher's BMF and github-action-benchmark's two files out, compared
//! with golden documents and parsed back.

use std::path::Path;
use std::process::Output;

use results::Row;

use crate::support::{self, ringside_results, scratch};

/// Three epoll runs at 50 connections (throughput 1000, 1100, 1200 req/s;
/// p50 100, 110, 120 µs, p99 and p99.9 twice and four times that; server
/// CPU 5 µs and 0.11 switches per request), one io-uring run at 50, and an
/// incomplete epoll run that must be left out.
fn known_file(path: &Path) {
    for (backend, rate, p50) in [
        ("epoll", 1000.0, 100.0),
        ("epoll", 1100.0, 110.0),
        ("epoll", 1200.0, 120.0),
        ("io-uring", 1500.0, 90.0),
    ] {
        let row = Row {
            achieved_rate: rate,
            lat_p50_us: p50,
            lat_p99_us: 2.0 * p50,
            lat_p999_us: 4.0 * p50,
            ..support::row(backend, 50)
        };
        results::append(path, &row).unwrap();
    }
    results::append(path, &Row { complete: false, achieved_rate: 1.0, ..support::row("epoll", 50) }).unwrap();
}

fn export(args: &[&str]) -> Output {
    ringside_results("export").args(args).output().unwrap()
}

const GOLDEN_BMF: &str = r#"{
  "epoll http c=50 closed": {
    "latency": {
      "value": 110000.0,
      "lower_value": 100000.0,
      "upper_value": 120000.0
    },
    "latency-p99": {
      "value": 220000.0,
      "lower_value": 200000.0,
      "upper_value": 240000.0
    },
    "latency-p99-9": {
      "value": 440000.0,
      "lower_value": 400000.0,
      "upper_value": 480000.0
    },
    "server-cpu-per-request": {
      "value": 5000.0,
      "lower_value": 5000.0,
      "upper_value": 5000.0
    },
    "server-switches-per-request": {
      "value": 0.11,
      "lower_value": 0.11,
      "upper_value": 0.11
    },
    "throughput": {
      "value": 1100.0,
      "lower_value": 1000.0,
      "upper_value": 1200.0
    }
  },
  "io-uring http c=50 closed": {
    "latency": {
      "value": 90000.0
    },
    "latency-p99": {
      "value": 180000.0
    },
    "latency-p99-9": {
      "value": 360000.0
    },
    "server-cpu-per-request": {
      "value": 5000.0
    },
    "server-switches-per-request": {
      "value": 0.11
    },
    "throughput": {
      "value": 1500.0
    }
  }
}
"#;

#[test]
fn bmf_of_a_known_file() {
    let dir = scratch("export-bmf");
    let csv = dir.join("runs.csv");
    known_file(&csv);
    let out = export(&["--format", "bmf", csv.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: left out 0 probe rows (a capacity search's runs) and 1 incomplete run"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, GOLDEN_BMF);

    // Parsed back: the shape Bencher's schema asks for (benchmark → measure →
    // {value, lower_value?, upper_value?}, numbers), latencies in ns.
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (benchmark, measures) in doc.as_object().unwrap() {
        for (measure, metric) in measures.as_object().unwrap() {
            let metric = metric.as_object().unwrap();
            assert!(metric["value"].is_f64(), "{benchmark} {measure}");
            assert!(metric.keys().all(|k| ["value", "lower_value", "upper_value"].contains(&k.as_str())));
        }
    }
    assert_eq!(doc["epoll http c=50 closed"]["latency-p99"]["value"], 220_000.0, "220 µs in ns");

    // --out: the same document in a file, nothing on stdout.
    let file = dir.join("bmf.json");
    let out = export(&["--format", "bmf", "--out", file.to_str().unwrap(), csv.to_str().unwrap()]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), GOLDEN_BMF);
    std::fs::remove_dir_all(&dir).unwrap();
}

const GOLDEN_BIGGER: &str = r#"[
  {
    "name": "epoll http c=50 closed - throughput",
    "unit": "req/s",
    "value": 1100.0,
    "range": "± 100",
    "extra": "median of 3 runs\nlowest 1000, highest 1200\ngit 8fde1c8"
  },
  {
    "name": "io-uring http c=50 closed - throughput",
    "unit": "req/s",
    "value": 1500.0,
    "range": "± 0",
    "extra": "median of 1 run\nlowest 1500, highest 1500\ngit 8fde1c8"
  }
]
"#;

#[test]
fn github_action_benchmark_of_a_known_file() {
    let dir = scratch("export-gab");
    let csv = dir.join("runs.csv");
    known_file(&csv);
    let out_dir = dir.join("bench");
    let out = export(&[
        "--format",
        "github-action-benchmark",
        "--out-dir",
        out_dir.to_str().unwrap(),
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let bigger = std::fs::read_to_string(out_dir.join("customBiggerIsBetter.json")).unwrap();
    assert_eq!(bigger, GOLDEN_BIGGER);
    let smaller: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("customSmallerIsBetter.json")).unwrap())
            .unwrap();
    let smaller = smaller.as_array().unwrap();
    // p50, p99, p99.9, server CPU and switches, for each of the two.
    assert_eq!(smaller.len(), 10, "{smaller:?}");
    for entry in smaller {
        let entry = entry.as_object().unwrap();
        let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
        assert_eq!(keys, ["extra", "name", "range", "unit", "value"], "(serde_json sorts keys)");
        assert!(entry["value"].is_f64() && entry["unit"].is_string());
    }
    let p99 = smaller.iter().find(|e| e["name"] == "epoll http c=50 closed - p99 latency").unwrap();
    assert_eq!((p99["unit"].as_str(), p99["value"].as_f64()), (Some("us"), Some(220.0)));
    assert_eq!(p99["range"], "± 20");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_destinations_and_empty_input_write_nothing() {
    let dir = scratch("export-bad");
    let csv = dir.join("runs.csv");
    known_file(&csv);
    let out = export(&["--format", "github-action-benchmark", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --out-dir DIR"), "{:?}", out);
    let out = export(&["--format", "bmf", "--out-dir", dir.to_str().unwrap(), csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));

    let incomplete = dir.join("incomplete.csv");
    results::append(&incomplete, &Row { complete: false, ..support::row("epoll", 50) }).unwrap();
    let bmf = dir.join("bmf.json");
    let out = export(&["--format", "bmf", "--out", bmf.to_str().unwrap(), incomplete.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no complete run to export"), "{:?}", out);
    assert!(!bmf.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
