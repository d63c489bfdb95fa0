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

/// A port nothing listens on (it was free a moment ago).
fn closed_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

#[test]
fn a_csv_in_a_missing_directory_fails_before_the_run() {
    // The target is closed too: the CSV must be what is reported, since it
    // is checked first.
    let out = loadgen(&["run", "--target", &closed_port(), "--csv", "/nonexistent/ringside/x.csv"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/ringside") && stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("nothing listens"), "the run started before the CSV was checked: {stderr}");
}

#[test]
fn nothing_listening_exits_1_with_a_clear_message() {
    let target = closed_port();
    let out = loadgen(&["run", "--target", &target, "--no-calibrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("nothing listens on {target}")), "{stderr}");
}

/// A server that echoes 64-byte messages until told to die, then resets its
/// connections and stops listening.
fn dying_echo_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let dead = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = std::sync::Arc::clone(&dead);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            if d.load(Ordering::Relaxed) {
                return;
            }
            let (Ok(mut s), d) = (s, std::sync::Arc::clone(&d)) else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !d.load(Ordering::Relaxed) && s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&buf).is_err() {
                        return;
                    }
                }
                let _ = socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO));
            });
        }
    });
    (addr, dead)
}

#[test]
fn a_server_killed_mid_run_ends_it_with_an_error_and_keeps_what_was_measured() {
    use std::sync::atomic::Ordering;
    let (addr, dead) = dying_echo_server();
    let csv = std::env::temp_dir().join(format!("ringside-dying-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&csv);
    let killer = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            dead.store(true, Ordering::Relaxed);
            let _ = std::net::TcpStream::connect(addr);
        })
    };
    let out = loadgen(&[
        "run",
        "--target",
        &addr,
        "--protocol",
        "echo",
        "--request-bytes",
        "64",
        "-c",
        "4",
        "--warmup",
        "200ms",
        "-d",
        "20s",
        "--no-calibrate",
        "--quiet",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    killer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "exit code for a run cut short\n{stdout}");
    assert!(stdout.contains("INCOMPLETE: every connection"), "{stdout}");
    let rows = results::read(&csv).expect("the row was written");
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].complete && rows[0].requests > 0, "{:?}", rows[0]);
    assert!(rows[0].note.contains("incomplete"), "{}", rows[0].note);
    let _ = std::fs::remove_file(&csv);
}

/// An HTTP server that is not ringside's, as nginx is: every request, `/stats`
/// included, gets `Hello, World!` with headers of its own, a `Date` that
/// changes from response to response among them.
fn foreign_http_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let mut n = 0u64;
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            n += 1;
                            let date = format!("Sun, 22 Nov 2026 01:{:02}:{:02} GMT", n / 60 % 60, n % 60);
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nServer: other/1.0\r\nDate: {date}\r\nContent-Type: \
                                 text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!"
                            );
                            if w.write_all(resp.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_server_without_ringside_counters_is_measured_with_no_server_counters() {
    let addr = foreign_http_server();
    let base = ["run", "--target", &addr, "-c", "2", "--warmup", "0s", "-d", "300ms", "--no-calibrate", "-q"];

    // Without the flag it is measured all the same, its counters not read
    // (a note says why): its /stats answer is not ringside's.
    let out = loadgen(&base);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("is not a ringside server"), "{stdout}");

    let csv = std::env::temp_dir().join(format!("ringside-foreign-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&csv);
    let mut args = base.to_vec();
    args.extend(["--no-server-counters", "--csv", csv.to_str().unwrap()]);
    let out = loadgen(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let _ = std::fs::remove_file(&csv);
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let row = rows.records().next().expect("a row").unwrap();
    let cell = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert!(cell("requests").parse::<u64>().unwrap() > 10, "{text}");
    assert_eq!(cell("errors_bad_response"), "0", "{text}");
    assert_eq!(cell("complete"), "true", "{text}");
    assert!(cell("note").contains("--no-server-counters"), "{text}");

    // And it cannot be combined with a stats address.
    let out = loadgen(&["run", "--target", &addr, "--no-server-counters", "--stats", &addr]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--server-pid`: the server columns from /proc, here of this test process,
/// whose threads serve the foreign server's connections.
#[test]
fn a_server_without_counters_is_measured_from_proc_with_server_pid() {
    let addr = foreign_http_server();
    let pid = std::process::id().to_string();
    let csv = std::env::temp_dir().join(format!("ringside-server-pid-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&csv);
    let out = loadgen(&[
        "run",
        "--target",
        &addr,
        "-c",
        "2",
        "--warmup",
        "0s",
        "-d",
        "300ms",
        "--no-calibrate",
        "-q",
        "--server-pid",
        &pid,
        "--csv",
        csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("  Server     per request: CPU "), "{stdout}");
    let rows = results::read(&csv).expect("the row was written");
    let _ = std::fs::remove_file(&csv);
    let r = &rows[0];
    assert!(r.requests > 10 && r.complete, "{r:?}");
    assert!(r.server_cpu_user_us + r.server_cpu_sys_us > 0.0, "{r:?}");
    assert_eq!((r.backend.as_str(), r.server_requests), ("", 0), "no counters were read: {r:?}");
    assert!(r.note.contains(&format!("from /proc of pid {pid} (")), "{}", r.note);

    // A process that does not exist is an error before any load; a stats
    // address or --no-server-counters with it, a usage error.
    let out = loadgen(&["run", "--target", &addr, "--no-calibrate", "--server-pid", "4294967295"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--server-pid wants the process id of a server running on this host"),
        "{stderr}"
    );
    assert!(stderr.contains("/proc/4294967295"), "{stderr}");
    for other in [&["--stats", &addr][..], &["--no-server-counters"]] {
        let mut args = vec!["run", "--target", &addr, "--server-pid", &pid];
        args.extend(other);
        let out = loadgen(&args);
        assert_eq!(out.status.code(), Some(2), "{other:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
