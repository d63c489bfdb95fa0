//! `ringside-results merge` on real load: two `ringside-loadgen run`s at
//! once against one `ringside-server` on loopback, two client network
//! namespaces against a server namespace through `scripts/multi-client.sh`,
//! and the same script's `--hosts` mode over real ssh (`ssh_hosts`).
//! Each checks that the merged row's requests are the clients' sum and that
//! its p99 is the p99 of their interval logs added up here, independently of
//! the merge code.
//!
//! The server and load generator binaries are next to `ringside-results` in
//! `target/<profile>/`: `cargo test --workspace` builds them; `cargo test -p
//! results` alone does not, and these tests then skip, saying so. The
//! namespace test also needs root and `ip` (iproute2); it skips without
//! them, except when the environment variable `CI` is `true`, where it
//! fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use platform::server::ServerProcess;

use crate::support::{bin_dir, ringside_results, scratch, skip};

mod ssh_hosts;

/// One test at a time: they share the machine's CPUs.
static SERIAL: Mutex<()> = Mutex::new(());

/// The server and load generator binaries, or why not.
fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let dir = bin_dir();
    let (server, loadgen) = (dir.join("ringside-server"), dir.join("ringside-loadgen"));
    if server.is_file() && loadgen.is_file() {
        Ok((server, loadgen))
    } else {
        Err(format!(
            "no ringside-server and ringside-loadgen in {}; build them with `cargo build -p servers -p loadgen` \
             (cargo test --workspace does)",
            dir.display()
        ))
    }
}

fn temp_dir(test: &str) -> PathBuf {
    scratch(&format!("merge-{test}"))
}

/// The corrected (untagged) latencies of interval logs, added up here with
/// the hdrhistogram crate alone.
fn sum_of_logs(paths: &[PathBuf]) -> Histogram<u64> {
    let mut sum: Histogram<u64> = Histogram::new(3).unwrap();
    let mut deserializer = Deserializer::new();
    for path in paths {
        let bytes = std::fs::read(path).unwrap();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(i) = entry.unwrap()
                && i.tag().is_none()
            {
                let compressed =
                    base64::engine::general_purpose::STANDARD.decode(i.encoded_histogram()).unwrap();
                let h: Histogram<u64> = deserializer.deserialize(&mut &compressed[..]).unwrap();
                sum.add(&h).unwrap();
            }
        }
    }
    sum
}

/// The merged row against its clients' rows and logs.
fn check_merged(clients: &[PathBuf], merged: &Path) {
    let rows: Vec<results::Row> = clients.iter().flat_map(|c| results::read(c).unwrap()).collect();
    let merged = results::read(merged).unwrap();
    assert_eq!(merged.len(), 1);
    let m = &merged[0];
    assert_eq!(rows.len(), clients.len());
    assert!(rows.iter().all(|r| r.requests > 0), "every client was answered: {rows:?}");
    assert_eq!(m.requests, rows.iter().map(|r| r.requests).sum::<u64>());
    let logs: Vec<PathBuf> = rows.iter().map(|r| PathBuf::from(&r.hlog)).collect();
    let sum = sum_of_logs(&logs);
    assert_eq!(sum.len(), m.requests, "the logs hold every request");
    // The logs hold nanoseconds; the columns are microseconds.
    assert_eq!(m.lat_p99_us, sum.value_at_quantile(0.99) as f64 / 1000.0);
    assert_eq!(m.lat_max_us, sum.max() as f64 / 1000.0);
}

