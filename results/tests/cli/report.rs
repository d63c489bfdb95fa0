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

/// A results file this machine wrote (`results/src/testdata`).
fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata").join(name)
}

/// The SVG element of the chart `id` in `html`, from its start tag to its end.
fn svg_of<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    let start = html[..start].rfind("<svg").unwrap();
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

/// The open-loop runs of a file that a curve draws (complete, answered,
/// not a capacity row), and of them those that did not keep up.
fn curve_runs(rows: &[Row]) -> (usize, usize) {
    let runs: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.complete
                && r.mode == results::Mode::Open
                && r.phase != results::Phase::Capacity
                && r.requests > 0
        })
        .collect();
    let short = runs.iter().filter(|r| r.rate_shortfall || r.achieved_rate < 0.99 * r.offered_rate).count();
    (runs.len(), short)
}

const SWEEP_BACKENDS: [&str; 6] =
    ["thread-per-conn", "thread-pool", "epoll", "io-uring", "tokio", "tokio-uring"];

#[test]
fn a_capacity_sweep_draws_its_curve_and_capacity_bars() {
    let dir = scratch("capacity");
    let csv = testdata("capacity-sweep.csv");
    let out = dir.join("out");
    let o = report_into(&[&csv], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("and 8 charts (151 complete rows of 151)"), "{stdout}");
    assert!(
        stdout.contains("left out 115 probe rows") && stdout.contains("curves draw them all the same"),
        "{stdout}"
    );
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<h2>1. Latency against throughput</h2>"), "{html}");
    assert!(html.contains("<h2>2. Capacity under a latency objective</h2>"));
    assert!(!html.contains("Throughput against connections"), "open loop at one count has no such chart");

    // The curve: a series per backend, every open-loop probe and run a
    // point, hollow where it did not keep up, under the objective.
    let curve = svg_of(&html, "curve-http-c50-open-poisson");
    assert_eq!(curve.matches("class=\"series\"").count(), SWEEP_BACKENDS.len());
    for b in SWEEP_BACKENDS {
        assert!(curve.contains(&format!("data-series=\"{b}\"")), "{b} missing from the curve");
    }
    let (runs, short) = curve_runs(&results::read(&csv).unwrap());
    assert_eq!(
        (runs, short),
        (127, 7),
        "the file's open-loop probes and runs: 151 rows but 12 estimates and 12 capacities"
    );
    assert_eq!(curve.matches("class=\"point").count(), runs);
    assert_eq!(curve.matches("class=\"point hollow\"").count(), short);
    assert!(curve.contains(">objective: p99 ≤ 1ms</text>"));
    assert!(html.contains("(7 of 127 points)"));

    // The bars: a backend each, every one with a capacity in both
    // repetitions (epoll: 121,341 and 204,007, median between).
    let bars = svg_of(&html, "capacity-http-c50-p99-1000us");
    assert_eq!(bars.matches("class=\"series\"").count(), SWEEP_BACKENDS.len());
    assert_eq!(bars.matches("class=\"bar\"").count(), SWEEP_BACKENDS.len());
    assert_eq!(bars.matches("class=\"whisker\"").count(), SWEEP_BACKENDS.len());
    assert!(
        bars.contains("epoll: 162,674 req/s, the median of 2 capacities found (min 121,341, max 204,007)"),
        "{bars}"
    );
    assert!(!bars.contains("none found"));
    assert!(html.contains("capacity under p99 ≤ 1ms"));
    // The runs at 50% and 80% of each capacity: a chart each, all backends.
    for share in [50, 80] {
        let id = format!("latency-http-c50-open-poisson-at-{share}-of-capacity-p99-1000us");
        assert_eq!(svg_of(&html, &id).matches("class=\"series\"").count(), SWEEP_BACKENDS.len(), "{id}");
    }
}

