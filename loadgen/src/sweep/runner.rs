//! One run of a sweep ([`Runner::point`]): a fresh server, the load in
//! this process, one results row, one progress line; and what the runs so
//! far gave ([`Outcome`], the measurements, the skipped backends).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::plan::{Cell, RunSpec};
use super::server;
use super::table::{Measurement, describe_errors};
use crate::args::RunArgs;
use crate::capacity::Slo;
use crate::csv_row;
use crate::engine;
use crate::fmt::{fmt_us, thousands};
use crate::measured::Report;
use crate::proto::Shape;
use crate::run;
use crate::server_stats::PerRequest;

/// The run's flags for `cell` against a server at `target`, counters at
/// `stats`.
fn run_args(base: &RunArgs, cell: Cell, target: SocketAddr, stats: SocketAddr) -> RunArgs {
    let mut a = base.clone();
    a.rate = cell.rate.map(|r| r as f64);
    a.target = target.to_string();
    a.stats = Some(stats);
    a.protocol = cell.protocol;
    a.connections = cell.connections;
    if let Some(size) = cell.size {
        a.request_bytes = size;
        a.response_bytes = size;
    }
    a
}

/// The report of a run that measured nothing: the server did not start, or
/// the load could not begin.
fn failed_report(args: &RunArgs, why: String) -> Report {
    Report {
        args: args.clone(),
        addr: args.target.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
        threads: 0,
        server_before: None,
        server_after: None,
        server: None,
        client: PerRequest::default(),
        server_syscalls: None,
        client_syscalls: None,
        corrected: engine::new_histogram(),
        raw: engine::new_histogram(),
        lag: engine::new_histogram(),
        completed: 0,
        late: 0,
        answered_in_window: 0,
        scheduled: 0,
        sent_in_window: 0,
        errors: engine::Errors::default(),
        reconnects: 0,
        answers_per_conn: Vec::new(),
        conns_unanswered: 0,
        window: Duration::ZERO,
        drain: Duration::ZERO,
        window_started: SystemTime::now(),
        incomplete: Some(why),
        notes: Vec::new(),
        switch_cost: None,
        shape: Shape {
            protocol: args.protocol,
            request_bytes: args.request_bytes,
            response_bytes: args.response_bytes,
            work: args.work,
            host: args.target.clone(),
            path: "/".into(),
            headers: Vec::new(),
        },
    }
}

/// How a sweep went, for the exit status.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub planned: usize,
    pub ran: usize,
    pub complete: usize,
    pub skipped: Vec<(String, String)>,
    pub interrupted: bool,
    /// Nothing was meant to run.
    pub dry_run: bool,
    /// Rows that could not be appended to the CSV, and those that were.
    pub unwritten: usize,
    pub rows: usize,
    /// Capacity searches that found no capacity or did not converge.
    pub searches_without_capacity: usize,
}

impl Outcome {
    /// A dry run, or every planned run ran, completed and was written.
    pub fn all_complete(&self) -> bool {
        self.dry_run
            || self.ran == self.planned
                && self.complete == self.ran
                && self.skipped.is_empty()
                && self.unwritten == 0
                && self.searches_without_capacity == 0
    }
}

/// What every run of a sweep shares, and what the runs so far gave.
pub(super) struct Runner<'a> {
    pub(super) server: &'a Path,
    pub(super) csv: &'a Path,
    pub(super) base: RunArgs,
    pub(super) run_id: String,
    pub(super) server_cores: String,
    pub(super) same_cpu_ns: f64,
    pub(super) cross_cpu_ns: f64,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) repetitions: u32,
    /// Runs planned (a capacity sweep: its estimate), and run so far.
    pub(super) total: usize,
    pub(super) count: usize,
    pub(super) outcome: Outcome,
    pub(super) measurements: Vec<Measurement>,
    pub(super) skipped: Vec<(String, String)>,
}

/// One run's report and the row written for it.
pub(super) struct Point {
    pub(super) report: Report,
    pub(super) row: results::Row,
}

