//! The `ringside-loadgen` binary as a user meets it: exit codes, messages,
//! and output that scripts parse.

use std::process::{Command, Output};

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringside-loadgen")).args(args).output().expect("run ringside-loadgen")
}

#[test]
fn unavailable_cpu_is_a_clear_error() {
    let out = loadgen(&["ctxsw", "--cpus", "0,4000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("ringside-loadgen: CPU 4000 is not available to this process"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_error_exits_2() {
    let out = loadgen(&["ctxsw", "--cpus", "1,1"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A brief real run: only that the JSON parses and names the figures, never
/// their values.
#[test]
fn ctxsw_json() {
    let cpus: Vec<usize> =
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    if cpus.len() < 2 {
        eprintln!("SKIPPED ctxsw_json: needs 2 CPUs, this process may use {cpus:?}");
        return;
    }
    let pair = format!("{},{}", cpus[0], cpus[1]);
    let out = loadgen(&["ctxsw", "--cpus", &pair, "--round-trips", "50", "--samples", "1", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    for key in ["same_cpu_switch_ns", "cross_cpu_wakeup_ns", "syscall", "same_cpu", "cross_cpu", "method"] {
        assert!(v.get(key).is_some(), "{key} missing from {stdout}");
    }
    assert_eq!(v["cpus"], serde_json::json!([cpus[0], cpus[1]]));
}
