//! `ringside-results gate`: judge a run against rules, for CI.
//!
//! A rules file (TOML) holds three kinds of rule, each judged on rows the
//! rule selects (a field left out of the selection matches every row):
//!
//! - `[[baseline]]`: a metric must not regress more than a percentage from
//!   a baseline CSV, per workload (rows grouped by [`Workload`]);
//! - `[[ratio]]`: within the current run, one backend's metric must be at
//!   least (or at most) a ratio times another's, per workload;
//! - `[[check]]`: every selected row must have served requests, had no
//!   errors, and run its whole window — plain facts, no statistics.
//!
//! The statistical rules fail only on a regression that is significantly
//! *beyond the limit* (Mann–Whitney U, p < [`ALPHA`], against the limit):
//! noise alone must not fail a build, and neither must a real but tolerated
//! change. A baseline rule with a 10% limit on throughput tests current
//! against 0.9 × baseline; a ratio rule with `min_ratio = r` tests A against
//! r × B — the null hypothesis is "A reaches the limit" — so each fails only
//! when the runs are significantly past the limit, not merely when they
//! differ from the baseline, nor when noise pushes one median past it. Samples too
//! small to ever give p < ALPHA (3 runs against 3) make a rule that cannot
//! fail: it is a warning, an error under `--strict`.
//!
//! It must never let a rule pass silently that checked nothing: a rule
//! matching no rows is an error, as is an unknown field or metric.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use platform::exit;
use protocol::Protocol;
use serde::Deserialize;
use toml::Spanned;

mod json;

use crate::Row;
use crate::stats::{ALPHA, Summary, mann_whitney_p};
use crate::workload::{Metric, Workload};

const RULES_HELP: &str = "\
RULES FILE (TOML; a commented example: scripts/gate-rules.example.toml)

  # p99 of io-uring/http at 500 connections must not rise more than 10%
  # from the baseline (--baseline BASE.csv)
  [[baseline]]
  backend = \"io-uring\"
  protocol = \"http\"
  connections = 500
  metric = \"p99\"
  max_regression_pct = 10

  # within the current run: io-uring's throughput >= 1.05 x epoll's,
  # at every workload with 50 connections or more
  [[ratio]]
  metric = \"throughput\"
  backend = \"io-uring\"
  versus = \"epoll\"
  min_ratio = 1.05            # or max_ratio, e.g. for a latency
  connections_min = 50

  # every row served requests, without errors, for its whole window
  [[check]]
  min_requests = 1
  max_errors = 0
  complete = true

Selection (all optional; each rule's rows must match every field given):
  backend (not in [[ratio]]), protocol, connections, connections_min,
  connections_max, pipeline, request_bytes, response_bytes, work
  (e.g. \"spin:500ns\"), load (\"closed\", e.g. \"open poisson 1000/s\", or for a
  capacity search's result e.g. \"capacity p99<=1000us\"), options (the
  backend_options column, exactly). A rule may match several
  workloads: each is judged. A [[baseline]] rule compares the same workload
  on both sides, options included, unless ignore_options = true.
Metrics: throughput, capacity (rows of phase = capacity only; throughput
is not theirs), p50, p99, p99.9, server_cpu, server_switches, server_syscalls. Rows of phase
= probe (a capacity search's runs) are left out, and a line says how many,
unless --with-probes. Rows of phase = count (a sweep's runs made to count
system calls, which counting slows) are judged on server_syscalls only, and
are never paired with a measured run; [[check]] rules check them too.

A [[baseline]] or [[ratio]] rule fails only if the runs are significantly
beyond its limit (Mann-Whitney U, p < 0.05, tested against the limit): a
[[baseline]] rule with max_regression_pct = 10 on throughput tests current
against 0.9 x baseline; a [[ratio]] rule with min_ratio = r tests A against
r x B. The p printed is that test's. With too few runs to ever be
significant (e.g. 3 against 3; use >= 5 repetitions) a rule cannot fail: it
prints a WARNING, and --strict makes that an error. With paired = true (or
--paired), for runs interleaved with the baseline's, the i-th run is judged
against the i-th baseline run moved by the limit (Wilcoxon signed-rank on
the logs of those ratios; at least 6 pairs), which drift that moves both
runs of a pair alike cannot hide.

The level: each test is two-sided at p < 0.05, and a rule fails only when
the runs are significantly on the bad side of its limit, so one rule on one
workload fails falsely with a probability of at most 2.5% (one-sided). Rules
and workloads are judged one by one, with no correction for their number: k
independent judgements raise a false alarm with a probability of up to
1 - 0.975^k (docs/CI.md measures it).

Exit status (the table all ringside binaries share): 0 every rule passed;
4 a rule failed (a regression); 1 bad rules or input, a rule that could not
be judged, or with --strict a warning; 2 a bad command line.";

/// The flags of `ringside-results gate`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Pass or fail a run against rules: regressions from a baseline, ratios between backends, sanity checks",
    long_about = "Pass or fail a run against the rules of a TOML file: regressions from a baseline CSV, \
                  ratios between backends within the run, and sanity checks on every row. Prints each \
                  rule PASS/FAIL with its figures (medians, change, limit, p-value, runs per side), or \
                  with --format json the same verdicts and figures as one JSON document for scripts",
    after_long_help = format!("{RULES_HELP}\n\n{}", json::FIELDS)
)]
pub struct Args {
    /// The rules file (TOML): see below, and scripts/gate-rules.example.toml.
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// Results of an earlier run, which [[baseline]] rules compare against.
    #[arg(long, value_name = "BASE.csv")]
    pub baseline: Option<PathBuf>,
    /// Make warnings errors (exit 1): a rule whose samples are too small to
    /// ever fail, a workload missing from one side.
    #[arg(long)]
    pub strict: bool,
    /// Judge rows of phase = probe too (a capacity search's runs, made only
    /// to find the capacity), which are otherwise left out with a line
    /// saying how many.
    #[arg(long)]
    pub with_probes: bool,

    /// Pool rows of different builds (`git_rev`) in one workload as if they
    /// were repetitions of one measurement (refused otherwise: two sweeps of
    /// different builds in one file must not silently pool).
    #[arg(long)]
    pub allow_mixed: bool,

    /// Judge every [[baseline]] rule's runs as pairs, as `paired = true` in
    /// the rule does: for runs interleaved with the baseline's (one
    /// repetition of each side in turn, as scripts/ci-gate.sh
    /// --baseline-server runs them), the i-th against the i-th (Wilcoxon
    /// signed-rank on the logs of their ratios to the limit; at least 6
    /// pairs), so drift that moves both runs of a pair alike cancels.
    #[arg(long)]
    pub paired: bool,
    /// Output: the verdicts as text (a line per rule and workload), or as
    /// one JSON document for scripts (its fields are at the end of --help).
    /// The exit status is the same either way.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The results to judge: one or more CSV files, read as one run.
    #[arg(required = true, value_name = "CURRENT.csv")]
    pub current: Vec<PathBuf>,
}

/// The form of the gate's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per rule and one per judged workload, then the outcome.
    Text,
    /// One JSON document: the outcome, and per rule and workload the
    /// verdict and its figures.
    Json,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut rules = Rules::read(&args.rules)?;
    if args.paired {
        for rule in &mut rules.rules {
            if let Kind::Baseline { paired, .. } = &mut rule.kind {
                *paired = true;
            }
        }
    }
    let mut left_out = Vec::new();
    let current =
        crate::workload::without_probes(crate::read_all(&args.current)?, args.with_probes, &mut left_out);
    let baseline = match &args.baseline {
        Some(path) => {
            Some(crate::workload::without_probes(crate::read(path)?, args.with_probes, &mut left_out))
        }
        None => {
            if let Some(rule) = rules.rules.iter().find(|r| matches!(r.kind, Kind::Baseline { .. })) {
                anyhow::bail!(
                    "{} line {}: a [[baseline]] rule needs a baseline: pass --baseline BASE.csv, or remove \
                     the rule",
                    args.rules.display(),
                    rule.line
                );
            }
            None
        }
    };
    let current_label = args.current.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" + ");
    let mut mixed = crate::workload::check_mixed(&current_label, &current, args.allow_mixed)?;
    if let (Some(rows), Some(path)) = (&baseline, &args.baseline) {
        mixed.extend(crate::workload::check_mixed(&path.display().to_string(), rows, args.allow_mixed)?);
    }
    use std::fmt::Write as _;
    // Judge everything first, then print: the exit status is the verdict's
    // even if stdout is closed early (`| head`, `| grep -q FAIL`), so a
    // pipe can never turn a regression into a pass.
    let mut text = String::new();
    if let Some(note) = crate::workload::probes_note(&left_out) {
        let _ = writeln!(text, "note: {note}");
    }
    for note in &mixed {
        let _ = writeln!(text, "note: {note}");
    }
    if let Some(note) = baseline.as_deref().and_then(|base| machines_note(base, &current)) {
        let _ = writeln!(text, "{note}");
    }
    let notes: Vec<String> = text.lines().map(str::to_string).collect();
    let mut tally = Tally::default();
    let mut judged = Vec::new();
    for (i, rule) in rules.rules.iter().enumerate() {
        let _ = writeln!(text, "rule {} ({} line {}): {rule}", i + 1, args.rules.display(), rule.line);
        let findings = rule.evaluate(&current, baseline.as_deref());
        for finding in &findings {
            let _ = writeln!(text, "  {finding}");
            tally.add(finding.verdict);
        }
        judged.push((rule, findings));
    }
    let _ = writeln!(text, "{}", tally.summary(rules.rules.len(), args.strict));
    if args.format == Format::Json {
        text = json::report(&judged, &tally, args.strict, notes);
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(io::stderr(), "ringside-results: cannot write the gate's report to stdout: {e}");
    }
    Ok(ExitCode::from(tally.exit_status(args.strict)))
}