impl Runner<'_> {
    /// Ctrl-C: no more runs.
    pub(super) fn stopped(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            self.outcome.interrupted = true;
        }
        self.outcome.interrupted
    }

    /// Run `spec` against a fresh server, at `rate` if given (else its
    /// cell's), append its row (with `phase` and `slo`) and print its
    /// line. `None` if the backend was skipped or the sweep stopped.
    pub(super) fn point(
        &mut self,
        spec: &RunSpec,
        rate: Option<f64>,
        phase: results::Phase,
        slo: Option<&Slo>,
    ) -> Option<Point> {
        if self.stopped() || self.skipped.iter().any(|(b, _)| b == &spec.backend) {
            return None;
        }
        self.count += 1;
        let cell = match rate {
            Some(r) => Cell { rate: Some(r.round().max(1.0) as u64), ..spec.cell },
            None => spec.cell,
        };
        let total =
            if self.total >= self.count { self.total.to_string() } else { format!("{}+", self.total) };
        let rep = format!("rep {}/{}", spec.repetition, self.repetitions);
        let what = if spec.count { "count".to_string() } else { rep };
        let tag = format!(
            "[{:>w$}/{total}] {what:<r$}  {:<20} {:<16}",
            self.count,
            cell.short(),
            spec.backend,
            w = total.len(),
            r = format!("rep {0}/{0}", self.repetitions).len()
        );
        let with_rate = |mut a: RunArgs| {
            if let Some(r) = rate {
                a.rate = Some(r);
            }
            a
        };
        let placeholder = with_rate(run_args(
            &self.base,
            cell,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ([127, 0, 0, 1], 0).into(),
        ));
        let started_server = server::start(self.server, &spec.server_args);
        let start_failed = started_server.is_err();
        let (mut report, server_notes) = match started_server {
            Err(why) => {
                eprintln!("{tag} the server did not start: {why}");
                eprintln!("  skipping {} for the rest of the sweep", spec.backend);
                self.skipped.push((spec.backend.clone(), why.clone()));
                (failed_report(&placeholder, format!("the server did not start: {why}")), Vec::new())
            }
            Ok((mut srv, ready)) => {
                let mut a = with_rate(run_args(&self.base, cell, ready.listen, ready.stats));
                // A counting run counts, whatever the other runs do.
                a.no_syscalls &= !spec.count;
                if !a.no_syscalls {
                    a.syscalls_pid = vec![srv.id()];
                }
                let report = match run::run(&a, Arc::clone(&self.stop)) {
                    Ok(r) => r,
                    Err(e) => failed_report(&a, format!("{e:#}")),
                };
                (report, server::stop(&mut srv))
            }
        };
        self.outcome.ran += 1;
        report.notes.extend(server_notes);
        let context = csv_row::Context {
            run_id: self.run_id.clone(),
            repetition: spec.repetition,
            server_cores: self.server_cores.clone(),
            ctxsw_same_cpu_ns: self.same_cpu_ns,
            ctxsw_cross_cpu_ns: self.cross_cpu_ns,
        };
        let mut row = csv_row::row(&report, &context);
        if row.backend.is_empty() {
            row.backend = spec.backend.clone();
        }
        row.phase = phase;
        row.slo = slo.map(Slo::to_string).unwrap_or_default();
        self.append(&row);
        let spec = RunSpec { cell, ..spec.clone() };
        let m = Measurement::of(&report, &spec, &row.note);
        if m.complete {
            self.outcome.complete += 1;
        }
        if !start_failed && spec.count {
            // Its req/s, latency and CPU are counting's, not the design's.
            let counted = match &report.server_syscalls {
                Some(p) => format!(
                    "server {}/req ({})",
                    crate::syscalls::short(p.total),
                    crate::syscalls::top(&p.by_name, 4)
                ),
                None => "server not counted".to_string(),
            };
            eprintln!(
                "{tag} syscalls: {counted}{}",
                report.incomplete.as_ref().map(|w| format!("  INCOMPLETE: {w}")).unwrap_or_default()
            );
        } else if !start_failed {
            let shortfall = if report.rate_shortfall() {
                format!("  (offered {})", thousands(report.offered_rate().round() as u64))
            } else {
                String::new()
            };
            eprintln!(
                "{tag} {:>9} req/s{shortfall}  p99 {:>8}  server {} us/req{}{}",
                thousands(m.req_s.round() as u64),
                m.p99_us.map_or_else(|| "-".into(), fmt_us),
                m.server_cpu_us.map_or_else(|| "n/a".into(), |v| format!("{v:.2}")),
                if m.errors.total() > 0 {
                    format!("  errors: {}", describe_errors(&m.errors))
                } else {
                    String::new()
                },
                report.incomplete.as_ref().map(|w| format!("  INCOMPLETE: {w}")).unwrap_or_default()
            );
        }
        self.measurements.push(m);
        (!start_failed).then_some(Point { report, row })
    }

    pub(super) fn append(&mut self, row: &results::Row) {
        match results::append(self.csv, row) {
            Ok(()) => self.outcome.rows += 1,
            Err(e) => {
                self.outcome.unwritten += 1;
                eprintln!("ringside-loadgen: cannot append a row: {e}");
            }
        }
    }
}
