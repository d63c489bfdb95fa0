//! `compare --format json`: the figures of the tables as one JSON document
//! for scripts, so that none parses the text. It draws from the same
//! [`tabulate`] as the text, markdown and CSV, so they cannot disagree; its
//! fields are documented in [`FIELDS`], which `compare --help` prints.

use serde::Serialize;

use super::{Geomean, Report, Section, tabulate};
use crate::stats::ALPHA;
use crate::workload::{Metric, Workload};

/// The fields, for `compare --help`.
pub(super) const FIELDS: &str = "\
--format json: one document:
  paired       whether --paired was given (delta and p are then the paired figures)
  alpha        the significance level p is judged against (0.05)
  notes        every note the text prints (runs left out, workloads missing from a side, ...)
  sections     one per comparison (one per file with --across):
    within     with --across: the file compared within; null otherwise
    heading    what the section compares, as the text's heading
    sides      the side labels, the baseline first
    metrics    one per metric that some workload has a figure for:
      metric, title, higher_is_better  its name, its heading with the unit, and its direction
                   (null for offered, a setting)
      workloads    one per workload (row of the table):
        workload       the workload in few words, as the table names it
        fields         backend (empty with --across), backend_options, protocol, connections,
                       pipeline, load, request_bytes, response_bytes, work
        sides          one per side, in the order of `sides`:
          side, median, ci_low, ci_high, n   as the CSV format's columns (null where there is
                         no figure or too few runs for an interval)
          delta_pct, p, significant          against the baseline (null on the baseline side)
          can_be_significant                 false when the two sides have too few runs for
                         p < alpha at all (the text's ¹); null on the baseline side
      geomean      per side after the baseline with a geomean line: side, baseline (the
                   baseline's geomean over the workloads both have), value, delta_pct";

#[derive(Serialize)]
struct Document<'a> {
    paired: bool,
    alpha: f64,
    notes: Vec<String>,
    sections: Vec<SectionOut<'a>>,
}

#[derive(Serialize)]
struct SectionOut<'a> {
    within: Option<&'a str>,
    heading: &'a str,
    sides: &'a [String],
    metrics: Vec<MetricOut<'a>>,
}

#[derive(Serialize)]
struct MetricOut<'a> {
    metric: &'static str,
    title: &'static str,
    higher_is_better: Option<bool>,
    workloads: Vec<WorkloadOut<'a>>,
    geomean: Vec<GeomeanOut<'a>>,
}

#[derive(Serialize)]
struct WorkloadOut<'a> {
    workload: String,
    fields: Option<Workload>,
    sides: Vec<SideOut<'a>>,
}

#[derive(Serialize)]
struct SideOut<'a> {
    side: &'a str,
    median: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    n: usize,
    delta_pct: Option<f64>,
    p: Option<f64>,
    significant: Option<bool>,
    can_be_significant: Option<bool>,
}

#[derive(Serialize)]
struct GeomeanOut<'a> {
    side: &'a str,
    baseline: f64,
    value: f64,
    delta_pct: f64,
}

/// The whole comparison as one pretty-printed document, with a final
/// newline.
pub(super) fn document(report: &Report, metrics: &[Metric]) -> String {
    let doc = Document {
        paired: report.sections.iter().any(|s| s.paired),
        alpha: ALPHA,
        notes: super::render::notes(report),
        sections: report.sections.iter().map(|s| section(s, metrics)).collect(),
    };
    // Strings and numbers only (NaN never reaches here: `Summary::of`
    // refuses it), so serialising cannot fail.
    serde_json::to_string_pretty(&doc).expect("a comparison serialises") + "\n"
}

fn section<'a>(section: &'a Section, metrics: &[Metric]) -> SectionOut<'a> {
    let mut out = Vec::new();
    for &metric in metrics {
        if section.sides.is_empty() {
            break;
        }
        let table = tabulate(section, metric);
        if !table.has_values() {
            continue;
        }
        // The table's lines are the section's lines that the metric applies
        // to, in order: find each one's rows by its label.
        let workloads = table
            .lines
            .iter()
            .map(|line| {
                let first = section
                    .lines
                    .iter()
                    .find(|l| l.label == line.label)
                    .and_then(|l| l.runs.iter().flatten().next());
                let fields = first.map(|row| {
                    let w = Workload::of(row);
                    if section.within.is_some() { w.without_backend() } else { w }
                });
                let sides = section
                    .sides
                    .iter()
                    .enumerate()
                    .map(|(i, side)| {
                        let cell = line.cells[i];
                        let versus = line.versus[i];
                        SideOut {
                            side,
                            median: cell.map(|c| c.median),
                            ci_low: cell.and_then(|c| c.ci).map(|ci| ci.0),
                            ci_high: cell.and_then(|c| c.ci).map(|ci| ci.1),
                            n: cell.map_or(0, |c| c.n),
                            delta_pct: versus.and_then(|v| v.delta).map(|d| d * 100.0),
                            p: versus.and_then(|v| v.p),
                            significant: versus.map(|v| v.significant()),
                            can_be_significant: versus.map(|v| v.can_be_significant),
                        }
                    })
                    .collect();
                WorkloadOut { workload: line.label.clone(), fields, sides }
            })
            .collect();
        let geomean = table
            .geomeans
            .iter()
            .enumerate()
            .filter_map(|(i, g)| match g {
                Geomean::Of { base, this, .. } => Some(GeomeanOut {
                    side: &section.sides[i + 1],
                    baseline: *base,
                    value: *this,
                    delta_pct: (this / base - 1.0) * 100.0,
                }),
                Geomean::TooFew | Geomean::NotPositive => None,
            })
            .collect();
        out.push(MetricOut {
            metric: metric.name(),
            title: metric.title(),
            higher_is_better: (!metric.informational()).then(|| metric.higher_is_better()),
            workloads,
            geomean,
        });
    }
    SectionOut {
        within: section.within.as_deref(),
        heading: &section.heading,
        sides: &section.sides,
        metrics: out,
    }
}