/// A note when the baseline and the current run come from different
/// machines: their difference is then part of every comparison.
fn machines_note(baseline: &[Row], current: &[Row]) -> Option<String> {
    let machines = |rows: &[Row]| -> BTreeSet<String> {
        rows.iter().map(|r| format!("{} ({})", r.host, r.cpu_model)).collect()
    };
    let (base, cur) = (machines(baseline), machines(current));
    (base != cur && !base.is_empty() && !cur.is_empty()).then(|| {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        format!(
            "NOTE: the baseline ran on {}, the current results on {}: the machines' difference is part of \
             every comparison",
            list(&base),
            list(&cur)
        )
    })
}

// ---------------- rules ----------------

/// A parsed, checked rules file.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// One rule: where it is, which rows it takes, and what it asks of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Line of the rule's `[[kind]]` header in the rules file.
    pub line: usize,
    pub name: Option<String>,
    pub select: Select,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `metric` must not be worse than the baseline's by more than
    /// `max_regression_pct` percent.
    Baseline { metric: Metric, max_regression_pct: f64, ignore_options: bool, paired: bool },
    /// `metric` of `backend` over that of `versus`, within one run, must
    /// stay within `bound`.
    Ratio { metric: Metric, backend: String, versus: String, bound: Bound },
    /// Every selected row must meet every condition given.
    Check { min_requests: Option<u64>, max_errors: Option<u64>, max_unanswered: Option<u64>, complete: bool },
}

/// A limit on a ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

/// Which rows a rule takes: each field given must match, the rest match
/// anything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Select {
    pub backend: Option<String>,
    pub protocol: Option<Protocol>,
    pub connections: Option<u32>,
    pub connections_min: Option<u32>,
    pub connections_max: Option<u32>,
    pub pipeline: Option<u32>,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
    pub work: Option<String>,
    pub load: Option<String>,
    pub options: Option<String>,
}

impl Select {
    pub fn matches(&self, row: &Row) -> bool {
        let w = Workload::of(row);
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|s| s == have);
        let eq_n = |want: Option<u64>, have: u64| want.is_none_or(|n| n == have);
        eq(&self.backend, &w.backend)
            && self.protocol.is_none_or(|p| p == row.protocol)
            && eq_n(self.connections.map(u64::from), u64::from(w.connections))
            && self.connections_min.is_none_or(|n| w.connections >= n)
            && self.connections_max.is_none_or(|n| w.connections <= n)
            && eq_n(self.pipeline.map(u64::from), u64::from(w.pipeline))
            && eq_n(self.request_bytes, w.request_bytes)
            && eq_n(self.response_bytes, w.response_bytes)
            && eq(&self.work, &w.work)
            && eq(&self.load, &w.load)
            && eq(&self.options, &w.backend_options)
    }
}

impl fmt::Display for Select {
    /// `backend=io-uring protocol=http connections>=50`, or `all rows`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut text = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{name}={v:?}"));
            }
        };
        text("backend", &self.backend);
        text("protocol", &self.protocol.map(|p| p.name().to_string()));
        text("work", &self.work);
        text("load", &self.load);
        text("options", &self.options);
        for (name, v) in [
            ("connections=", self.connections.map(u64::from)),
            ("connections>=", self.connections_min.map(u64::from)),
            ("connections<=", self.connections_max.map(u64::from)),
            ("pipeline=", self.pipeline.map(u64::from)),
            ("request_bytes=", self.request_bytes),
            ("response_bytes=", self.response_bytes),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name}{v}"));
            }
        }
        if parts.is_empty() { f.write_str("all rows") } else { f.write_str(&parts.join(" ")) }
    }
}

/// What is wrong with a rules file, and where.
#[derive(Debug)]
pub struct RulesError {
    pub path: PathBuf,
    /// Line and column (from 1), when the problem has a place.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(f, "{} line {line}, column {column}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for RulesError {}

/// The file as TOML gives it, before the checks that need to know the
/// rule's kind. Every field of every kind is here, so that one that belongs
/// to another kind gets a message saying so rather than "unknown field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    baseline: Vec<Spanned<RawRule>>,
    #[serde(default)]
    ratio: Vec<Spanned<RawRule>>,
    #[serde(default)]
    check: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    backend: Option<String>,
    protocol: Option<ProtocolName>,
    connections: Option<u32>,
    connections_min: Option<u32>,
    connections_max: Option<u32>,
    pipeline: Option<u32>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    work: Option<String>,
    load: Option<String>,
    options: Option<String>,
    ignore_options: Option<bool>,
    paired: Option<bool>,
    metric: Option<MetricName>,
    max_regression_pct: Option<f64>,
    versus: Option<String>,
    min_ratio: Option<f64>,
    max_ratio: Option<f64>,
    min_requests: Option<u64>,
    max_errors: Option<u64>,
    max_unanswered: Option<u64>,
    complete: Option<bool>,
}

/// Fields every kind takes: the name and the selection.
const COMMON_FIELDS: [&str; 12] = [
    "name",
    "backend",
    "protocol",
    "connections",
    "connections_min",
    "connections_max",
    "pipeline",
    "request_bytes",
    "response_bytes",
    "work",
    "load",
    "options",
];

impl RawRule {
    /// The names of the fields given.
    fn given(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 23] = [
            ("name", self.name.is_some()),
            ("backend", self.backend.is_some()),
            ("protocol", self.protocol.is_some()),
            ("connections", self.connections.is_some()),
            ("connections_min", self.connections_min.is_some()),
            ("connections_max", self.connections_max.is_some()),
            ("pipeline", self.pipeline.is_some()),
            ("request_bytes", self.request_bytes.is_some()),
            ("response_bytes", self.response_bytes.is_some()),
            ("work", self.work.is_some()),
            ("load", self.load.is_some()),
            ("options", self.options.is_some()),
            ("ignore_options", self.ignore_options.is_some()),
            ("paired", self.paired.is_some()),
            ("metric", self.metric.is_some()),
            ("max_regression_pct", self.max_regression_pct.is_some()),
            ("versus", self.versus.is_some()),
            ("min_ratio", self.min_ratio.is_some()),
            ("max_ratio", self.max_ratio.is_some()),
            ("min_requests", self.min_requests.is_some()),
            ("max_errors", self.max_errors.is_some()),
            ("max_unanswered", self.max_unanswered.is_some()),
            ("complete", self.complete.is_some()),
        ];
        fields.into_iter().filter(|(_, given)| *given).map(|(name, _)| name).collect()
    }

    fn select(&self) -> Select {
        Select {
            backend: self.backend.clone(),
            protocol: self.protocol.map(|p| p.0),
            connections: self.connections,
            connections_min: self.connections_min,
            connections_max: self.connections_max,
            pipeline: self.pipeline,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            work: self.work.clone(),
            load: self.load.clone(),
            options: self.options.clone(),
        }
    }

    /// The rule of kind `kind`, or what is wrong with it.
    fn check(self, kind: &str) -> Result<(Select, Kind), String> {
        let own: &[&str] = match kind {
            "baseline" => &["metric", "max_regression_pct", "ignore_options", "paired"],
            "ratio" => &["metric", "versus", "min_ratio", "max_ratio"],
            _ => &["min_requests", "max_errors", "max_unanswered", "complete"],
        };
        if let Some(field) = self.given().into_iter().find(|f| !COMMON_FIELDS.contains(f) && !own.contains(f))
        {
            return Err(format!(
                "`{field}` is not a field of [[{kind}]] rules; theirs are {} and the selection",
                own.join(", ")
            ));
        }
        let missing = |what: &str| format!("a [[{kind}]] rule needs {what}");
        let select = self.select();
        let kind = match kind {
            "baseline" => {
                let metric = self.metric.ok_or_else(|| missing("`metric`"))?.0;
                let pct = self.max_regression_pct.ok_or_else(|| missing("`max_regression_pct`"))?;
                if !(pct.is_finite() && pct >= 0.0) {
                    return Err(format!("max_regression_pct = {pct}: it must be a percentage of 0 or more"));
                }
                Kind::Baseline {
                    metric,
                    max_regression_pct: pct,
                    ignore_options: self.ignore_options == Some(true),
                    paired: self.paired == Some(true),
                }
            }
            "ratio" => {
                let metric = self.metric.ok_or_else(|| missing("`metric`"))?.0;
                let backend = self.backend.ok_or_else(|| missing("`backend` (the one judged)"))?;
                let versus =
                    self.versus.ok_or_else(|| missing("`versus` (the backend it is measured against)"))?;
                if backend == versus {
                    return Err(format!(
                        "backend and versus are both `{backend}`: a ratio needs two backends"
                    ));
                }
                let bound = match (self.min_ratio, self.max_ratio) {
                    (Some(r), None) => Bound::AtLeast(r),
                    (None, Some(r)) => Bound::AtMost(r),
                    _ => return Err(missing("one of `min_ratio` or `max_ratio` (write two rules for both)")),
                };
                let (Bound::AtLeast(r) | Bound::AtMost(r)) = bound;
                if !(r.is_finite() && r > 0.0) {
                    return Err(format!("ratio {r}: it must be a positive number, e.g. 1.05"));
                }
                let select = Select { backend: None, ..select };
                return Ok((select, Kind::Ratio { metric, backend, versus, bound }));
            }
            _ => {
                if self.min_requests.is_none()
                    && self.max_errors.is_none()
                    && self.max_unanswered.is_none()
                    && self.complete.is_none()
                {
                    return Err(missing(
                        "at least one of min_requests, max_errors, max_unanswered, complete",
                    ));
                }
                if self.complete == Some(false) {
                    return Err("complete = false: a check cannot require a run cut short; write \
                                complete = true, or leave it out to allow either"
                        .to_string());
                }
                Kind::Check {
                    min_requests: self.min_requests,
                    max_errors: self.max_errors,
                    max_unanswered: self.max_unanswered,
                    complete: self.complete == Some(true),
                }
            }
        };
        Ok((select, kind))
    }
}