#[test]
fn a_backend_whose_searches_found_nothing_is_none_found() {
    let dir = scratch("none-found");
    let csv = dir.join("sweep.csv");
    // The real sweep without the thread pool's capacity rows (and its runs
    // at shares of them): as if its searches had found none.
    let rows: Vec<Row> = results::read(&testdata("capacity-sweep.csv"))
        .unwrap()
        .into_iter()
        .filter(|r| r.backend != "thread-pool" || r.phase == results::Phase::Probe)
        .collect();
    for row in &rows {
        results::append(&csv, row).unwrap();
    }
    let out = dir.join("out");
    let o = report_into(&[&csv], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    let bars = svg_of(&html, "capacity-http-c50-p99-1000us");
    assert_eq!(bars.matches("class=\"series\"").count(), SWEEP_BACKENDS.len());
    assert_eq!(bars.matches("class=\"bar\"").count(), SWEEP_BACKENDS.len() - 1);
    assert!(bars.contains("thread-pool: no capacity found in 2 searches</title>none found</text>"), "{bars}");
}

#[test]
fn an_offered_load_grid_draws_its_curve_and_two_files_share_it() {
    let dir = scratch("grid");
    let grid = testdata("rate-grid.csv");
    let out = dir.join("out");
    let o = report_into(&[&grid], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    let curve = svg_of(&html, "curve-http-c50-open-poisson");
    assert_eq!(curve.matches("class=\"series\"").count(), SWEEP_BACKENDS.len());
    // Six rates, one repetition: six points a backend, the line through them.
    assert_eq!(curve.matches("class=\"point").count(), 36);
    assert_eq!(curve.matches("class=\"point hollow\"").count(), curve_runs(&results::read(&grid).unwrap()).1);
    assert_eq!(curve.matches("class=\"line\"").count(), SWEEP_BACKENDS.len());
    // No objective was set, and there are no capacities.
    assert!(!curve.contains("objective"));
    assert!(!html.contains("id=\"capacity"));
    assert!(curve.contains("thread-per-conn: offered 250,270 req/s, achieved 169,939 req/s (67.9%), p99 678ms; did not keep up (run, repetition 1)"), "{curve}");

    // The grid and the capacity sweep on one curve: a series per backend
    // and file, a backend's colour in both, each file its own dash.
    let both = dir.join("both");
    let o = report_into(&[&grid, &testdata("capacity-sweep.csv")], &both);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let html = fs::read_to_string(both.join("index.html")).unwrap();
    let curve = svg_of(&html, "curve-http-c50-open-poisson");
    assert_eq!(curve.matches("class=\"series\"").count(), 2 * SWEEP_BACKENDS.len());
    assert!(
        curve.contains("data-series=\"epoll (rate-grid.csv)\"")
            && curve.contains("data-series=\"epoll (capacity-sweep.csv)\"")
    );
    assert!(curve.contains("stroke-dasharray=\"7 4\""));
    assert_eq!(
        svg_of(&html, "capacity-http-c50-p99-1000us").matches("class=\"series\"").count(),
        SWEEP_BACKENDS.len()
    );
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

/// The page in `out` as Chromium renders it (`--dump-dom`), and its charts'
/// ids, checked to be all in the rendered DOM, each linked to its file.
fn rendered(dir: &Path, out: &Path, name: &str) -> (String, Vec<String>) {
    let page = format!("file://{}", out.join("index.html").display());
    let dom_file = dir.join(format!("{name}-dom.html"));
    let profile = dir.join(format!("profile-{name}-dom"));
    chromium(&profile, &["--dump-dom".into(), page], &dom_file);
    let _ = fs::remove_dir_all(profile);
    let dom = fs::read_to_string(&dom_file).unwrap();
    let mut charts: Vec<String> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    charts.sort();
    for file in &charts {
        assert!(dom.contains(&format!("href=\"{file}\"")), "no link to {file}");
    }
    let ids = charts.iter().map(|f| f.trim_end_matches(".svg").to_string()).collect();
    (dom, ids)
}

/// Takes a `width` × `height` screenshot of the page in `out` into `shot`
/// and checks that it is not blank: many colours, a good share of ink.
fn screenshot(dir: &Path, out: &Path, shot: &Path, (width, height): (u32, u32)) {
    let page = format!("file://{}", out.join("index.html").display());
    let _ = fs::remove_file(shot);
    let profile = dir.join("profile-shot");
    chromium(
        &profile,
        &[format!("--screenshot={}", shot.display()), format!("--window-size={width},{height}"), page],
        &dir.join("shot.log"),
    );
    let _ = fs::remove_dir_all(profile);
    let _ = writeln!(std::io::stderr().lock(), "report screenshot: {}", shot.display());
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (width, height));
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

    // The rendered DOM holds every chart, each with a group per series.
    let (dom, charts) = rendered(&dir, &out, "sweep");
    assert_eq!(charts.len(), 10, "{charts:?}");
    for id in &charts {
        let chart = svg_of(&dom, id);
        let groups = chart.matches("class=\"series\"").count();
        // The cost charts have two panels; each chart has all 4 backends.
        let expected = if id.starts_with("cost") { 8 } else { 4 };
        assert_eq!(groups, expected, "series groups in {id}");
        for backend in BACKENDS {
            assert!(chart.contains(&format!("data-series=\"{backend}\"")), "{backend} missing from {id}");
        }
        let marks = ["class=\"line\"", "class=\"point\"", "class=\"bar\""];
        assert!(marks.iter().any(|m| chart.contains(m)), "{id} has no marks");
    }
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    screenshot(&dir, &out, &shot, (1200, 2000));

    // The open-loop page: this machine's offered-load grid and capacity
    // sweep together, the curve first.
    let out = dir.join("curve-page");
    let files = [testdata("rate-grid.csv"), testdata("capacity-sweep.csv")];
    let o = report_into(&[&files[0], &files[1]], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (dom, charts) = rendered(&dir, &out, "curve");
    let count = |prefix: &str| charts.iter().filter(|c| c.starts_with(prefix)).count();
    // One curve (one base workload in both files), one capacity chart, a
    // latency and a cost chart per grid rate (6) and per capacity cell (3).
    assert_eq!(
        (count("curve-"), count("capacity-"), count("latency-"), count("cost-"), charts.len()),
        (1, 1, 9, 9, 20),
        "{charts:?}"
    );
    for id in &charts {
        let chart = svg_of(&dom, id);
        // The curve has a series per backend and file; the other charts
        // draw one file each, a series per backend (twice: cost panels).
        let expected = match id.split('-').next() {
            Some("curve") => 2 * SWEEP_BACKENDS.len(),
            Some("cost") => 2 * SWEEP_BACKENDS.len(),
            _ => SWEEP_BACKENDS.len(),
        };
        assert_eq!(chart.matches("class=\"series\"").count(), expected, "series groups in {id}");
        for backend in SWEEP_BACKENDS {
            assert!(chart.contains(&format!("data-series=\"{backend} (")), "{backend} missing from {id}");
        }
    }
    let curve = svg_of(&dom, "curve-http-c50-open-poisson");
    assert!(curve.contains("class=\"point hollow\"") && curve.contains("class=\"objective\""));
    assert!(curve.contains(">objective: p99 ≤ 1ms</text>"));
    let bars = svg_of(&dom, "capacity-http-c50-p99-1000us");
    assert_eq!(bars.matches("class=\"bar\"").count(), SWEEP_BACKENDS.len());
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-curve-screenshot.png");
    screenshot(&dir, &out, &shot, (1200, 2000));
}
