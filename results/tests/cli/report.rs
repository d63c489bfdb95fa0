//! `ringside-results report` as a user runs it: the binary on CSV files,
//! its exit status and messages, and the page it writes opened in headless
//! Chromium.
//!
//! The browser test needs Debian's `chromium`; without it the test prints
//! `SKIPPED` and passes, unless `CI=true`, where a missing browser fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use results::Row;

use crate::support::{self, ringside_results};

/// A complete row as the load generator wrote it in a real sweep, in results
/// schema 2: the files of these tests are schema-2 files (under
/// `results::COLUMNS_V2`), which the tools still read.
const TEMPLATE: &str = "2,2026-11-21T22:41:44.980588Z,sweep-1,1,83b5e40fde17,vm,6.18.44-fc-v669,\
Intel(R) Xeon(R) Processor,thread-per-conn,stack=131072,http,0,1,1,50,1,closed,,0.0,17006.6,false,0,13,\
none,0.1,0.3,5102,0,0,0,0,0,89,112,true,,3529.0,4431.0,8639.0,9423.0,12559.0,12559.0,2937.1,3529.0,\
4431.0,8639.0,9423.0,12559.0,12559.0,2936.9,3.17,12.55,0.95,0.20,5102,2.17,9.63,0.046,0.0014,704.8,\
72591.4,5.19,\n";

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    support::scratch(&format!("report-{name}"))
}

fn template() -> Row {
    let dir = scratch("template");
    let path = dir.join("t.csv");
    fs::write(&path, format!("{}\n{TEMPLATE}", results::COLUMNS_V2.join(","))).unwrap();
    results::read(&path).unwrap().remove(0)
}

const BACKENDS: [&str; 4] = ["thread-per-conn", "epoll", "io-uring", "tokio"];

/// A sweep of 4 backends × 2 protocols × 2 connection counts × 3
/// repetitions, one run cut short and one without server figures.
fn write_sweep(path: &Path) {
    let base = template();
    let mut n = 0;
    for rep in 1..=3u32 {
        for protocol in ["http", "echo"] {
            for connections in [50u32, 500] {
                for (i, backend) in BACKENDS.iter().enumerate() {
                    n += 1;
                    let fast = if i == 0 { 0.15 } else { 1.0 + 0.05 * i as f64 };
                    let mut row = Row {
                        repetition: rep,
                        backend: backend.to_string(),
                        protocol: protocol.parse().unwrap(),
                        connections,
                        request_bytes: if protocol == "echo" { 128 } else { 0 },
                        response_bytes: if protocol == "echo" { 128 } else { 13 },
                        achieved_rate: 110_000.0 * fast + f64::from(rep) * 1000.0,
                        ..base.clone()
                    };
                    let scale = f64::from(connections) / 50.0 / fast;
                    for (p, v) in [
                        (&mut row.lat_p50_us, 300.0),
                        (&mut row.lat_p90_us, 450.0),
                        (&mut row.lat_p99_us, 900.0),
                        (&mut row.lat_p999_us, 1500.0),
                        (&mut row.lat_p9999_us, 2500.0),
                        (&mut row.lat_max_us, 3000.0),
                    ] {
                        *p = v * scale;
                    }
                    if i > 0 {
                        (row.server_cpu_sys_us, row.server_vcs) = (2.5, 0.002);
                    }
                    if n == 5 {
                        row.complete = false;
                        row.note = "the server exited during the window (signal 9)".into();
                    }
                    if n == 6 {
                        (row.server_cpu_user_us, row.server_cpu_sys_us, row.server_vcs, row.server_ics) =
                            (0.0, 0.0, 0.0, 0.0);
                        row.note = "server figures not measured: its counters were read too late".into();
                    }
                    results::append(path, &row).unwrap();
                }
            }
        }
    }
}

fn report(args: &[&Path]) -> Output {
    ringside_results("report").args(args).output().unwrap()
}