/// A metric name, checked as it is read, so an unknown one gets its line.
#[derive(Clone, Copy)]
struct MetricName(Metric);

impl<'de> Deserialize<'de> for MetricName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let names = || -> String {
            let names: Vec<&str> =
                Metric::ALL.iter().filter(|m| !m.informational()).map(|m| m.name()).collect();
            names.join(", ")
        };
        match Metric::parse(&s) {
            Some(m) if m.informational() => Err(serde::de::Error::custom(format!(
                "`{s}` is the load asked for, not an outcome, so no rule can pass or fail on it: judge \
                 throughput (or capacity) instead; metrics: {}",
                names()
            ))),
            Some(m) => Ok(MetricName(m)),
            None => {
                Err(serde::de::Error::custom(format!("unknown metric `{s}`: expected one of {}", names())))
            }
        }
    }
}

#[derive(Clone, Copy)]
struct ProtocolName(Protocol);

impl<'de> Deserialize<'de> for ProtocolName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(ProtocolName).map_err(serde::de::Error::custom)
    }
}

impl Rules {
    pub fn read(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            path: path.to_path_buf(),
            position: None,
            message: format!("cannot read the rules file ({e}): check the path given to --rules"),
        })?;
        Rules::parse(&text, path)
    }

    /// The rules of `text`, read from `path` (which errors name).
    pub fn parse(text: &str, path: &Path) -> Result<Rules, RulesError> {
        let error = |offset: Option<usize>, message: String| RulesError {
            path: path.to_path_buf(),
            position: offset.map(|o| line_column(text, o)),
            message,
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| error(e.span().map(|s| s.start), e.message().trim_end().to_string()))?;
        let mut rules = Vec::new();
        for (kind, list) in [("baseline", raw.baseline), ("ratio", raw.ratio), ("check", raw.check)] {
            for spanned in list {
                let start = spanned.span().start;
                let mut raw = spanned.into_inner();
                let name = raw.name.take();
                let (select, kind) = raw.check(kind).map_err(|m| error(Some(start), m))?;
                let line = line_column(text, start).0;
                rules.push(Rule { line, name, select, kind });
            }
        }
        if rules.is_empty() {
            return Err(error(
                None,
                "no rules: a gate that checks nothing would always pass; add [[baseline]], [[ratio]] or \
                 [[check]] rules (see scripts/gate-rules.example.toml)"
                    .to_string(),
            ));
        }
        // The file's order, which is the order they print in.
        rules.sort_by_key(|r| r.line);
        Ok(Rules { rules })
    }
}

/// The line and column (from 1) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

impl fmt::Display for Rule {
    /// What the rule asks, in words: `p99 must not rise more than 10% from
    /// the baseline [backend="io-uring" connections=500]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name:?}: ")?;
        }
        match &self.kind {
            Kind::Baseline { metric, max_regression_pct, ignore_options, paired } => {
                let verb = if metric.higher_is_better() { "fall" } else { "rise" };
                write!(f, "{metric} must not {verb} more than {max_regression_pct}% from the baseline")?;
                if *ignore_options {
                    write!(f, " (backend options ignored)")?;
                }
                if *paired {
                    write!(f, " (paired runs)")?;
                }
            }
            Kind::Ratio { metric, backend, versus, bound } => {
                let (at, r) = match bound {
                    Bound::AtLeast(r) => ("at least", r),
                    Bound::AtMost(r) => ("at most", r),
                };
                write!(f, "{metric} of {backend} must be {at} {r} x {versus}'s")?;
            }
            Kind::Check { min_requests, max_errors, max_unanswered, complete } => {
                let mut asks = Vec::new();
                if let Some(n) = min_requests {
                    asks.push(format!("requests >= {n}"));
                }
                if let Some(n) = max_errors {
                    asks.push(format!("errors <= {n}"));
                }
                if let Some(n) = max_unanswered {
                    asks.push(format!("unanswered connections <= {n}"));
                }
                if *complete {
                    asks.push("complete window".to_string());
                }
                write!(f, "every row: {}", asks.join(", "))?;
            }
        }
        write!(f, " [{}]", self.select)
    }
}

// ---------------- judging ----------------

/// How one workload (or one row, for checks) fared under one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    /// Passed, but could not have failed (too few runs), or a workload was
    /// missing from one side.
    Warn,
    Fail,
    /// The rule could not be judged: it matched no rows, or no values.
    Error,
}

/// One line of the gate's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub verdict: Verdict,
    pub text: String,
    /// The workload judged, or for a check the failing row's; none for a
    /// finding about the whole rule (it matched no rows).
    pub workload: Option<Workload>,
    /// A statistical judgement's figures (`[[baseline]]` and `[[ratio]]`).
    pub figures: Option<Figures>,
}

impl Finding {
    fn new(verdict: Verdict, text: String) -> Finding {
        Finding { verdict, text, workload: None, figures: None }
    }

    fn on(self, workload: &Workload) -> Finding {
        Finding { workload: Some(workload.clone()), ..self }
    }
}

/// The figures behind a statistical verdict, as `--format json` gives
/// them. The candidate is the side judged (the current results, or a ratio
/// rule's `backend`); the baseline what it is judged against (the
/// baseline's runs, or `versus`'s).
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub metric: Metric,
    pub baseline: f64,
    pub candidate: f64,
    /// The candidate's median against the baseline's, percent.
    pub delta_pct: f64,
    /// A ratio rule's candidate ÷ baseline.
    pub ratio: Option<f64>,
    /// The test's p-value, against the rule's limit.
    pub p: f64,
    pub n_baseline: usize,
    pub n_candidate: usize,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.verdict {
            Verdict::Pass => "PASS   ",
            Verdict::Warn => "WARNING",
            Verdict::Fail => "FAIL   ",
            Verdict::Error => "ERROR  ",
        };
        write!(f, "{word} {}", self.text)
    }
}

/// The outcome of a statistical comparison of two samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Medians of the judged side and of the side it is measured against.
    pub median: (f64, f64),
    pub n: (usize, usize),
    pub p: f64,
    /// Whether the medians are beyond the rule's limit.
    pub beyond: bool,
    /// Judged as pairs (signed-rank) rather than two samples (rank-sum).
    pub paired: bool,
}

impl Figures {
    /// A judgement's figures: the baseline's (or the other backend's)
    /// median against the candidate's, the change, p and the run counts.
    fn of(metric: Metric, j: &Judgement, ratio: Option<f64>) -> Figures {
        Figures {
            metric,
            baseline: j.median.1,
            candidate: j.median.0,
            delta_pct: change_pct(j.median.1, j.median.0),
            ratio,
            p: j.p,
            n_baseline: j.n.1,
            n_candidate: j.n.0,
        }
    }
}