#[test]
fn two_loadgens_on_loopback() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (server, loadgen) = match binaries() {
        Ok(b) => b,
        Err(why) => return skip("two_loadgens_on_loopback", &why),
    };
    let dir = temp_dir("loopback");
    // A server on a free loopback port, killed when dropped; it prints its
    // address once it accepts.
    let mut command = Command::new(&server);
    command.args(["--backend", "epoll", "--protocol", "http", "--listen", "127.0.0.1:0"]);
    let mut child = ServerProcess::spawn(command).expect("start ringside-server");
    let addr = match child.wait_ready(Duration::from_secs(20)) {
        Ok(announced) => announced.listen.to_string(),
        Err(e) => panic!("ringside-server did not start: {e}"),
    };

    // Both start at one time, a second from now.
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() + 1.0;
    let start = format!("{start:.3}");
    let runs: Vec<(Child, PathBuf)> = ["a", "b"]
        .iter()
        .map(|name| {
            let (csv, hlog) = (dir.join(format!("{name}.csv")), dir.join(format!("{name}.hlog")));
            let child = Command::new(&loadgen)
                .args(["run", "--target", &addr, "--protocol", "http", "-c", "2", "--duration", "500ms"])
                .args(["--warmup", "100ms", "--no-calibrate", "-q", "--run-id", "loopback"])
                .args(["--start-at", &start])
                .arg("--csv")
                .arg(&csv)
                .arg("--hlog")
                .arg(&hlog)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start ringside-loadgen");
            (child, csv)
        })
        .collect();
    let mut csvs = Vec::new();
    for (child, csv) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ringside-loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
        csvs.push(csv);
    }
    drop(child);

    let merged = dir.join("merged.csv");
    let out = ringside_results("merge")
        .arg("--out")
        .arg(&merged)
        .arg("--hlog-out")
        .arg(dir.join("merged.hlog"))
        .args(&csvs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_merged(&csvs, &merged);
    // The merged log holds the same latencies.
    let back = sum_of_logs(&[dir.join("merged.hlog")]);
    assert_eq!(back, sum_of_logs(&[dir.join("a.hlog"), dir.join("b.hlog")]));

    // A corrupt log: exit 1, the file and line named, nothing written.
    let text = std::fs::read_to_string(dir.join("b.hlog")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.iter().position(|l| l.starts_with("0.")).expect("a first interval line");
    lines[n] = "0.000,1.000,0.100,HISTFAAA!!!!";
    std::fs::write(dir.join("b.hlog"), lines.join("\n") + "\n").unwrap();
    let refused = dir.join("refused.csv");
    let out = ringside_results("merge").arg("--out").arg(&refused).args(&csvs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("b.hlog line {}:", n + 1)), "{stderr}");
    assert!(!refused.exists());
    let _ = std::fs::remove_dir_all(dir);
}

/// Deletes the test's namespaces (and stops what runs in them) however the
/// test ends; the script removes them itself when it gets to.
struct Namespaces(String);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else { return };
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let ns = line.split_whitespace().next().unwrap_or("");
            if !ns.starts_with(&self.0) {
                continue;
            }
            if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

/// Root and working network namespaces, or why not.
fn can_make_namespaces() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().map_err(|e| format!("cannot run `id -u`: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("needs root for network namespaces (run the tests as root)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`ip netns list` failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => Err(format!("needs `ip` from iproute2 ({e})")),
    }
}

#[test]
fn two_client_namespaces() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ready = binaries().and_then(|_| can_make_namespaces());
    if let Err(why) = ready {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("two_client_namespaces cannot run under CI=true: {why}");
        }
        return skip("two_client_namespaces", &why);
    }
    let dir = temp_dir("netns");
    let prefix = format!("rst{}", std::process::id());
    let _guard = Namespaces(prefix.clone());
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/multi-client.sh");
    let out = Command::new(&script)
        .arg("--bin-dir")
        .arg(bin_dir())
        .args(["--clients", "2", "--start-in", "1", "--name", &prefix])
        .args(["--server-cores", if pin { "0" } else { "" }, "--client-cores", if pin { "1" } else { "" }])
        .arg("--out")
        .arg(&dir)
        .args(["--", "-c", "2", "--duration", "500ms", "--warmup", "100ms", "--no-calibrate", "-q"])
        .output()
        .expect("run scripts/multi-client.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("merged: "), "{stdout}");
    let clients = [dir.join("client-1.csv"), dir.join("client-2.csv")];
    check_merged(&clients, &dir.join("merged.csv"));
    // Each client wrote its own files, for one run.
    for (i, c) in clients.iter().enumerate() {
        let log = std::fs::read_to_string(c.with_extension("log")).unwrap_or_default();
        let row = &results::read(c).unwrap()[0];
        assert_eq!(row.run_id, results::read(&clients[0]).unwrap()[0].run_id, "{log}");
        assert!(Path::new(&row.hlog).ends_with(format!("client-{}.hlog", i + 1)));
    }
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains(&prefix), "the script left its namespaces");
    let _ = std::fs::remove_dir_all(dir);
}
