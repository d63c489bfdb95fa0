//! What the sweep prints at its end: per cell the median per backend over
//! the repetitions and its ratio to the best ([`summarize`],
//! [`render_table`]), the latency-throughput table of an offered-load grid
//! ([`render_curves`]), and the runs that failed or broke connections.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::plan::{Cell, RunSpec, Syscalls};
use crate::ctxsw::Spread;
use crate::engine;
use crate::fmt::{fmt_us, thousands};
use crate::measured::Report;

/// What the table needs from one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub cell: Cell,
    pub backend: String,
    pub repetition: u32,
    /// A counting run (`--syscalls once`): only its system calls count.
    pub count: bool,
    pub complete: bool,
    pub req_s: f64,
    /// Latency from the intended send time, µs; `None` if nothing completed.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Per request; `None` if the server's counters could not be read.
    pub server_cpu_us: Option<f64>,
    pub server_vcs: Option<f64>,
    /// The server's system calls per request; `None` if not counted.
    pub server_syscalls: Option<f64>,
    pub client_cpu_us: f64,
    /// Connections that broke during the window, by cause.
    pub errors: engine::Errors,
    /// Connections with a request outstanding in the window and no answer
    /// in it (the server never served them).
    pub unanswered: usize,
    /// The row's `note`: why it is incomplete, warnings.
    pub note: String,
}

impl Measurement {
    pub(crate) fn of(r: &Report, spec: &RunSpec, note: &str) -> Measurement {
        let q = |q: f64| results::hdr::quantile_us(&r.corrected, q);
        Measurement {
            cell: spec.cell,
            backend: spec.backend.clone(),
            repetition: spec.repetition,
            count: spec.count,
            complete: r.incomplete.is_none(),
            req_s: r.achieved_rate(),
            p50_us: q(0.5),
            p99_us: q(0.99),
            server_cpu_us: r.server.map(|p| p.cpu_us()),
            server_vcs: r.server.map(|p| p.vcs),
            server_syscalls: r.server_syscalls.as_ref().map(|p| p.total),
            client_cpu_us: r.client.cpu_us(),
            errors: r.errors,
            unanswered: r.conns_unanswered,
            note: note.to_string(),
        }
    }
}

impl Measurement {
    /// `rep 2`, or `counting run`: which run of its cell and backend.
    fn which(&self) -> String {
        if self.count { "counting run".to_string() } else { format!("rep {}", self.repetition) }
    }
}

/// One backend's figures in one cell: medians over its complete runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Medians {
    /// Runs of this backend in the cell (its counting run not counted),
    /// and how many were complete.
    pub runs: usize,
    pub complete: usize,
    pub req_s: Spread,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub server_cpu_us: Option<f64>,
    pub server_vcs: Option<f64>,
    /// From its counting runs if it had any, else from its runs.
    pub server_syscalls: Option<f64>,
    pub client_cpu_us: f64,
    /// Errors (broken connections) over all its complete runs.
    pub errors: u64,
    /// Median req/s over the cell's best median req/s.
    pub ratio: f64,
    /// Its req/s range overlaps the best backend's: the difference is
    /// within the run-to-run spread.
    pub within_noise: bool,
}

/// A table line: a backend's figures, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub backend: String,
    pub figures: Result<Medians, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CellTable {
    pub cell: Cell,
    pub lines: Vec<Line>,
}

pub(super) fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    if v.is_empty() { None } else { Some(Spread::of(&v).median) }
}