impl Judgement {
    /// Fail needs both a significant difference and one beyond the limit;
    /// samples too small to ever be significant are a warning whatever they
    /// show.
    fn of(judged: &[f64], against: &[f64], beyond: bool) -> Judgement {
        let (n1, n2) = (judged.len(), against.len());
        let p = mann_whitney_p(judged, against).unwrap_or(1.0);
        let verdict = if !can_be_significant(n1, n2) {
            Verdict::Warn
        } else if beyond && p < ALPHA {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        Judgement {
            verdict,
            median: (median(judged), median(against)),
            n: (n1, n2),
            p,
            beyond,
            paired: false,
        }
    }

    /// Why it passed or warned, in a few words.
    fn reason(&self) -> String {
        match self.verdict {
            Verdict::Warn if self.paired => format!(
                "CANNOT FAIL: {} pairs can never be significant (the signed-rank test needs {MIN_PAIRS}); run \
                 more repetitions",
                self.n.0
            ),
            Verdict::Warn => format!(
                "CANNOT FAIL: {} against {} runs can never be significant (smallest p {:.3} >= {ALPHA}); \
                 run more repetitions (5 or more each)",
                self.n.0,
                self.n.1,
                smallest_p(self.n.0, self.n.1)
            ),
            Verdict::Fail => "significant and beyond the limit".to_string(),
            _ if !self.beyond => "within the limit".to_string(),
            _ => format!("beyond the limit but not significant (p >= {ALPHA})"),
        }
    }
}

/// Whether `n1` against `n2` runs can give p < ALPHA at all: the most
/// extreme split (every value of one side below every value of the other)
/// gives the smallest p there is.
pub fn can_be_significant(n1: usize, n2: usize) -> bool {
    n1 > 0 && n2 > 0 && smallest_p(n1, n2) < ALPHA
}

fn smallest_p(n1: usize, n2: usize) -> f64 {
    let low: Vec<f64> = (0..n1).map(|i| i as f64).collect();
    let high: Vec<f64> = (n1..n1 + n2).map(|i| i as f64).collect();
    mann_whitney_p(&low, &high).unwrap_or(1.0)
}

fn median(values: &[f64]) -> f64 {
    Summary::of(values).map_or(f64::NAN, |s| s.median)
}

/// Judge `current` against `baseline` for a metric where larger is better
/// or worse: a failure is `current` significantly worse than the baseline
/// moved by the limit (`max_pct` percent) — tested against the baseline so
/// scaled, as [`judge_ratio`] tests against its bound, so a real change
/// within the limit does not fail because noise pushed one median past it.
/// The judgement's medians are the current runs' and the unscaled
/// baseline's; its p is that of the test against the limit.
pub fn judge_regression(
    baseline: &[f64],
    current: &[f64],
    higher_is_better: bool,
    max_pct: f64,
) -> Judgement {
    let factor = if higher_is_better { 1.0 - max_pct / 100.0 } else { 1.0 + max_pct / 100.0 };
    let limit: Vec<f64> = baseline.iter().map(|v| v * factor).collect();
    let (mc, ml) = (median(current), median(&limit));
    let beyond = if higher_is_better { mc < ml } else { mc > ml };
    let mut j = Judgement::of(current, &limit, beyond);
    j.median.1 = median(baseline);
    j
}

/// [`judge_regression`] for runs that ran interleaved with the baseline's
/// (`paired = true`, `--paired`): the i-th current run against the i-th
/// baseline run moved by the limit, the Wilcoxon signed-rank test on the
/// logs of those ratios (drift that moves both runs of a pair alike
/// cancels). The sides must have as many runs each; a side with more has
/// its extra runs left out, and fewer than 6 pairs can never be
/// significant (a WARNING).
pub fn judge_regression_paired(
    baseline: &[f64],
    current: &[f64],
    higher_is_better: bool,
    max_pct: f64,
) -> Judgement {
    let factor = if higher_is_better { 1.0 - max_pct / 100.0 } else { 1.0 + max_pct / 100.0 };
    let n = baseline.len().min(current.len());
    let logs: Vec<f64> = (0..n)
        .filter(|&i| baseline[i] > 0.0 && current[i] > 0.0)
        .map(|i| (current[i] / (baseline[i] * factor)).ln())
        .collect();
    let mid = median(&logs);
    let beyond = if higher_is_better { mid < 0.0 } else { mid > 0.0 };
    let p = crate::stats::signed_rank_p(&logs).unwrap_or(1.0);
    let verdict = if logs.len() < MIN_PAIRS {
        Verdict::Warn
    } else if beyond && p < ALPHA {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Judgement {
        verdict,
        median: (median(&current[..n]), median(&baseline[..n])),
        n: (n, n),
        p,
        beyond,
        paired: true,
    }
}

/// The fewest pairs the signed-rank test can call significant at
/// [`ALPHA`] (6: the smallest two-sided p is 2/64 = 0.031; 5: 0.0625).
pub const MIN_PAIRS: usize = 6;

/// Judge `a` against `b` within one run: a failure is `a` significantly
/// beyond `bound` times `b` — tested as `a` against `b` scaled by the bound,
/// so "a differs from b" alone is not a failure, only "a misses r × b".
pub fn judge_ratio(a: &[f64], b: &[f64], bound: Bound) -> Judgement {
    let (r, at_least) = match bound {
        Bound::AtLeast(r) => (r, true),
        Bound::AtMost(r) => (r, false),
    };
    let scaled: Vec<f64> = b.iter().map(|v| v * r).collect();
    let (ma, ms) = (median(a), median(&scaled));
    let beyond = if at_least { ma < ms } else { ma > ms };
    let mut j = Judgement::of(a, &scaled, beyond);
    j.median.1 = median(b);
    j
}

/// The change from `from` to `to`, in percent of `from`.
fn change_pct(from: f64, to: f64) -> f64 {
    if from == to {
        0.0
    } else if from == 0.0 {
        f64::INFINITY.copysign(to)
    } else {
        (to - from) / from.abs() * 100.0
    }
}

/// A figure in 4 significant digits or so, without a needless exponent.
fn num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Throughput | Metric::Offered | Metric::Capacity => " req/s",
        Metric::P50 | Metric::P99 | Metric::P999 | Metric::ServerCpu => " us",
        Metric::ServerSwitches | Metric::ServerSyscalls => "",
    }
}

/// A workload's values of a metric, and how many of its rows had none.
#[derive(Default)]
struct Sample {
    values: Vec<f64>,
    missing: usize,
}

/// Rows that one workload key would pool although they ran with different
/// backend options (io-uring with and without `--sqpoll` in one cell, say):
/// their sample would mix two distributions, so the rule must not judge it.
fn pooled_options<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    key: impl Fn(&Row) -> Workload,
) -> Option<String> {
    let mut sets: BTreeMap<Workload, BTreeSet<&str>> = BTreeMap::new();
    for row in rows {
        sets.entry(key(row)).or_default().insert(&row.backend_options);
    }
    sets.into_iter().find(|(_, options)| options.len() > 1).map(|(w, options)| {
        let options: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
        format!(
            "ran {} with several option sets ({}): one sample would mix them; select one with \
             `options = \"...\"`, or keep them in separate files",
            w.short().trim_start(),
            options.join(", ")
        )
    })
}

fn samples<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    metric: Metric,
    key: impl Fn(&Row) -> Workload,
) -> BTreeMap<Workload, Sample> {
    let mut groups: BTreeMap<Workload, Sample> = BTreeMap::new();
    // A row of a kind the metric does not apply to (throughput of a
    // capacity search's result) is not a row without a value: it is left
    // out, workload and all.
    for row in rows.into_iter().filter(|r| metric.applies(r)) {
        let sample = groups.entry(key(row)).or_default();
        match metric.value(row) {
            Some(v) => sample.values.push(v),
            None => sample.missing += 1,
        }
    }
    groups
}

/// Why a sample has no values, if it has none.
fn no_values(side: &str, metric: Metric, s: &Sample) -> Option<String> {
    s.values.is_empty().then(|| {
        format!(
            "{side}: none of its {} rows has a {metric} value (incomplete runs, or the server's counters \
             were not measured)",
            s.missing
        )
    })
}

fn skipped(s: &Sample) -> String {
    if s.missing > 0 { format!(" ({} rows without a value skipped)", s.missing) } else { String::new() }
}

/// A finding about the whole rule that stops it being judged.
fn error(text: String) -> Vec<Finding> {
    vec![Finding::new(Verdict::Error, text)]
}

/// A `[[baseline]]` rule's verdict on one workload: the current sample `c`
/// against the baseline's `b`, with its figures and its line.
/// A `[[baseline]]` rule's limit: the metric, how far it may regress, and
/// whether the runs are judged as pairs.
#[derive(Clone, Copy, Debug)]
struct Limit {
    metric: Metric,
    max_regression_pct: f64,
    paired: bool,
}

