//! `ringside-results gate` as CI runs it: the binary, on CSV files written
//! with `results::append`, judged by its exit status (0 pass, 4 a
//! regression, 1 bad rules or input).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use results::Row;

use crate::support::{self, ringside_results, scratch};

/// A complete closed-loop http run of `backend` at `throughput` req/s
/// (p99 falls as throughput rises).
fn row(backend: &str, repetition: u32, throughput: f64) -> Row {
    Row {
        repetition,
        achieved_rate: throughput,
        duration_s: 0.5,
        requests: (throughput / 2.0) as u64,
        server_requests: (throughput / 2.0) as u64,
        lat_p99_us: 50_000_000.0 / throughput,
        ..support::row(backend, 50)
    }
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    scratch(&format!("gate-{name}"))
}

/// A CSV of `backend` runs at each throughput, scaled by `k`.
fn csv(dir: &Path, name: &str, runs: &[(&str, &[f64], f64)]) -> PathBuf {
    let path = dir.join(name);
    for (backend, throughputs, k) in runs {
        for (i, t) in throughputs.iter().enumerate() {
            results::append(&path, &row(backend, i as u32 + 1, t * k)).unwrap();
        }
    }
    path
}

fn gate(args: &[&Path]) -> Output {
    ringside_results("gate").args(args).output().unwrap()
}

fn status_and_output(out: &Output) -> (i32, String) {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

const FIVE: [f64; 5] = [10_000.0, 10_200.0, 9_800.0, 10_100.0, 9_900.0];
const NOISE: [f64; 5] = [9_900.0, 10_300.0, 9_700.0, 10_000.0, 10_200.0];

#[test]
fn exit_status_says_pass_regression_or_bad_input() {
    let d = dir("exit");
    let rules = d.join("rules.toml");
    fs::write(
        &rules,
        "[[baseline]]\nbackend = \"epoll\"\nmetric = \"throughput\"\nmax_regression_pct = 10\n\n\
         [[baseline]]\nmetric = \"p99\"\nmax_regression_pct = 10\n\n\
         [[check]]\nmin_requests = 1\nmax_errors = 0\ncomplete = true\n",
    )
    .unwrap();
    let base = csv(&d, "base.csv", &[("epoll", &FIVE, 1.0)]);
    let same = csv(&d, "same.csv", &[("epoll", &NOISE, 1.0)]);
    let slower = csv(&d, "slower.csv", &[("epoll", &FIVE, 0.8)]);
    let base3 = csv(&d, "base3.csv", &[("epoll", &FIVE[..3], 1.0)]);
    let few = csv(&d, "few.csv", &[("epoll", &FIVE[..3], 0.8)]);
    let baseline = Path::new("--baseline");
    let strict = Path::new("--strict");
    let r = Path::new("--rules");

    let (code, text) = status_and_output(&gate(&[r, &rules, baseline, &base, &same]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("PASS") && text.contains("gate passed"), "{text}");

    let (code, text) = status_and_output(&gate(&[r, &rules, baseline, &base, &slower]));
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("FAIL") && text.contains("-20.0%") && text.contains("p=0.008"), "{text}");

    // A closed stdout (`| head`, `| grep -q`) does not turn a regression
    // into a pass.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status =
        ringside_results("gate").args([r, &rules, baseline, &base, &slower]).stdout(writer).status().unwrap();
    assert_eq!(status.code(), Some(4));

    // 3 runs cannot fail: a warning, and an error under --strict.
    let (code, text) = status_and_output(&gate(&[r, &rules, baseline, &base3, &few]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("WARNING") && text.contains("CANNOT FAIL"), "{text}");
    let (code, _) = status_and_output(&gate(&[r, &rules, strict, baseline, &base3, &few]));
    assert_eq!(code, 1);

    // A baseline rule without --baseline.
    let (code, text) = status_and_output(&gate(&[r, &rules, &same]));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("rules.toml line 1") && text.contains("--baseline"), "{text}");
}

#[test]
fn bad_rules_and_bad_input_exit_1_saying_where() {
    let d = dir("bad");
    let data = csv(&d, "run.csv", &[("epoll", &FIVE, 1.0), ("io-uring", &FIVE, 1.2)]);
    let r = Path::new("--rules");
    for (name, rules, message) in [
        ("syntax", "[[check]\nmin_requests = 1\n", "line 1, column"),
        ("metric", "[[ratio]]\nbackend = \"io-uring\"\nversus = \"epoll\"\nmetric = \"p98\"\n", "line 4"),
        ("field", "[[check]]\nmin_request = 1\n", "unknown field `min_request`"),
        ("typo", "[[check]]\nbackend = \"epol\"\nmin_requests = 1\n", "matches no rows"),
        ("empty", "# no rules\n", "no rules"),
    ] {
        let path = d.join(format!("{name}.toml"));
        fs::write(&path, rules).unwrap();
        let (code, text) = status_and_output(&gate(&[r, &path, &data]));
        assert_eq!(code, 1, "{name}: {text}");
        assert!(text.contains(message), "{name}: {text}");
    }
    // A broken CSV: the error names the file and the line.
    let rules = d.join("ok.toml");
    fs::write(
        &rules,
        "[[ratio]]\nmetric = \"throughput\"\nbackend = \"io-uring\"\nversus = \"epoll\"\nmin_ratio = 1.05\n",
    )
    .unwrap();
    let (code, text) = status_and_output(&gate(&[r, &rules, &data]));
    assert_eq!(code, 0, "{text}");
    let broken = d.join("broken.csv");
    let good = fs::read_to_string(&data).unwrap();
    fs::write(&broken, good.replacen(",http,", ",htp,", 1)).unwrap();
    let (code, text) = status_and_output(&gate(&[r, &rules, &broken]));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("broken.csv line 2, column `protocol`"), "{text}");
}