/// Per cell, per backend (in the order given): the medians over the
/// backend's complete runs, and its ratio to the cell's best; "n/a" with a
/// reason for a backend with no complete run there (`skipped` gives the
/// reason for backends the sweep gave up on). A counting run gives the
/// system calls per request and nothing else: counting slowed it.
pub fn summarize(
    cells: &[Cell],
    backends: &[String],
    measurements: &[Measurement],
    skipped: &HashMap<String, String>,
) -> Vec<CellTable> {
    let mut tables = Vec::new();
    for &cell in cells {
        let mut lines: Vec<Line> = backends
            .iter()
            .map(|b| {
                let mine = || measurements.iter().filter(|m| m.cell == cell && &m.backend == b);
                let all: Vec<&Measurement> = mine().filter(|m| !m.count).collect();
                let ok: Vec<&Measurement> = all.iter().copied().filter(|m| m.complete).collect();
                let counted: Vec<&Measurement> = mine().filter(|m| m.count && m.complete).collect();
                let calls_from = if counted.is_empty() { &ok } else { &counted };
                let figures = if ok.is_empty() {
                    Err(match (skipped.get(b), all.len()) {
                        (Some(why), _) => format!("skipped: {why}"),
                        (None, 0) => "not run".to_string(),
                        (None, n) => format!("no complete run of {n}"),
                    })
                } else {
                    let rates: Vec<f64> = ok.iter().map(|m| m.req_s).collect();
                    Ok(Medians {
                        runs: all.len(),
                        complete: ok.len(),
                        req_s: Spread::of(&rates),
                        p50_us: median_of(ok.iter().filter_map(|m| m.p50_us)),
                        p99_us: median_of(ok.iter().filter_map(|m| m.p99_us)),
                        server_cpu_us: median_of(ok.iter().filter_map(|m| m.server_cpu_us)),
                        server_vcs: median_of(ok.iter().filter_map(|m| m.server_vcs)),
                        server_syscalls: median_of(calls_from.iter().filter_map(|m| m.server_syscalls)),
                        client_cpu_us: Spread::of(&ok.iter().map(|m| m.client_cpu_us).collect::<Vec<_>>())
                            .median,
                        errors: ok.iter().map(|m| m.errors.total()).sum(),
                        ratio: f64::NAN,
                        within_noise: false,
                    })
                };
                Line { backend: b.clone(), figures }
            })
            .collect();
        let best = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.figures.as_ref().ok().map(|m| (i, m.req_s)))
            .max_by(|a, b| a.1.median.total_cmp(&b.1.median));
        if let Some((best_line, best)) = best {
            for (i, line) in lines.iter_mut().enumerate() {
                if let Ok(m) = &mut line.figures {
                    m.ratio = if best.median > 0.0 { m.req_s.median / best.median } else { f64::NAN };
                    m.within_noise = i != best_line && m.req_s.max >= best.min;
                }
            }
        }
        tables.push(CellTable { cell, lines });
    }
    tables
}

/// The comparison table, one block per cell; `syscalls` says where its
/// system calls come from, `not_counted` why none were counted (counting
/// not permitted here), which overrides it.
pub fn render_table(
    tables: &[CellTable],
    repetitions: u32,
    syscalls: Syscalls,
    not_counted: Option<&str>,
) -> String {
    let mut s = String::new();
    let reps =
        if repetitions == 1 { "1 repetition".to_string() } else { format!("{repetitions} repetitions") };
    let why_not;
    let calls = match (syscalls, not_counted) {
        (Syscalls::Off, _) => "syscalls/req, its system calls, not counted (--syscalls off)",
        (_, Some(why)) => {
            why_not = format!("syscalls/req, its system calls, n/a: {}", why.lines().next().unwrap_or(why));
            &why_not
        }
        (Syscalls::Once, None) => {
            "syscalls/req, its system calls, from the backend's one counting run in the cell, made apart \
             since counting slows every counted call (n/a: not counted)"
        }
        (Syscalls::Every, None) => "syscalls/req, its system calls, counted in every run (n/a: not counted)",
    };
    let _ = writeln!(
        s,
        "Medians over {reps}, complete runs only. p50, p99: latency from the intended send time. Per \
         request: server us, the server's CPU time (us); server vcs, its voluntary context switches; \
         {calls}; client us, the load generator's CPU time. vs best: req/s over the cell's best median; \
         \"≈\" where its req/s range overlaps the best one's (a difference within the run-to-run spread). \
         errors: connections broken during the windows (a timeout breaks its connection), all runs \
         together; see below."
    );
    if syscalls == Syscalls::Every && not_counted.is_none() {
        let _ = writeln!(
            s,
            "Counted in every run (--syscalls every): the req/s, latency and CPU figures include counting's \
             cost, about 150 ns of server CPU per counted call (+10% server CPU per request measured for \
             epoll); --syscalls once keeps it out of them."
        );
    }
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "n/a".to_string(), f);
    for t in tables {
        let _ = writeln!(s);
        let _ = writeln!(s, "{}", t.cell);
        let _ = writeln!(
            s,
            "  {:<16} {:>9} {:>17} {:>9} {:>9} {:>11} {:>11} {:>12} {:>11} {:>8} {:>7}",
            "backend",
            "req/s",
            "req/s min-max",
            "p50",
            "p99",
            "server us",
            "server vcs",
            "syscalls/req",
            "client us",
            "vs best",
            "errors"
        );
        for line in &t.lines {
            match &line.figures {
                Err(why) => {
                    let _ = writeln!(s, "  {:<16} n/a ({})", line.backend, tail_first_line(why, 90));
                }
                Ok(m) => {
                    let range = format!(
                        "{}-{}",
                        thousands(m.req_s.min.round() as u64),
                        thousands(m.req_s.max.round() as u64)
                    );
                    let ratio = if m.ratio.is_nan() {
                        "n/a".to_string()
                    } else {
                        format!("{}{:.2}", if m.within_noise { "≈" } else { "" }, m.ratio)
                    };
                    let _ = write!(
                        s,
                        "  {:<16} {:>9} {:>17} {:>9} {:>9} {:>11} {:>11} {:>12} {:>11.2} {:>8} {:>7}",
                        line.backend,
                        thousands(m.req_s.median.round() as u64),
                        range,
                        opt(m.p50_us, &|v| fmt_us(v)),
                        opt(m.p99_us, &|v| fmt_us(v)),
                        opt(m.server_cpu_us, &|v| format!("{v:.2}")),
                        opt(m.server_vcs, &|v| format!("{v:.3}")),
                        opt(m.server_syscalls, &|v| format!("{v:.3}")),
                        m.client_cpu_us,
                        ratio,
                        m.errors
                    );
                    if m.complete < m.runs {
                        let _ = write!(s, "  ({} of {} runs complete)", m.complete, m.runs);
                    }
                    let _ = writeln!(s);
                }
            }
        }
    }
    s
}