fn regression_finding(w: &Workload, limit: Limit, b: &Sample, c: &Sample) -> Finding {
    let Limit { metric, max_regression_pct, paired } = limit;
    if paired && (b.missing > 0 || c.missing > 0 || b.values.len() != c.values.len()) {
        // Pairs are made by order: a run left out would pair every run
        // after it with the wrong partner.
        return Finding::new(
            Verdict::Error,
            format!(
                "{w}: {metric}: cannot judge as pairs: the baseline has {} runs with a figure ({} without), the \
                 current results {} ({} without); pairs need the same runs on both sides, every one measured \
                 (rerun, or judge without --paired)",
                b.values.len(),
                b.missing,
                c.values.len(),
                c.missing
            ),
        )
        .on(w);
    }
    let j = if paired {
        judge_regression_paired(&b.values, &c.values, metric.higher_is_better(), max_regression_pct)
    } else {
        judge_regression(&b.values, &c.values, metric.higher_is_better(), max_regression_pct)
    };
    let sign = if metric.higher_is_better() { "-" } else { "+" };
    let figures = Figures::of(metric, &j, None);
    Finding {
        verdict: j.verdict,
        workload: Some(w.clone()),
        figures: Some(figures),
        text: format!(
            "{w}: {metric} {} -> {}{} ({:+.1}%, limit {sign}{max_regression_pct}%), p={:.3}, \
             n={}/{}{}: {}",
            num(j.median.1),
            num(j.median.0),
            unit(metric),
            change_pct(j.median.1, j.median.0),
            j.p,
            j.n.1,
            j.n.0,
            skipped(c),
            j.reason()
        ),
    }
}

/// A `[[ratio]]` rule's verdict on one workload: `backend`'s sample
/// `a_sample` against `versus`'s `b_sample`, with its figures and its line.
fn ratio_finding(
    w: &Workload,
    metric: Metric,
    (backend, versus): (&str, &str),
    bound: Bound,
    a_sample: &Sample,
    b_sample: &Sample,
) -> Finding {
    let (r, relation) = match bound {
        Bound::AtLeast(r) => (r, "min"),
        Bound::AtMost(r) => (r, "max"),
    };
    let j = judge_ratio(&a_sample.values, &b_sample.values, bound);
    let ratio = if j.median.1 == 0.0 { change_pct(0.0, j.median.0) } else { j.median.0 / j.median.1 };
    let figures = Figures::of(metric, &j, Some(ratio));
    Finding {
        verdict: j.verdict,
        workload: Some(w.clone()),
        figures: Some(figures),
        text: format!(
            "{w}: {metric} {backend}/{versus} = {:.3} ({} / {}{}; {relation} {r}), p={:.3} \
             ({backend} vs {r} x {versus}), n={}/{}{}: {}",
            ratio,
            num(j.median.0),
            num(j.median.1),
            unit(metric),
            j.p,
            j.n.0,
            j.n.1,
            skipped(a_sample),
            j.reason()
        ),
    }
}

/// A `[[check]]` rule's limits.
struct CheckLimits {
    min_requests: Option<u64>,
    max_errors: Option<u64>,
    max_unanswered: Option<u64>,
    complete: bool,
}

/// A `[[check]]` rule: a failure per selected row that breaks a limit, or
/// one pass for them all.
fn evaluate_check(selected: &[&Row], limits: &CheckLimits) -> Vec<Finding> {
    if selected.is_empty() {
        return error("matches no rows: check the rule's selection against the CSV's columns".to_string());
    }
    let mut findings = Vec::new();
    for row in selected {
        let wrong = broken_limits(row, limits);
        if !wrong.is_empty() {
            let w = Workload::of(row);
            let text =
                format!("{w} (run {}, repetition {}): {}", row.run_id, row.repetition, wrong.join("; "));
            findings.push(Finding::new(Verdict::Fail, text).on(&w));
        }
    }
    if findings.is_empty() {
        let workloads: BTreeSet<Workload> = selected.iter().map(|r| Workload::of(r)).collect();
        findings.push(Finding::new(
            Verdict::Pass,
            format!("{} of {}", plural(selected.len(), "row"), plural(workloads.len(), "workload")),
        ));
    }
    findings
}

/// What a row breaks of a check's limits, each in words.
fn broken_limits(row: &Row, limits: &CheckLimits) -> Vec<String> {
    let errors = row.errors_total();
    let mut wrong = Vec::new();
    if let Some(min) = limits.min_requests.filter(|&m| row.requests < m) {
        wrong.push(format!("{} requests (min {min})", row.requests));
    }
    if let Some(max) = limits.max_errors.filter(|&m| errors > m) {
        wrong.push(format!(
            "{errors} errors (max {max}: connect {}, reset {}, timeout {}, bad response {}, http 3xx/4xx/5xx \
             {}/{}/{})",
            row.errors_connect,
            row.errors_reset,
            row.errors_timeout,
            row.errors_bad_response,
            row.errors_http_3xx,
            row.errors_http_4xx,
            row.errors_http_5xx
        ));
    }
    if let Some(max) = limits.max_unanswered.filter(|&m| row.conns_unanswered > m) {
        wrong.push(format!("{} unanswered connections (max {max})", row.conns_unanswered));
    }
    if limits.complete && !row.complete {
        wrong.push(format!("incomplete window ({})", row.note));
    }
    wrong
}

impl Rule {
    /// Judge the rule on `current` (and `baseline`, which a baseline rule
    /// needs): one finding per workload, or per failing row for a check.
    pub fn evaluate(&self, current: &[Row], baseline: Option<&[Row]>) -> Vec<Finding> {
        let selected: Vec<&Row> = current.iter().filter(|r| self.select.matches(r)).collect();
        match &self.kind {
            Kind::Baseline { metric, max_regression_pct, ignore_options, paired } => {
                let Some(baseline) = baseline else {
                    return error("needs a baseline: pass --baseline BASE.csv".to_string());
                };
                let base_selected: Vec<&Row> = baseline.iter().filter(|r| self.select.matches(r)).collect();
                let limit =
                    Limit { metric: *metric, max_regression_pct: *max_regression_pct, paired: *paired };
                self.evaluate_baseline(selected, base_selected, limit, *ignore_options)
            }
            Kind::Ratio { metric, backend, versus, bound } => {
                self.evaluate_ratio(&selected, *metric, backend, versus, *bound)
            }
            Kind::Check { min_requests, max_errors, max_unanswered, complete } => {
                let limits = CheckLimits {
                    min_requests: *min_requests,
                    max_errors: *max_errors,
                    max_unanswered: *max_unanswered,
                    complete: *complete,
                };
                evaluate_check(&selected, &limits)
            }
        }
    }

    /// A `[[baseline]]` rule: per workload (options left out of it if
    /// `ignore_options`), the current runs against the baseline's moved by
    /// the limit ([`judge_regression`]).
    fn evaluate_baseline(
        &self,
        selected: Vec<&Row>,
        base_selected: Vec<&Row>,
        limit: Limit,
        ignore_options: bool,
    ) -> Vec<Finding> {
        let Limit { metric, max_regression_pct, paired } = limit;
        if selected.is_empty() || base_selected.is_empty() {
            let side = if selected.is_empty() { "the current results" } else { "the baseline" };
            return error(format!(
                "matches no rows in {side}: check the rule's selection against the CSV's columns"
            ));
        }
        let key = |row: &Row| {
            let w = Workload::of(row);
            if ignore_options { Workload { backend_options: String::new(), ..w } } else { w }
        };
        for (side, rows) in [("the current results", &selected), ("the baseline", &base_selected)] {
            if let Some(message) = pooled_options(rows.iter().copied(), key) {
                return error(format!("in {side}, a backend {message}"));
            }
        }
        let cur = samples(selected, metric, key);
        let base = samples(base_selected, metric, key);
        self.judge_pairs(&base, &cur, "the baseline", "the current results", |w, b, c| {
            regression_finding(w, Limit { metric, max_regression_pct, paired }, b, c)
        })
    }

    /// A `[[ratio]]` rule: per workload without the backend, `backend`'s
    /// runs against `versus`'s scaled by the bound ([`judge_ratio`]).
    fn evaluate_ratio(
        &self,
        selected: &[&Row],
        metric: Metric,
        backend: &str,
        versus: &str,
        bound: Bound,
    ) -> Vec<Finding> {
        let of = |name: &str| -> BTreeMap<Workload, Sample> {
            samples(selected.iter().copied().filter(|r| r.backend == name), metric, |r| {
                Workload::of(r).without_backend()
            })
        };
        let (a, b) = (of(backend), of(versus));
        for name in [backend, versus] {
            let rows = selected.iter().copied().filter(|r| r.backend == *name);
            if let Some(message) = pooled_options(rows, |r| Workload::of(r).without_backend()) {
                return error(format!("`{name}` {message}"));
            }
        }
        for (name, side) in [(backend, &a), (versus, &b)] {
            if side.is_empty() {
                return error(format!(
                    "matches no rows of backend `{name}`: check the name (as the CSV's backend column \
                     writes it) and the selection"
                ));
            }
        }
        self.judge_pairs(&b, &a, versus, backend, |w, b_sample, a_sample| {
            ratio_finding(w, metric, (backend, versus), bound, a_sample, b_sample)
        })
    }

