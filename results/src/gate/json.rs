//! `gate --format json`: the same verdicts as the text, as one JSON
//! document for scripts (`scripts/gate-experiment.sh` reads it), so no
//! script parses the prose. Its fields are documented in [`FIELDS`], which
//! `gate --help` prints.

use serde::Serialize;

use super::{Finding, Kind, Rule, Tally, Verdict};
use crate::workload::Workload;

/// The fields, for `gate --help`.
pub(super) const FIELDS: &str = "\
--format json: one document (the exit status is the same as with text; an error before any rule
is judged, such as a bad rules file or CSV, prints its message on stderr and no document):
  result       pass, pass_with_warnings, fail or error (the verdict the exit status gives)
  exit_status  0, 4 (a rule failed) or 1 (error; with --strict also a warning)
  strict       whether --strict was given
  counts       judgements by verdict: pass, fail, warning, error
  notes        the lines the text prints before the rules (probe rows left out, machines)
  rules        one object per rule, in the file's order:
    rule, line, name       its number, its line in the rules file, its name (or null)
    kind, metric           baseline, ratio or check; the metric judged (null for a check)
    description            the rule in words, as the text prints it
    findings               one per workload judged (a check: one per failing row, or one pass):
      verdict              pass, warning, fail or error
      workload             backend, backend_options, protocol, connections, pipeline, load,
                           request_bytes, response_bytes, work (null for a whole-rule error)
      workload_label       the workload in few words, as the text names it
      baseline, candidate  medians of the side judged against (the baseline's runs, or a ratio
                           rule's versus) and of the side judged (current, or its backend);
                           null where not judged statistically
      delta_pct            candidate against baseline, percent
      ratio                candidate / baseline (ratio rules)
      p                    the test's p-value, against the rule's limit
      n_baseline, n_candidate  runs on each side
      text                 the finding's line as the text prints it, without the verdict";

#[derive(Serialize)]
struct Report<'a> {
    result: &'static str,
    exit_status: u8,
    strict: bool,
    counts: Counts,
    notes: Vec<String>,
    rules: Vec<RuleOut<'a>>,
}

#[derive(Serialize)]
struct Counts {
    pass: usize,
    fail: usize,
    warning: usize,
    error: usize,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    rule: usize,
    line: usize,
    name: Option<&'a str>,
    kind: &'static str,
    metric: Option<&'static str>,
    description: String,
    findings: Vec<FindingOut<'a>>,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    verdict: &'static str,
    workload: Option<&'a Workload>,
    workload_label: Option<String>,
    baseline: Option<f64>,
    candidate: Option<f64>,
    delta_pct: Option<f64>,
    ratio: Option<f64>,
    p: Option<f64>,
    n_baseline: Option<usize>,
    n_candidate: Option<usize>,
    text: &'a str,
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warning",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    }
}

/// The whole report: every rule with its findings, and the outcome.
pub(super) fn report(
    judged: &[(&Rule, Vec<Finding>)],
    tally: &Tally,
    strict: bool,
    notes: Vec<String>,
) -> String {
    let rules = judged
        .iter()
        .enumerate()
        .map(|(i, (rule, findings))| {
            let (kind, metric) = match &rule.kind {
                Kind::Baseline { metric, .. } => ("baseline", Some(metric.name())),
                Kind::Ratio { metric, .. } => ("ratio", Some(metric.name())),
                Kind::Check { .. } => ("check", None),
            };
            RuleOut {
                rule: i + 1,
                line: rule.line,
                name: rule.name.as_deref(),
                kind,
                metric,
                description: rule.to_string(),
                findings: findings.iter().map(finding).collect(),
            }
        })
        .collect();
    let report = Report {
        result: tally.outcome(strict),
        exit_status: tally.exit_status(strict),
        strict,
        counts: Counts { pass: tally.pass, fail: tally.fail, warning: tally.warn, error: tally.error },
        notes,
        rules,
    };
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&report).expect("a gate report serialises") + "\n"
}

fn finding(f: &Finding) -> FindingOut<'_> {
    let fig = f.figures.as_ref();
    FindingOut {
        verdict: verdict(f.verdict),
        workload: f.workload.as_ref(),
        workload_label: f.workload.as_ref().map(Workload::short),
        baseline: fig.map(|x| x.baseline),
        candidate: fig.map(|x| x.candidate),
        delta_pct: fig.map(|x| x.delta_pct),
        ratio: fig.and_then(|x| x.ratio),
        p: fig.map(|x| x.p),
        n_baseline: fig.map(|x| x.n_baseline),
        n_candidate: fig.map(|x| x.n_candidate),
        text: &f.text,
    }
}
