//! The GitHub Actions job users copy, `docs/examples/github-actions-bench.yml`,
//! checked by a real checker: `check-jsonschema` (PyPI) against its vendored
//! schema of GitHub workflows, which must accept the file and refuse a
//! broken copy of it. The same checker validates `export --format bmf`
//! against Bencher's schema of BMF (`tests/data/bmf.schema.json`). Then the
//! job's own parts: its rules file gates a known results file, and every
//! file of this repository it names exists.
//!
//! `.ci/run` installs check-jsonschema (`pip install`). Without it these
//! tests print `SKIPPED` and pass, unless `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use results::Row;

use crate::support::{self, ringside_results, scratch, skip};

const WORKFLOW: &str = "docs/examples/github-actions-bench.yml";
const RULES: &str = "docs/examples/bench-rules.toml";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// Whether `check-jsonschema` is here; if not, `test` says it skips (or,
/// under `CI=true`, fails).
fn have_checker(test: &str) -> bool {
    let present =
        Command::new("check-jsonschema").arg("--version").output().is_ok_and(|o| o.status.success());
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but check-jsonschema is not installed (.ci/run installs it: pip install check-jsonschema)"
    );
    skip(test, "no check-jsonschema (pip install check-jsonschema)");
    false
}

/// Runs `check-jsonschema ARGS` in the repository: whether it passed, and
/// everything it printed.
fn check(args: &[&str]) -> (bool, String) {
    let out = Command::new("check-jsonschema").args(args).current_dir(repo()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_workflow_is_a_valid_github_workflow() {
    if !have_checker("the_workflow_is_a_valid_github_workflow") {
        return;
    }
    let schema = ["--builtin-schema", "vendor.github-workflows"];
    let (ok, text) = check(&[&schema[..], &[WORKFLOW]].concat());
    assert!(ok, "{WORKFLOW}: {text}");
    eprintln!("check-jsonschema --builtin-schema vendor.github-workflows {WORKFLOW}: {}", text.trim());

    // The checker checks: a job without `runs-on` is refused.
    let dir = scratch("workflow-broken");
    let broken = dir.join("broken.yml");
    let text = std::fs::read_to_string(repo().join(WORKFLOW)).unwrap();
    assert!(text.contains("    runs-on: "), "{WORKFLOW} has a runs-on");
    std::fs::write(&broken, text.replace("    runs-on: ", "    runs_on: ")).unwrap();
    let (ok, out) = check(&[&schema[..], &[broken.to_str().unwrap()]].concat());
    assert!(!ok && out.contains("'runs-on' is a required property"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bmf_is_valid_under_benchers_schema() {
    if !have_checker("bmf_is_valid_under_benchers_schema") {
        return;
    }
    let dir = scratch("workflow-bmf");
    let csv = dir.join("runs.csv");
    for (backend, rate) in [("epoll", 1000.0), ("epoll", 1100.0), ("io-uring", 1500.0)] {
        results::append(&csv, &Row { achieved_rate: rate, ..support::row(backend, 50) }).unwrap();
    }
    let bmf = dir.join("bmf.json");
    let out = ringside_results("export")
        .args(["--format", "bmf", "--out", bmf.to_str().unwrap(), csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = repo().join("results/tests/data/bmf.schema.json");
    let (ok, text) = check(&["--schemafile", schema.to_str().unwrap(), bmf.to_str().unwrap()]);
    assert!(ok, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The job's rules gate a run of the workload it sweeps (epoll and
/// io-uring, http, 50 connections) against itself: every rule matches
/// rows, none fails.
#[test]
fn the_workflows_rules_gate_its_workload() {
    let dir = scratch("workflow-rules");
    let (base, current) = (dir.join("base.csv"), dir.join("current.csv"));
    for path in [&base, &current] {
        for backend in ["epoll", "io-uring"] {
            for rate in [1000.0, 1010.0, 1020.0, 1030.0, 1040.0, 1050.0] {
                results::append(path, &Row { achieved_rate: rate, ..support::row(backend, 50) }).unwrap();
            }
        }
    }
    let rules = repo().join(RULES);
    let out = ringside_results("gate")
        .args([
            "--rules",
            rules.to_str().unwrap(),
            "--baseline",
            base.to_str().unwrap(),
            current.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every path of this repository the job names exists, and the flags it
/// passes to ringside's binaries are theirs.
#[test]
fn the_workflow_names_what_exists() {
    let text = std::fs::read_to_string(repo().join(WORKFLOW)).unwrap();
    for path in ["scripts/ci-gate.sh", RULES] {
        assert!(text.contains(path), "{WORKFLOW} names {path}");
        assert!(repo().join(path).is_file(), "{path} exists");
    }
    for (subcommand, flags) in [
        ("compare", &["--paired", "--format markdown"][..]),
        ("export", &["--format bmf", "--out ", "--format github-action-benchmark", "--out-dir "][..]),
    ] {
        let help = ringside_results(subcommand).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in flags {
            let name = flag.split(' ').next().unwrap();
            assert!(text.contains(flag), "{WORKFLOW} passes `{flag}`");
            assert!(help.contains(name), "ringside-results {subcommand} has {name}");
        }
    }
}