    /// Pair the workloads of two sides: judge those on both, warn about
    /// those on one, and make it an error if none is on both.
    fn judge_pairs(
        &self,
        against: &BTreeMap<Workload, Sample>,
        judged: &BTreeMap<Workload, Sample>,
        against_name: &str,
        judged_name: &str,
        judge: impl Fn(&Workload, &Sample, &Sample) -> Finding,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut paired = 0;
        let keys: BTreeSet<&Workload> = against.keys().chain(judged.keys()).collect();
        for w in keys {
            let finding = match (against.get(w), judged.get(w)) {
                (Some(b), Some(c)) => {
                    paired += 1;
                    let empty = no_values(against_name, self.metric(), b).or(no_values(
                        judged_name,
                        self.metric(),
                        c,
                    ));
                    match empty {
                        Some(why) => Finding::new(Verdict::Error, format!("{w}: {why}")).on(w),
                        None => judge(w, b, c),
                    }
                }
                (Some(_), None) => Finding::new(
                    Verdict::Warn,
                    format!("{w}: in {against_name} only, not in {judged_name}: not judged"),
                )
                .on(w),
                (None, _) => Finding::new(
                    Verdict::Warn,
                    format!("{w}: in {judged_name} only, not in {against_name}: not judged"),
                )
                .on(w),
            };
            findings.push(finding);
        }
        if paired == 0 {
            findings.push(Finding::new(
                Verdict::Error,
                format!(
                    "no workload is in both {against_name} and {judged_name}: nothing was compared (different \
                     connections, sizes or backend options? see ignore_options)"
                ),
            ));
        }
        findings
    }

    fn metric(&self) -> Metric {
        match self.kind {
            Kind::Baseline { metric, .. } | Kind::Ratio { metric, .. } => metric,
            Kind::Check { .. } => Metric::Throughput,
        }
    }
}