/// `--format json` parses, gives the same verdicts as the text, finding by
/// finding, and the same exit status, with each finding's figures.
#[test]
fn json_verdicts_agree_with_the_text() {
    let d = dir("json");
    let rules = d.join("rules.toml");
    fs::write(
        &rules,
        "[[baseline]]\nname = \"throughput\"\nmetric = \"throughput\"\nmax_regression_pct = 10\n\n\
         [[ratio]]\nmetric = \"throughput\"\nbackend = \"io-uring\"\nversus = \"epoll\"\nmin_ratio = 1.1\n\n\
         [[check]]\nmin_requests = 1\n",
    )
    .unwrap();
    let base = csv(&d, "base.csv", &[("epoll", &FIVE, 1.0), ("io-uring", &FIVE, 1.2)]);
    let same = csv(&d, "same.csv", &[("epoll", &NOISE, 1.0), ("io-uring", &NOISE, 1.2)]);
    let slower = csv(&d, "slower.csv", &[("epoll", &FIVE, 0.8), ("io-uring", &FIVE, 1.2)]);
    let (r, b, json) =
        (Path::new("--rules"), Path::new("--baseline"), [Path::new("--format"), Path::new("json")]);
    for (current, expected) in [(&same, 0), (&slower, 4)] {
        let (code, text) = status_and_output(&gate(&[r, &rules, b, &base, current]));
        let out = gate(&[r, &rules, b, &base, current, json[0], json[1]]);
        assert_eq!((code, out.status.code()), (expected, Some(expected)), "{text}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");

        // The text's verdicts, in order: the indented finding lines.
        let words: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        let findings: Vec<&serde_json::Value> =
            doc["rules"].as_array().unwrap().iter().flat_map(|r| r["findings"].as_array().unwrap()).collect();
        let verdicts: Vec<String> =
            findings.iter().map(|f| f["verdict"].as_str().unwrap().to_uppercase()).collect();
        assert_eq!(words, verdicts, "{text}");
        assert_eq!(doc["exit_status"], expected);
        assert_eq!(doc["result"], if expected == 0 { "pass" } else { "fail" });
        assert!(text.contains(if expected == 0 { "gate passed" } else { "gate FAILED" }), "{text}");

        let rules_out = doc["rules"].as_array().unwrap();
        assert_eq!(
            (rules_out[0]["kind"].as_str(), rules_out[0]["name"].as_str(), rules_out[0]["metric"].as_str()),
            (Some("baseline"), Some("throughput"), Some("throughput"))
        );
        // The baseline rule's epoll finding: medians, change, p, runs.
        let epoll = rules_out[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["workload"]["backend"] == "epoll")
            .unwrap();
        assert_eq!(epoll["workload"]["connections"], 50);
        assert_eq!(epoll["workload_label"], "epoll http c=50");
        assert_eq!(epoll["baseline"], 10_000.0);
        assert_eq!((epoll["n_baseline"].as_u64(), epoll["n_candidate"].as_u64()), (Some(5), Some(5)));
        let delta = epoll["delta_pct"].as_f64().unwrap();
        let p = epoll["p"].as_f64().unwrap();
        if expected == 4 {
            assert_eq!(
                (epoll["verdict"].as_str(), epoll["candidate"].as_f64()),
                (Some("fail"), Some(8_000.0))
            );
            assert!((delta + 20.0).abs() < 1e-9 && p < 0.05, "{epoll}");
        } else {
            assert_eq!(epoll["verdict"], "pass");
        }
        // The ratio rule: io-uring against epoll, with its ratio.
        let ratio = &rules_out[1]["findings"][0];
        assert_eq!(ratio["workload"]["backend"], "", "a ratio's workload has no backend: {ratio}");
        assert!(ratio["ratio"].as_f64().unwrap() > 1.0, "{ratio}");
        // A check has no figures.
        let check = &rules_out[2]["findings"][0];
        assert_eq!((check["verdict"].as_str(), check["baseline"].is_null()), (Some("pass"), true), "{check}");
    }
}