/// The latency-throughput curves of an offered-load grid: per base cell, a
/// line per offered rate, and per backend the median achieved req/s and p99.
pub fn render_curves(tables: &[CellTable], repetitions: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nLatency-throughput curves (offered-load grid; medians over {repetitions} repetition{}): per offered \
         rate and backend, the achieved req/s (answers received in the window) / p99 from the intended send \
         time. An achieved rate below the offered one: the backend could not keep up.",
        if repetitions == 1 { "" } else { "s" }
    );
    let mut bases: Vec<Cell> = Vec::new();
    for t in tables {
        if !bases.contains(&t.cell.base()) {
            bases.push(t.cell.base());
        }
    }
    for base in bases {
        let rows: Vec<&CellTable> = tables.iter().filter(|t| t.cell.base() == base).collect();
        let backends: Vec<&str> = rows[0].lines.iter().map(|l| l.backend.as_str()).collect();
        let _ = writeln!(s);
        let _ = writeln!(s, "{base}");
        let mut head = format!("  {:>10}", "offered");
        for b in &backends {
            let _ = write!(head, " {b:>20}");
        }
        let _ = writeln!(s, "{head}");
        for t in rows {
            let mut line = format!("  {:>10}", thousands(t.cell.rate.unwrap_or(0)));
            for l in &t.lines {
                let cell = match &l.figures {
                    Ok(m) => format!(
                        "{} / {}",
                        thousands(m.req_s.median.round() as u64),
                        m.p99_us.map_or_else(|| "-".into(), fmt_us)
                    ),
                    Err(_) => "n/a".into(),
                };
                let _ = write!(line, " {cell:>20}");
            }
            let _ = writeln!(s, "{line}");
        }
    }
    s
}

/// [`render_counted`]'s heading under a capacity table.
pub const CAPACITY_COUNTED: &str = "from a closed-loop counting run per cell and backend (apart from the probes, since counting slows every \
     counted call)";

/// [`render_counted`]'s heading under an offered-load grid's curves.
pub const GRID_COUNTED: &str = "from a counting run per offered rate and backend (apart from the measured runs, \
     since counting slows every counted call)";