/// Counts of verdicts, and the exit status they make.
#[derive(Default)]
pub(crate) struct Tally {
    pass: usize,
    warn: usize,
    fail: usize,
    error: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Error => self.error += 1,
        }
    }

    /// [`exit::ERROR`] for errors (and warnings under `strict`), else
    /// [`exit::REGRESSION`] for failures, else [`exit::OK`]: a rule that
    /// could not be judged is worse than a failure, as it hides what it was
    /// meant to catch.
    fn exit_status(&self, strict: bool) -> u8 {
        if self.error > 0 || (strict && self.warn > 0) {
            exit::ERROR
        } else if self.fail > 0 {
            exit::REGRESSION
        } else {
            exit::OK
        }
    }

    /// The outcome in one word, as `--format json`'s `result` gives it.
    fn outcome(&self, strict: bool) -> &'static str {
        match self.exit_status(strict) {
            exit::OK if self.warn > 0 => "pass_with_warnings",
            exit::OK => "pass",
            exit::REGRESSION => "fail",
            _ => "error",
        }
    }

    fn summary(&self, rules: usize, strict: bool) -> String {
        let outcome = match self.outcome(strict) {
            "pass_with_warnings" => "passed, with WARNINGS",
            "pass" => "passed",
            "fail" => "FAILED",
            _ => "ERROR",
        };
        let strict_note = if strict && self.warn > 0 { " (--strict: warnings are errors)" } else { "" };
        format!(
            "gate {outcome}: {}; judged: {} passed, {} failed, {} warnings, {} errors{strict_note}",
            plural(rules, "rule"),
            self.pass,
            self.fail,
            self.warn,
            self.error
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paired_regressions_see_through_drift() {
        // Drift of ±20% from pair to pair, the same in both runs of a pair;
        // the current build 15% slower throughout.
        let drift = [1.0, 1.2, 0.8, 1.1, 0.9, 1.15, 0.85, 1.05];
        let base: Vec<f64> = drift.iter().map(|d| 100.0 * d).collect();
        let slower: Vec<f64> = drift.iter().map(|d| 85.0 * d).collect();
        let paired = judge_regression_paired(&base, &slower, true, 10.0);
        assert_eq!(paired.verdict, Verdict::Fail, "{paired:?}");
        let unpaired = judge_regression(&base, &slower, true, 10.0);
        assert_eq!(
            unpaired.verdict,
            Verdict::Pass,
            "the drift hides it from the rank-sum test: {unpaired:?}"
        );
        // The same build: no failure.
        let same = judge_regression_paired(&base, &base, true, 10.0);
        assert_eq!(same.verdict, Verdict::Pass);
        // 5 pairs can never fail.
        let few = judge_regression_paired(&base[..5], &slower[..5], true, 10.0);
        assert_eq!(few.verdict, Verdict::Warn);
        assert!(few.reason().contains("5 pairs"), "{}", few.reason());
    }

    use super::*;
    use crate::row::tests::clean;

    fn parse(text: &str) -> Result<Rules, RulesError> {
        Rules::parse(text, Path::new("rules.toml"))
    }

    #[test]
    fn rules_are_read_in_file_order_with_their_lines() {
        let text = "\
# comment
[[check]]
min_requests = 1
max_errors = 0
complete = true

[[baseline]]
name = \"io-uring tail\"
backend = \"io-uring\"
protocol = \"http\"
connections = 500
metric = \"p99\"
max_regression_pct = 10
ignore_options = true

[[ratio]]
metric = \"throughput\"
backend = \"io-uring\"
versus = \"epoll\"
min_ratio = 1.05
connections_min = 50
";
        let rules = parse(text).unwrap().rules;
        assert_eq!(rules.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 7, 16]);
        assert_eq!(
            rules[0].kind,
            Kind::Check { min_requests: Some(1), max_errors: Some(0), max_unanswered: None, complete: true }
        );
        assert_eq!(rules[0].select, Select::default());
        assert_eq!(rules[1].name.as_deref(), Some("io-uring tail"));
        assert_eq!(
            rules[1].kind,
            Kind::Baseline {
                metric: Metric::P99,
                max_regression_pct: 10.0,
                ignore_options: true,
                paired: false
            }
        );
        assert_eq!(
            rules[1].select,
            Select {
                backend: Some("io-uring".into()),
                protocol: Some(Protocol::Http),
                connections: Some(500),
                ..Select::default()
            }
        );
        assert_eq!(
            rules[2].kind,
            Kind::Ratio {
                metric: Metric::Throughput,
                backend: "io-uring".into(),
                versus: "epoll".into(),
                bound: Bound::AtLeast(1.05)
            }
        );
        assert_eq!(rules[2].select, Select { connections_min: Some(50), ..Select::default() });
        assert_eq!(
            rules[1].to_string(),
            "\"io-uring tail\": p99 must not rise more than 10% from the baseline (backend options ignored) \
             [backend=\"io-uring\" protocol=\"http\" connections=500]"
        );
        assert_eq!(
            rules[2].to_string(),
            "throughput of io-uring must be at least 1.05 x epoll's [connections>=50]"
        );
    }

    #[test]
    fn the_rules_files_in_scripts_are_valid() {
        for (text, rules) in [
            (include_str!("../../scripts/gate-rules.example.toml"), 5),
            (include_str!("../../scripts/smoke-rules.toml"), 1),
        ] {
            assert_eq!(parse(text).unwrap().rules.len(), rules);
        }
    }

    #[test]
    fn bad_rules_are_refused_with_their_line() {
        let base = "[[baseline]]\nmetric = \"p99\"\nmax_regression_pct = 10\n";
        for (text, line, message) in [
            ("[[baseline]\nmetric = 1\n", Some(1), "unclosed array table"),
            (
                "[[check]]\nmin_requests = 1\n\n[[baseline]]\nmetric = \"p98\"\n",
                Some(5),
                "unknown metric `p98`",
            ),
            ("[[check]]\nmin_requests = 1\nmax_error = 0\n", Some(3), "unknown field `max_error`"),
            ("[[baselines]]\n", Some(1), "unknown field `baselines`"),
            (
                "[[baseline]]\nmetric = \"offered\"\nmax_regression_pct = 5\n",
                Some(2),
                "`offered` is the load asked for, not an outcome",
            ),
            ("[[check]]\nmin_requests = \"1\"\n", Some(2), "invalid type"),
            ("[[check]]\nprotocol = \"ftp\"\nmin_requests = 1\n", Some(2), "unknown protocol `ftp`"),
            (
                "\n\n[[ratio]]\nmetric = \"p99\"\nbackend = \"a\"\nversus = \"b\"\n",
                Some(3),
                "`min_ratio` or `max_ratio`",
            ),
            (
                "[[ratio]]\nmetric = \"p99\"\nbackend = \"a\"\nversus = \"a\"\nmin_ratio = 1\n",
                Some(1),
                "both `a`",
            ),
            (
                "[[ratio]]\nmetric = \"p99\"\nbackend = \"a\"\nversus = \"b\"\nmax_ratio = -1\n",
                Some(1),
                "positive",
            ),
            ("[[ratio]]\nmetric = \"p99\"\nversus = \"b\"\nmin_ratio = 1\n", Some(1), "needs `backend`"),
            ("[[baseline]]\nmetric = \"p99\"\n", Some(1), "needs `max_regression_pct`"),
            ("[[check]]\ncomplete = false\n", Some(1), "complete = false"),
            ("[[baseline]]\nmetric = \"p99\"\nmax_regression_pct = -5\n", Some(1), "0 or more"),
            (
                "x = 1\n[[baseline]]\nmetric = \"p99\"\nmax_regression_pct = 10\nmin_ratio = 2\n",
                Some(1),
                "unknown field `x`",
            ),
            (&format!("{base}min_ratio = 2\n"), Some(1), "`min_ratio` is not a field of [[baseline]] rules"),
            ("\n[[check]]\nname = \"x\"\n", Some(2), "at least one of min_requests"),
            ("# nothing\n", None, "no rules"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.position.map(|p| p.0), line, "{text:?}: {e}");
            assert!(e.message.contains(message), "{text:?}: {e}");
            assert!(e.to_string().starts_with("rules.toml"), "{e}");
        }
        assert!(parse(base).is_ok());
    }

    fn row(backend: &str, connections: u32, throughput: f64, p99: f64) -> Row {
        Row { achieved_rate: throughput, lat_p99_us: p99, ..clean(backend, connections) }
    }

    #[test]
    fn selection_matches_every_field_given() {
        let r = row("epoll", 50, 1.0, 1.0);
        let yes = |s: Select| assert!(s.matches(&r), "{s}");
        let no = |s: Select| assert!(!s.matches(&r), "{s}");
        yes(Select::default());
        yes(Select { backend: Some("epoll".into()), protocol: Some(Protocol::Http), ..Select::default() });
        yes(Select { connections_min: Some(50), connections_max: Some(50), ..Select::default() });
        yes(Select { load: Some("closed".into()), work: Some("none".into()), ..Select::default() });
        yes(Select { options: Some(String::new()), request_bytes: Some(0), ..Select::default() });
        no(Select { backend: Some("io-uring".into()), ..Select::default() });
        no(Select { protocol: Some(Protocol::Rr), ..Select::default() });
        no(Select { connections: Some(500), ..Select::default() });
        no(Select { connections_min: Some(51), ..Select::default() });
        no(Select { connections_max: Some(49), ..Select::default() });
        no(Select { pipeline: Some(2), ..Select::default() });
        no(Select { options: Some("threads=1".into()), ..Select::default() });
        no(Select { response_bytes: Some(1), ..Select::default() });
    }

    const BASE5: [f64; 5] = [100.0, 102.0, 98.0, 101.0, 99.0];

    #[test]
    fn a_failure_needs_significance_and_an_effect_beyond_the_limit() {
        let times = |xs: &[f64], k: f64| xs.iter().map(|x| x * k).collect::<Vec<_>>();
        // 20% worse p99, 5 runs each: fails.
        let j = judge_regression(&BASE5, &times(&BASE5, 1.2), false, 10.0);
        assert_eq!((j.verdict, j.n), (Verdict::Fail, (5, 5)), "{j:?}");
        assert!(j.p < ALPHA);
        // The same with throughput falling 20%.
        assert_eq!(judge_regression(&BASE5, &times(&BASE5, 0.8), true, 10.0).verdict, Verdict::Fail);
        // ... but a throughput rising 20% is no regression.
        assert_eq!(judge_regression(&BASE5, &times(&BASE5, 1.2), true, 10.0).verdict, Verdict::Pass);
        // 20% worse with 3 runs each: can never be significant; warns.
        let j = judge_regression(&BASE5[..3], &times(&BASE5[..3], 1.2), false, 10.0);
        assert_eq!(j.verdict, Verdict::Warn, "{j:?}");
        assert!(j.beyond && j.reason().contains("CANNOT FAIL"), "{}", j.reason());
        // 3% worse, clearly different from the baseline, but within a 10%
        // limit: passes.
        let j = judge_regression(
            &BASE5,
            &times(&BASE5, 1.03).iter().map(|x| x + 3.0).collect::<Vec<_>>(),
            false,
            10.0,
        );
        assert!(!j.beyond && j.verdict == Verdict::Pass, "{j:?}");
        // About 10% lower throughput, the median just past a 10% limit by
        // noise: the change is real but not significantly beyond the limit.
        let j = judge_regression(
            &[100.0, 100.5, 101.0, 101.5, 102.0],
            &[89.9, 90.5, 90.6, 90.8, 91.4],
            true,
            10.0,
        );
        assert!(j.beyond && j.verdict == Verdict::Pass, "{j:?}");
        assert_eq!(j.median, (90.6, 101.0));
        // Noise without a shift: passes, even with a limit of 0.
        let noise = [99.0, 103.0, 97.0, 100.0, 102.0];
        let j = judge_regression(&BASE5, &noise, false, 0.0);
        assert!(j.p > ALPHA && j.verdict == Verdict::Pass, "{j:?}");
        // Beyond the limit but overlapping samples: not significant, passes.
        let j = judge_regression(
            &[100.0, 150.0, 90.0, 160.0, 95.0],
            &[130.0, 100.0, 170.0, 92.0, 140.0],
            false,
            5.0,
        );
        assert!(j.beyond && j.p > ALPHA && j.verdict == Verdict::Pass, "{j:?}");
        assert!(j.reason().contains("not significant"));
    }

    #[test]
    fn ratio_rules_test_a_against_b_scaled_by_the_bound() {
        let b = [100.0, 100.5, 99.5, 100.2, 99.8];
        let a: Vec<f64> = b.iter().map(|x| x * 1.02).collect();
        // a is 2% above b: clearly different from b, but the question is
        // whether it reaches 1.05 x b, and it is significantly below.
        let j = judge_ratio(&a, &b, Bound::AtLeast(1.05));
        assert_eq!(j.verdict, Verdict::Fail, "{j:?}");
        assert_eq!(j.median, (102.0, 100.0));
        // It does reach 1.01 x b.
        assert_eq!(judge_ratio(&a, &b, Bound::AtLeast(1.01)).verdict, Verdict::Pass);
        // At most: a latency 2% above b's breaks max_ratio 0.95 but not 1.1.
        assert_eq!(judge_ratio(&a, &b, Bound::AtMost(0.95)).verdict, Verdict::Fail);
        assert_eq!(judge_ratio(&a, &b, Bound::AtMost(1.1)).verdict, Verdict::Pass);
        // Overlapping noise around 1.05 x b: not significant either way.
        let around: Vec<f64> = [104.0, 107.0, 103.0, 106.0, 105.5].to_vec();
        assert_eq!(judge_ratio(&around, &b, Bound::AtLeast(1.05)).verdict, Verdict::Pass);
        assert_eq!(judge_ratio(&a[..3], &b[..3], Bound::AtLeast(1.05)).verdict, Verdict::Warn);
    }

    #[test]
    fn which_sample_sizes_can_be_significant() {
        for (n1, n2, can) in
            [(3, 3, false), (3, 4, false), (4, 4, true), (3, 5, true), (2, 2, false), (5, 5, true)]
        {
            assert_eq!(can_be_significant(n1, n2), can, "{n1} vs {n2}");
        }
        assert!(!can_be_significant(0, 10));
    }

    fn rule(text: &str) -> Rule {
        parse(text).unwrap().rules.remove(0)
    }

    fn rows(backend: &str, options: &str, throughputs: &[f64]) -> Vec<Row> {
        throughputs
            .iter()
            .map(|&t| Row { backend_options: options.into(), ..row(backend, 50, t, 1000.0 / t) })
            .collect()
    }

    #[test]
    fn baseline_rules_pair_workloads_and_may_ignore_options() {
        let rule_text = "[[baseline]]\nmetric = \"throughput\"\nmax_regression_pct = 10\n";
        let base = rows("epoll", "", &BASE5);
        let slow: Vec<f64> = BASE5.iter().map(|x| x * 0.8).collect();
        let cur = rows("epoll", "request_work=spin:900ns", &slow);
        // Different options: nothing pairs, which is an error, not a pass.
        let findings = rule(rule_text).evaluate(&cur, Some(&base));
        let verdicts: Vec<Verdict> = findings.iter().map(|f| f.verdict).collect();
        assert_eq!(verdicts, [Verdict::Warn, Verdict::Warn, Verdict::Error], "{findings:?}");
        // Ignoring options, the 20% fall is caught.
        let findings = rule(&format!("{rule_text}ignore_options = true\n")).evaluate(&cur, Some(&base));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].verdict, Verdict::Fail, "{}", findings[0]);
        assert!(findings[0].text.contains("(-20.0%, limit -10%)"), "{}", findings[0]);
        // A selection matching nothing is an error.
        let findings = rule(&format!("{rule_text}backend = \"epol\"\n")).evaluate(&cur, Some(&base));
        assert_eq!(findings[0].verdict, Verdict::Error);
        assert!(findings[0].text.contains("matches no rows"), "{}", findings[0]);
        // Incomplete rows have no value: an error, not a silent pass.
        let broken: Vec<Row> = base.iter().map(|r| Row { complete: false, ..r.clone() }).collect();
        let findings = rule(rule_text).evaluate(&broken, Some(&base));
        assert_eq!(findings[0].verdict, Verdict::Error, "{}", findings[0]);
    }

    #[test]
    fn ratio_rules_compare_backends_per_workload() {
        let text = "[[ratio]]\nmetric = \"throughput\"\nbackend = \"io-uring\"\nversus = \"epoll\"\nmin_ratio = 1.05\n";
        let fast: Vec<f64> = BASE5.iter().map(|x| x * 1.2).collect();
        let mut run = rows("epoll", "a=1", &BASE5);
        run.extend(rows("io-uring", "b=2", &fast));
        let findings = rule(text).evaluate(&run, None);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].verdict, Verdict::Pass, "{}", findings[0]);
        assert!(findings[0].text.contains("io-uring/epoll = 1.200"), "{}", findings[0]);
        let findings = rule(&text.replace("epoll", "thread-pool")).evaluate(&run, None);
        assert_eq!(findings[0].verdict, Verdict::Error);
        assert!(findings[0].text.contains("no rows of backend `thread-pool`"), "{}", findings[0]);
        // io-uring with two option sets in one workload: not one sample.
        run.extend(rows("io-uring", "sqpoll=1", &fast));
        let findings = rule(text).evaluate(&run, None);
        assert_eq!(findings[0].verdict, Verdict::Error, "{}", findings[0]);
        assert!(findings[0].text.contains("several option sets (`b=2`, `sqpoll=1`)"), "{}", findings[0]);
        let findings = rule(&format!("{text}options = \"b=2\"\n")).evaluate(&run, None);
        assert!(findings[0].text.contains("no rows of backend `epoll`"), "selects both: {}", findings[0]);
    }

    /// Capacity rows: a ratio of capacities between backends; throughput
    /// rules leave them out rather than count them as rows without a value.
    #[test]
    fn capacity_rows_are_judged_on_capacity_only() {
        let capacity = |backend: &str, values: &[f64]| -> Vec<Row> {
            rows(backend, "", values)
                .into_iter()
                .map(|r| Row {
                    phase: crate::Phase::Capacity,
                    slo: "p99<=1000us".into(),
                    mode: crate::Mode::Open,
                    target_rate: r.achieved_rate,
                    ..r
                })
                .collect()
        };
        let fast: Vec<f64> = BASE5.iter().map(|x| x * 1.2).collect();
        let mut run = capacity("epoll", &BASE5);
        run.extend(capacity("io-uring", &fast));
        let text = "[[ratio]]\nmetric = \"capacity\"\nbackend = \"io-uring\"\nversus = \"epoll\"\nmin_ratio = 1.05\n";
        let findings = rule(text).evaluate(&run, None);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].verdict, Verdict::Pass, "{}", findings[0]);
        assert!(
            findings[0].text.contains("capacity p99<=1000us: capacity io-uring/epoll = 1.200"),
            "{}",
            findings[0]
        );
        // Plain runs beside them: a throughput rule judges those alone.
        run.extend(rows("epoll", "", &BASE5));
        run.extend(rows("io-uring", "", &fast));
        let findings = rule(&text.replace("capacity", "throughput")).evaluate(&run, None);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].verdict, Verdict::Pass, "{}", findings[0]);
        let findings = rule(text).evaluate(&run, None);
        assert_eq!(findings.len(), 1, "{findings:?}");

        let mut left_out = Vec::new();
        let mut probes = rows("epoll", "", &BASE5);
        probes[0].phase = crate::Phase::Probe;
        assert_eq!(crate::workload::without_probes(probes.clone(), false, &mut left_out).len(), 4);
        assert_eq!(crate::workload::without_probes(probes, true, &mut left_out).len(), 5);
        assert_eq!(
            crate::workload::probes_note(&left_out).unwrap(),
            "left out 1 probe row (phase = probe: runs a capacity search made only to find the capacity); \
             --with-probes keeps them"
        );
    }

    /// Counting runs (phase `count`): in the workload of the runs they
    /// count for, judged on the system calls alone, never a pair's partner.
    #[test]
    fn counting_runs_are_judged_on_the_system_calls_only() {
        let count = |backend: &str, calls: f64| Row {
            phase: crate::Phase::Count,
            server_syscalls: Some(calls),
            server_syscalls_by_name: format!("read={calls}"),
            // Slowed by counting: a throughput no rule may see.
            ..row(backend, 50, 1.0, 1e6)
        };
        let drift = [1.0, 1.2, 0.8, 1.1, 0.9, 1.15, 0.85, 1.05];
        let base_rates: Vec<f64> = drift.iter().map(|d| 100.0 * d).collect();
        let slower: Vec<f64> = drift.iter().map(|d| 85.0 * d).collect();
        // The baseline counted in every run (no counting run); the current
        // results once, in a counting run made first.
        let base = rows("epoll", "", &base_rates);
        let mut cur = vec![count("epoll", 2.0)];
        cur.extend(rows("epoll", "", &slower));
        let text = "[[baseline]]\nmetric = \"throughput\"\nmax_regression_pct = 10\npaired = true\n";
        let findings = rule(text).evaluate(&cur, Some(&base));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].verdict, Verdict::Fail, "{}", findings[0]);
        let f = findings[0].figures.as_ref().unwrap();
        assert_eq!((f.n_baseline, f.n_candidate), (8, 8), "{}", findings[0]);
        // Unpaired, the counting run is not a slow run either.
        let findings = rule(&text.replace("paired = true\n", "")).evaluate(&cur, Some(&base));
        let f = findings[0].figures.as_ref().unwrap();
        assert_eq!((f.n_baseline, f.n_candidate), (8, 8), "{}", findings[0]);
        assert!(!findings[0].text.contains("without a value"), "{}", findings[0]);

        // The system calls: from the counting runs (the runs counted none).
        let mut run = vec![count("epoll", 2.0), count("io-uring", 0.05)];
        run.extend(rows("epoll", "", &BASE5));
        run.extend(rows("io-uring", "", &BASE5));
        let text = "[[ratio]]\nmetric = \"server_syscalls\"\nbackend = \"io-uring\"\nversus = \"epoll\"\nmax_ratio = 0.5\n";
        let findings = rule(text).evaluate(&run, None);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = findings[0].figures.as_ref().unwrap();
        assert_eq!(
            (f.baseline, f.candidate, f.n_baseline, f.n_candidate),
            (2.0, 0.05, 1, 1),
            "{}",
            findings[0]
        );
        // Throughput ratios see the runs alone.
        let findings = rule(
            &text.replace("server_syscalls", "throughput").replace("max_ratio = 0.5", "min_ratio = 0.9"),
        )
        .evaluate(&run, None);
        let f = findings[0].figures.as_ref().unwrap();
        assert_eq!((f.n_baseline, f.n_candidate, f.ratio), (5, 5, Some(1.0)), "{}", findings[0]);
    }

    #[test]
    fn checks_report_each_bad_row() {
        let text = "[[check]]\nmin_requests = 1\nmax_errors = 0\ncomplete = true\n";
        let good = rows("epoll", "", &BASE5);
        assert_eq!(rule(text).evaluate(&good, None)[0].verdict, Verdict::Pass);
        let mut bad = good.clone();
        bad[1].requests = 0;
        bad[3].errors_reset = 2;
        bad[4].complete = false;
        let findings = rule(text).evaluate(&bad, None);
        assert_eq!(findings.iter().filter(|f| f.verdict == Verdict::Fail).count(), 3, "{findings:?}");
        assert!(findings[1].text.contains("2 errors (max 0"), "{}", findings[1]);
        assert_eq!(
            rule(&format!("{text}protocol = \"rr\"\n")).evaluate(&good, None)[0].verdict,
            Verdict::Error
        );
    }

    #[test]
    fn exit_status_from_verdicts() {
        let mut t = Tally::default();
        t.add(Verdict::Pass);
        t.add(Verdict::Warn);
        assert_eq!((t.exit_status(false), t.exit_status(true)), (0, 1));
        t.add(Verdict::Fail);
        assert_eq!(t.exit_status(false), 4);
        t.add(Verdict::Error);
        assert_eq!(t.exit_status(false), 1);
    }
}