fn report_into(csv: &[&Path], out: &Path) -> Output {
    let mut args: Vec<&Path> = csv.to_vec();
    args.push(Path::new("--out"));
    args.push(out);
    report(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bad_csv_exits_1_naming_the_file_and_line_and_writes_nothing() {
    let dir = scratch("bad");
    let csv = dir.join("bad.csv");
    let broken = TEMPLATE.replacen("50,1,closed", "fifty,1,closed", 1);
    fs::write(&csv, format!("{}\n{TEMPLATE}{broken}", results::COLUMNS_V2.join(","))).unwrap();
    let out = dir.join("out");
    let o = report_into(&[&csv], &out);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{} line 3, column `connections`", csv.display())), "{stderr}");
    assert!(!out.exists(), "a failed report created {}", out.display());
}

#[test]
fn no_rows_or_no_complete_rows_exit_1_and_write_nothing() {
    let dir = scratch("empty");
    let header_only = dir.join("header.csv");
    fs::write(&header_only, format!("{}\n", results::COLUMNS_V2.join(","))).unwrap();
    let cut = dir.join("cut.csv");
    let killed = TEMPLATE.replacen(",true,,", ",false,killed,", 1);
    fs::write(&cut, format!("{}\n{killed}", results::COLUMNS_V2.join(","))).unwrap();
    for (csv, expected) in [(&header_only, "has no rows"), (&cut, "none of the 1 rows")] {
        let out = dir.join("out");
        let o = report_into(&[csv], &out);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected) && stderr.contains(&csv.display().to_string()), "{stderr}");
        assert!(!out.exists());
    }
    // Without --out: a usage error, 2.
    let o = report(&[&header_only]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn page_and_charts_are_written_and_a_foreign_directory_refused() {
    let dir = scratch("write");
    let csv = dir.join("sweep.csv");
    write_sweep(&csv);
    let out = dir.join("out");
    let o = report_into(&[&csv], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("and 10 charts (47 complete rows of 48)"), "{stdout}");
    assert!(stdout.contains("1 complete row has no server figures"), "{stdout}");
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    // Self-contained: no script, no link, no address but the SVG namespace.
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("https://"));
    assert_eq!(html.matches("http://").count(), html.matches("http://www.w3.org/2000/svg").count());
    assert!(html.contains("the server exited during the window (signal 9)"));
    // Written again over itself: fine. Into a directory of something else: no.
    assert_eq!(report_into(&[&csv], &out).status.code(), Some(0));
    let foreign = dir.join("foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("thesis.tex"), "mine").unwrap();
    let o = report_into(&[&csv], &foreign);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
}

/// Runs Chromium headless on `args`, its stdout into `stdout`; fails the
/// test if it has not finished within a minute.
fn chromium(profile: &Path, args: &[String], stdout: &Path) {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::from(fs::File::create(stdout).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within 60 s");
        }
        // Polling a process for its exit, not waiting for readiness.
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn chromium_present() -> bool {
    Command::new("chromium").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[test]
fn the_page_renders_in_headless_chromium() {
    if !chromium_present() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but chromium is not installed");
        let _ =
            writeln!(std::io::stderr().lock(), "SKIPPED the_page_renders_in_headless_chromium: no chromium");
        return;
    }
    let dir = scratch("browser");
    let csv = dir.join("sweep.csv");
    write_sweep(&csv);
    let out = dir.join("page");
    let o = report_into(&[&csv], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let page = format!("file://{}", out.join("index.html").display());

    // The rendered DOM holds every chart, each with a group per series.
    let dom_file = dir.join("dom.html");
    chromium(&dir.join("profile-dom"), &["--dump-dom".into(), page.clone()], &dom_file);
    let dom = fs::read_to_string(&dom_file).unwrap();
    let mut charts: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    charts.sort();
    assert_eq!(charts.len(), 10, "{charts:?}");
    for file in &charts {
        let id = file.trim_end_matches(".svg");
        let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id} in the DOM"));
        let end = start + dom[start..].find("</svg>").unwrap();
        let chart = &dom[start..end];
        let groups = chart.matches("class=\"series\"").count();
        // The cost charts have two panels; each chart has all 4 backends.
        let expected = if id.starts_with("cost") { 8 } else { 4 };
        assert_eq!(groups, expected, "series groups in {id}");
        for backend in BACKENDS {
            assert!(chart.contains(&format!("data-series=\"{backend}\"")), "{backend} missing from {id}");
        }
        let marks = ["class=\"line\"", "class=\"point\"", "class=\"bar\""];
        assert!(marks.iter().any(|m| chart.contains(m)), "{id} has no marks");
        assert!(dom.contains(&format!("href=\"{file}\"")), "no link to {file}");
    }

    // A screenshot that is not blank: many colours, a good share of ink.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = fs::remove_file(&shot);
    chromium(
        &dir.join("profile-shot"),
        &[format!("--screenshot={}", shot.display()), "--window-size=1200,2000".into(), page],
        &dir.join("shot.log"),
    );
    let _ = writeln!(std::io::stderr().lock(), "report screenshot: {}", shot.display());
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 2000));
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    for px in bytes.chunks_exact(step) {
        colours.insert(px[..3.min(step)].to_vec());
        if px[..3.min(step)].iter().any(|&c| c < 200) {
            ink += 1;
        }
    }
    let pixels = bytes.len() / step;
    assert!(colours.len() > 100, "only {} colours: the page looks blank", colours.len());
    assert!(ink * 100 > pixels * 2, "only {ink} of {pixels} pixels are not near white");
    let _ = fs::remove_dir_all(dir.join("profile-dom"));
    let _ = fs::remove_dir_all(dir.join("profile-shot"));
}