/// The system calls of a capacity sweep or an offered-load grid, whose
/// tables have no column for them: per cell, each backend's from its
/// counting runs (`--syscalls once`), under `heading`; empty if there were
/// none.
pub fn render_counted(
    cells: &[Cell],
    backends: &[String],
    measurements: &[Measurement],
    heading: &str,
) -> String {
    let mut s = String::new();
    for &cell in cells {
        let counted: Vec<String> = backends
            .iter()
            .filter_map(|b| {
                let runs = measurements.iter().filter(|m| m.count && m.cell == cell && &m.backend == b);
                let calls = median_of(runs.filter(|m| m.complete).filter_map(|m| m.server_syscalls));
                calls.map(|v| format!("{b} {v:.3}"))
            })
            .collect();
        if !counted.is_empty() {
            let _ = writeln!(s, "  {}: {}", cell, counted.join(", "));
        }
    }
    if s.is_empty() {
        return s;
    }
    format!("\nServer system calls per request, {heading}:\n{s}")
}

/// The first line of `s`, shortened to about `max` characters.
pub(super) fn tail_first_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= max {
        return first.to_string();
    }
    let cut: String = first.chars().take(max).collect();
    format!("{cut}...")
}

/// Errors by kind, e.g. `149 timed out, 2 reset or closed`.
pub fn describe_errors(e: &engine::Errors) -> String {
    let kinds = [
        (e.connect, "failed to connect"),
        (e.reset, "reset or closed"),
        (e.timeout, "timed out"),
        (e.bad_response, "bad answer"),
        (e.http_3xx, "http 3xx"),
        (e.http_4xx, "http 4xx"),
        (e.http_5xx, "http 5xx"),
    ];
    let parts: Vec<String> =
        kinds.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    parts.join(", ")
}

/// The complete runs that had errors, the incomplete and failed runs with
/// their notes, and the skipped backends; empty if none.
pub fn render_failures(measurements: &[Measurement], skipped: &[(String, String)]) -> String {
    let mut s = String::new();
    let with_errors: Vec<&Measurement> =
        measurements.iter().filter(|m| m.complete && m.errors.total() > 0).collect();
    if !with_errors.is_empty() {
        let _ =
            writeln!(s, "Runs with broken connections (complete, but with fewer connections by the end):");
        for m in with_errors {
            let _ = writeln!(
                s,
                "  {}, {}, {}: {}",
                m.which(),
                m.cell.short(),
                m.backend,
                describe_errors(&m.errors)
            );
        }
    }
    let starved: Vec<&Measurement> = measurements.iter().filter(|m| m.complete && m.unanswered > 0).collect();
    if !starved.is_empty() {
        let _ =
            writeln!(s, "Runs with connections never answered in the window (the server left them waiting):");
        for m in starved {
            let _ = writeln!(
                s,
                "  {}, {}, {}: {} of {} connections",
                m.which(),
                m.cell.short(),
                m.backend,
                m.unanswered,
                m.cell.connections
            );
        }
    }
    let failed: Vec<&Measurement> = measurements.iter().filter(|m| !m.complete).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "Incomplete or failed runs:");
        for m in failed {
            let _ = writeln!(s, "  {}, {}, {}: {}", m.which(), m.cell.short(), m.backend, m.note);
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "Skipped backends:");
        for (b, why) in skipped {
            let _ = writeln!(s, "  {b}: {why}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use protocol::Protocol;

    use super::*;
    use crate::ctxsw::Spread;

    fn m(backend: &str, c: u32, rep: u32, req_s: f64, complete: bool) -> Measurement {
        Measurement {
            cell: Cell { protocol: Protocol::Http, connections: c, size: None, rate: None },
            backend: backend.into(),
            repetition: rep,
            count: false,
            complete,
            req_s,
            p50_us: Some(req_s / 1000.0),
            p99_us: Some(req_s / 100.0),
            server_cpu_us: Some(1e6 / req_s),
            server_vcs: Some(0.5),
            server_syscalls: (rep != 2).then_some(2.0),
            client_cpu_us: 3.0,
            errors: engine::Errors::default(),
            unanswered: 0,
            note: if complete { String::new() } else { "incomplete: every connection failed".into() },
        }
    }

    #[test]
    fn table_medians_and_ratios() {
        let cells = [
            Cell { protocol: Protocol::Http, connections: 50, size: None, rate: None },
            Cell { protocol: Protocol::Http, connections: 500, size: None, rate: None },
        ];
        let backends: Vec<String> = ["epoll", "thread-pool", "io-uring", "tokio"].map(String::from).to_vec();
        let data = vec![
            m("epoll", 50, 1, 200_000.0, true),
            m("epoll", 50, 2, 180_000.0, true),
            m("epoll", 50, 3, 210_000.0, true),
            m("thread-pool", 50, 1, 100_000.0, true),
            m("thread-pool", 50, 2, 120_000.0, true),
            // An incomplete run counts in `runs`, not in the medians.
            m("thread-pool", 50, 3, 1.0, false),
            m("io-uring", 50, 1, 190_000.0, true),
            m("io-uring", 50, 2, 205_000.0, true),
            m("io-uring", 50, 3, 195_000.0, true),
            m("epoll", 500, 1, 150_000.0, true),
            m("thread-pool", 500, 1, 0.0, false),
        ];
        let mut data = data;
        data[1].errors.timeout = 149;
        data[2].errors.reset = 2;
        data[3].unanswered = 14;
        let skipped: HashMap<String, String> = [("tokio".to_string(), "exit status 5".to_string())].into();
        let t = summarize(&cells, &backends, &data, &skipped);
        assert_eq!(t.len(), 2);
        let fig = |cell: usize, b: usize| t[cell].lines[b].figures.clone();

        let epoll = fig(0, 0).unwrap();
        assert_eq!(epoll.req_s, Spread { median: 200_000.0, min: 180_000.0, max: 210_000.0 });
        assert_eq!((epoll.runs, epoll.complete, epoll.ratio, epoll.within_noise), (3, 3, 1.0, false));
        assert_eq!(epoll.errors, 151);
        assert_eq!(epoll.p50_us, Some(200.0));
        assert_eq!(epoll.server_cpu_us, Some(5.0));
        // The median of the runs that counted them (repetition 2 did not).
        assert_eq!(epoll.server_syscalls, Some(2.0));

        let pool = fig(0, 1).unwrap();
        assert_eq!(pool.req_s, Spread { median: 110_000.0, min: 100_000.0, max: 120_000.0 });
        assert_eq!((pool.runs, pool.complete), (3, 2));
        assert!((pool.ratio - 0.55).abs() < 1e-12);
        assert!(!pool.within_noise);

        let uring = fig(0, 2).unwrap();
        assert!((uring.ratio - 0.975).abs() < 1e-12);
        assert!(uring.within_noise, "190-205k overlaps 180-210k");

        assert_eq!(fig(0, 3), Err("skipped: exit status 5".into()));
        assert_eq!(fig(1, 0).unwrap().ratio, 1.0);
        assert_eq!(fig(1, 1), Err("no complete run of 1".into()));
        assert_eq!(fig(1, 2), Err("not run".into()));

        let text = render_table(&t, 3, Syscalls::Every, None);
        assert!(text.contains("http, 50 connections\n"), "{text}");
        let line = |b: &str| text.lines().find(|l| l.trim_start().starts_with(b)).unwrap().to_string();
        let e = line("epoll");
        assert!(
            e.contains("200,000") && e.contains("180,000-210,000") && e.ends_with(" 1.00     151"),
            "{e}"
        );
        let p = line("thread-pool");
        assert!(p.contains("110,000") && p.contains("0.55") && p.contains("(2 of 3 runs complete)"), "{p}");
        assert!(line("io-uring").contains(" ≈0.97 ") || line("io-uring").contains(" ≈0.98 "), "{text}");
        assert!(line("io-uring").ends_with(" 0"), "{text}");
        assert!(line("tokio").contains("n/a (skipped: exit status 5)"), "{text}");
        assert!(text.contains(" syscalls/req ") && e.contains("       2.000 "), "{text}");

        let failures = render_failures(&data, &[("tokio".into(), "exit status 5".into())]);
        assert!(failures.contains("rep 3, http c=50, thread-pool: incomplete: every connection failed"));
        assert!(failures.contains("rep 1, http c=500, thread-pool"));
        assert!(failures.contains("Skipped backends:\n  tokio: exit status 5"));
        assert!(failures.contains("rep 2, http c=50, epoll: 149 timed out\n"), "{failures}");
        assert!(failures.contains("rep 3, http c=50, epoll: 2 reset or closed\n"), "{failures}");
        assert!(
            failures.contains(
                "Runs with connections never answered in the window (the server left them waiting):\n  \
                 rep 1, http c=50, thread-pool: 14 of 50 connections\n"
            ),
            "{failures}"
        );
        assert!(render_failures(&data[6..9], &[]).is_empty());
        assert!(text.contains("include counting's cost"), "{text}");
    }

    /// `--syscalls once`: the counting run gives the system calls, the runs
    /// (which counted none) everything else.
    #[test]
    fn counting_runs_give_the_system_calls_alone() {
        let cell = Cell { protocol: Protocol::Http, connections: 50, size: None, rate: None };
        let backends: Vec<String> = ["epoll", "io-uring"].map(String::from).to_vec();
        let run = |backend: &str, rep: u32, req_s: f64| Measurement {
            server_syscalls: None,
            ..m(backend, 50, rep, req_s, true)
        };
        let counting = |backend: &str, calls: f64| Measurement {
            count: true,
            server_syscalls: Some(calls),
            // Slowed by counting.
            server_cpu_us: Some(99.0),
            errors: engine::Errors { timeout: 7, ..Default::default() },
            ..m(backend, 50, 1, 1_000.0, true)
        };
        let data = vec![
            counting("epoll", 2.03),
            counting("io-uring", 0.05),
            run("epoll", 1, 200_000.0),
            run("io-uring", 1, 190_000.0),
            run("epoll", 2, 210_000.0),
            run("io-uring", 2, 205_000.0),
        ];
        let t = summarize(&[cell], &backends, &data, &HashMap::new());
        let epoll = t[0].lines[0].figures.clone().unwrap();
        assert_eq!((epoll.runs, epoll.complete), (2, 2), "the counting run is no repetition");
        assert_eq!(epoll.req_s, Spread { median: 205_000.0, min: 200_000.0, max: 210_000.0 });
        assert_eq!(epoll.server_syscalls, Some(2.03));
        assert_eq!(epoll.errors, 0);
        assert!(epoll.server_cpu_us.unwrap() < 10.0, "{epoll:?}");
        let uring = t[0].lines[1].figures.clone().unwrap();
        assert_eq!(uring.server_syscalls, Some(0.05));
        let text = render_table(&t, 2, Syscalls::Once, None);
        assert!(text.contains("from the backend's one counting run in the cell"), "{text}");
        assert!(!text.contains("include counting's cost"), "{text}");
        let line = text.lines().find(|l| l.trim_start().starts_with("epoll")).unwrap();
        assert!(line.contains("       2.030 "), "{line}");
        // A backend whose runs failed has no line for its counting run.
        let failed = [counting("epoll", 2.03), Measurement { complete: false, ..run("epoll", 1, 0.0) }];
        let t = summarize(&[cell], &backends[..1], &failed, &HashMap::new());
        assert_eq!(t[0].lines[0].figures, Err("no complete run of 1".into()));
        // Failures name it as what it is.
        let failures = render_failures(&failed, &[]);
        assert!(failures.contains("counting run, http c=50, epoll: 7 timed out"), "{failures}");
        assert!(failures.contains("Incomplete or failed runs:\n  rep 1, http c=50, epoll:"), "{failures}");
        // --syscalls off: the column is n/a, and says why.
        let uncounted = summarize(&[cell], &backends, &data[2..], &HashMap::new());
        let text = render_table(&uncounted, 2, Syscalls::Off, None);
        assert!(text.contains("not counted (--syscalls off)"), "{text}");
        // Counting not permitted here: the header says why, whatever was
        // asked, and claims no counting run nor counting's cost.
        let why = "system calls not counted: perf_event_paranoid is 4";
        for asked in [Syscalls::Once, Syscalls::Every] {
            let text = render_table(&uncounted, 2, asked, Some(why));
            assert!(text.contains(&format!("its system calls, n/a: {why};")), "{text}");
            assert!(!text.contains("counting run") && !text.contains("include counting's cost"), "{text}");
        }
        // A capacity sweep's counting runs, under its table.
        let counted = render_counted(&[cell], &backends, &data, CAPACITY_COUNTED);
        assert!(counted.contains("http, 50 connections: epoll 2.030, io-uring 0.050"), "{counted}");
        assert_eq!(render_counted(&[cell], &backends, &data[2..], CAPACITY_COUNTED), "");
    }
}
