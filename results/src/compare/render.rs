//! Lays out what `compare` computed: aligned text, markdown pipe tables, or
//! long-format CSV. Nothing here computes a statistic; the three formats
//! draw the same [`Grid`] (text and markdown) or the same figures (CSV), so
//! they cannot disagree.

use std::fmt::Write as _;

use super::{Geomean, MetricTable, Report, Section, TableLine, tabulate};
use crate::workload::Metric;

/// Fewer runs than this on a side and no difference can be significant at
/// α = 0.05 (3 against 3 gives at best p = 0.1; 4 against 4, 0.029).
const FEW_RUNS: usize = 4;

const FEW_MARK: &str = "¹";

/// Aligned text tables, one per metric of each section.
pub(super) fn text(report: &Report, metrics: &[Metric]) -> String {
    let mut out = String::new();
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for (i, section) in report.sections.iter().enumerate() {
        if i > 0 || !report.notes.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", section.heading);
        for note in &section.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if section.sides.is_empty() {
            continue;
        }
        for &metric in metrics {
            let table = tabulate(section, metric);
            let _ = writeln!(out, "\n{}", title(metric));
            if !table.has_values() {
                let _ = writeln!(out, "no run has this figure");
                continue;
            }
            let grid = Grid::of(section, &table);
            out.push_str(&grid.text());
            for note in &grid.notes {
                let _ = writeln!(out, "{note}");
            }
        }
    }
    out
}

/// Markdown: a `##` heading per section, a `###` heading and a pipe table
/// per metric, notes as lists.
pub(super) fn markdown(report: &Report, metrics: &[Metric]) -> String {
    let mut out = String::new();
    for note in &report.notes {
        let _ = writeln!(out, "- {}", escape(note));
    }
    for (i, section) in report.sections.iter().enumerate() {
        if i > 0 || !report.notes.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "## {}", escape(&section.heading));
        if !section.notes.is_empty() {
            out.push('\n');
        }
        for note in &section.notes {
            let _ = writeln!(out, "- {}", escape(note));
        }
        if section.sides.is_empty() {
            continue;
        }
        for &metric in metrics {
            let table = tabulate(section, metric);
            let _ = writeln!(out, "\n### {}\n", escape(&title(metric)));
            if !table.has_values() {
                let _ = writeln!(out, "No run has this figure.");
                continue;
            }
            let grid = Grid::of(section, &table);
            out.push_str(&grid.markdown());
            if !grid.notes.is_empty() {
                out.push('\n');
            }
            for note in &grid.notes {
                let _ = writeln!(out, "- {}", escape(note));
            }
        }
    }
    out
}

/// The columns of the CSV format, documented in `compare --help`.
pub(super) const CSV_COLUMNS: [&str; 11] = [
    "metric",
    "within",
    "workload",
    "side",
    "median",
    "ci_low",
    "ci_high",
    "n",
    "delta_pct",
    "p_value",
    "significant",
];

/// Long-format CSV: a row per (metric, workload, side), and `geomean`
/// rows where the table has a geomean line: the baseline's (its median
/// empty if the sides' lines cover different workloads) and one per side
/// that has a geomean against it. Numbers in full
/// precision; an empty cell where there is no figure.
pub(super) fn csv(report: &Report, metrics: &[Metric]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut record = |cells: [String; 11]| {
        // Into a Vec, writing strings cannot fail.
        writer.write_record(&cells).expect("CSV record into a Vec");
    };
    record(CSV_COLUMNS.map(String::from));
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for section in &report.sections {
        let within = section.within.clone().unwrap_or_default();
        for &metric in metrics {
            let table = tabulate(section, metric);
            if !table.has_values() {
                continue;
            }
            for line in &table.lines {
                for (side, label) in section.sides.iter().enumerate() {
                    let cell = line.cells[side];
                    let versus = line.versus[side];
                    record([
                        metric.name().into(),
                        within.clone(),
                        line.label.clone(),
                        label.clone(),
                        num(cell.map(|c| c.median)),
                        num(cell.and_then(|c| c.ci).map(|ci| ci.0)),
                        num(cell.and_then(|c| c.ci).map(|ci| ci.1)),
                        cell.map_or(0, |c| c.n).to_string(),
                        num(versus.and_then(|v| v.delta).map(|d| d * 100.0)),
                        num(versus.and_then(|v| v.p)),
                        versus.map_or_else(String::new, |v| v.significant().to_string()),
                    ]);
                }
            }
            if table.geomeans.iter().any(|g| matches!(g, Geomean::Of { .. })) {
                let geomean_row = |side: usize, median: Option<f64>, delta: Option<f64>| {
                    [
                        metric.name().into(),
                        within.clone(),
                        "geomean".into(),
                        section.sides[side].clone(),
                        num(median),
                        String::new(),
                        String::new(),
                        String::new(),
                        num(delta.map(|d| d * 100.0)),
                        String::new(),
                        String::new(),
                    ]
                };
                record(geomean_row(0, table.base_geomean(), None));
                for (i, g) in table.geomeans.iter().enumerate() {
                    if let Geomean::Of { this, .. } = g {
                        record(geomean_row(i + 1, Some(*this), g.delta()));
                    }
                }
            }
        }
    }
    let bytes = writer.into_inner().expect("flush into a Vec");
    String::from_utf8(bytes).expect("the CSV writer writes the UTF-8 it was given")
}

/// Every note of the report, for formats (CSV) whose output has no room
/// for them.
pub(super) fn notes(report: &Report) -> Vec<String> {
    let mut notes = report.notes.clone();
    for section in &report.sections {
        notes.extend(section.notes.iter().cloned());
    }
    notes
}

fn title(metric: Metric) -> String {
    if metric.informational() {
        return format!("{}; a setting, neither better nor worse", metric.title());
    }
    let better = if metric.higher_is_better() { "higher" } else { "lower" };
    format!("{}; {better} is better", metric.title())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Align {
    Left,
    Right,
}

/// A column group: its label and how many columns it spans.
type Group = (String, usize);

/// A column: its heading and alignment.
type Column = (&'static str, Align);

/// A metric's table as cells: column groups (a label and how many columns
/// it spans), columns, rows, and the notes to print under it.
#[derive(Debug)]
struct Grid {
    groups: Vec<Group>,
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

/// Which marks a grid's cells use, for the notes that explain them.
#[derive(Default)]
struct Marks {
    /// `¹`: too few runs to be significant.
    few: bool,
    /// `±∞`: too few runs for an interval.
    no_interval: bool,
    /// `—`: no run on that side.
    missing: bool,
}

impl Grid {
    /// The grid of one metric's table: the layout ([`Grid::layout`]), a
    /// row per workload ([`line_cells`]), the geomean row
    /// ([`geomean_cells`]), then the notes in order: the geomean's
    /// ([`geomean_notes`]), pairing ([`paired_notes`]) and the marks used
    /// ([`Marks::notes`]).
    fn of(section: &Section, table: &MetricTable) -> Grid {
        let (groups, columns) = Grid::layout(section);
        let mut marks = Marks::default();
        let mut rows: Vec<Vec<String>> =
            table.lines.iter().map(|line| line_cells(line, &mut marks)).collect();
        if table.geomeans.iter().any(|g| matches!(g, Geomean::Of { .. })) {
            rows.push(geomean_cells(table));
        }
        let mut notes = geomean_notes(section, table);
        notes.extend(paired_notes(section));
        notes.extend(marks.notes(section.paired));
        Grid { groups, columns, rows, notes }
    }

    /// The column groups (a label and how many columns it spans) and the
    /// columns: the workload, then per side its median, interval and n,
    /// and after the baseline the delta and p.
    fn layout(section: &Section) -> (Vec<Group>, Vec<Column>) {
        let mut groups = vec![(String::new(), 1)];
        let mut columns = vec![("workload", Align::Left)];
        for (side, label) in section.sides.iter().enumerate() {
            let mut these = vec![("median", Align::Right), ("±", Align::Right), ("n", Align::Right)];
            if side > 0 {
                these.extend([("delta", Align::Right), ("p", Align::Right)]);
            }
            groups.push((label.clone(), these.len()));
            columns.extend(these);
        }
        (groups, columns)
    }

    /// Columns padded to their widths, groups apart by ` │ `, a group's
    /// label over its columns.
    fn text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| width(name)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        // A group label wider than its columns widens the last of them.
        let mut first = 0;
        for (label, span) in &self.groups {
            let have: usize = widths[first..first + span].iter().sum::<usize>() + 2 * (span - 1);
            if width(label) > have {
                widths[first + span - 1] += width(label) - have;
            }
            first += span;
        }

        let pad = |s: &str, w: usize, align: Align| {
            let fill = " ".repeat(w.saturating_sub(width(s)));
            if align == Align::Left { format!("{s}{fill}") } else { format!("{fill}{s}") }
        };
        let line = |cells: &[String]| {
            let mut parts = Vec::new();
            let mut first = 0;
            for (_, span) in &self.groups {
                let group: Vec<String> =
                    (first..first + span).map(|c| pad(&cells[c], widths[c], self.columns[c].1)).collect();
                parts.push(group.join("  "));
                first += span;
            }
            let mut s = parts.join(" │ ");
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };

        let mut out = String::new();
        let mut first = 0;
        let mut labels = Vec::new();
        for (label, span) in &self.groups {
            let w: usize = widths[first..first + span].iter().sum::<usize>() + 2 * (span - 1);
            labels.push(pad(label, w, Align::Left));
            first += span;
        }
        let mut s = labels.join(" │ ");
        s.truncate(s.trim_end().len());
        out.push_str(&s);
        out.push('\n');
        out.push_str(&line(&self.columns.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>()));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// A pipe table; a column's heading is its group's label and its name.
    fn markdown(&self) -> String {
        let mut headings = Vec::new();
        for (label, span) in &self.groups {
            let at = headings.len();
            for (name, _) in &self.columns[at..at + span] {
                headings.push(if label.is_empty() { name.to_string() } else { format!("{label} {name}") });
            }
        }
        let row = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = row(&headings);
        let rule: Vec<&str> =
            self.columns.iter().map(|(_, a)| if *a == Align::Left { ":---" } else { "---:" }).collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for r in &self.rows {
            out.push_str(&row(r));
        }
        out
    }
}

/// A workload's cells: per side its median, interval and n (`—` if it has
/// no value), and after the baseline the delta (`~` within the noise) and
/// p; the marks used are set in `marks`.
fn line_cells(line: &TableLine, marks: &mut Marks) -> Vec<String> {
    let TableLine { label, cells, versus } = line;
    let mut row = vec![label.clone()];
    for (side, cell) in cells.iter().enumerate() {
        match cell {
            Some(s) => {
                row.push(number(s.median));
                row.push(match (s.ci, s.ci_relative()) {
                    (None, _) => {
                        marks.no_interval = true;
                        "±∞".into()
                    }
                    (Some(_), Some(r)) => interval(r),
                    (Some(_), None) => "±?".into(),
                });
                // Marked where this side against the baseline can
                // never be significant, whatever the runs show.
                let small = versus[side].is_some_and(|v| !v.can_be_significant);
                marks.few |= small;
                row.push(format!("{}{}", s.n, if small { FEW_MARK } else { "" }));
            }
            None => {
                marks.missing = true;
                row.extend(["—".into(), String::new(), String::new()]);
            }
        }
        if let Some(v) = versus[side] {
            row.push(match v.delta {
                None => "?".into(),
                Some(_) if !v.significant() => "~".into(),
                Some(d) => percent(d),
            });
            row.push(v.p.map_or_else(String::new, |p| format!("{p:.3}")));
        }
    }
    row
}

/// The geomean row: the baseline's geomean (if there is one for all
/// sides), then each side's and its change.
fn geomean_cells(table: &MetricTable) -> Vec<String> {
    let mut row = vec!["geomean".to_string()];
    row.extend([table.base_geomean().map_or_else(String::new, number), String::new(), String::new()]);
    for g in &table.geomeans {
        match g {
            Geomean::Of { this, .. } => row.extend([
                number(*this),
                String::new(),
                String::new(),
                g.delta().map_or_else(String::new, percent),
                String::new(),
            ]),
            _ => row.extend(std::iter::repeat_n(String::new(), 5)),
        }
    }
    row
}

/// What the geomean line covers, where it does not cover every workload or
/// the sides' lines differ; and why a side has none.
fn geomean_notes(section: &Section, table: &MetricTable) -> Vec<String> {
    let mut notes = Vec::new();
    let sides = section.sides.len();
    let lines = table.lines.len();
    if table.geomeans.iter().any(|g| matches!(g, Geomean::Of { .. })) {
        let both = if sides == 2 { "both sides" } else { "every side" };
        match table.base_geomean() {
            Some(_) => {
                let covered = table.geomeans.iter().find_map(|g| match g {
                    Geomean::Of { workloads, .. } => Some(workloads.len()),
                    _ => None,
                });
                if let Some(n) = covered.filter(|&n| n < lines) {
                    notes.push(format!("geomean: over the {n} workloads with a value on {both}, of {lines}"));
                }
            }
            None => {
                let each: Vec<String> = table
                    .geomeans
                    .iter()
                    .zip(&section.sides[1..])
                    .filter_map(|(g, label)| match g {
                        Geomean::Of { workloads, .. } => Some(format!("{label} over {}", workloads.len())),
                        _ => None,
                    })
                    .collect();
                notes.push(format!(
                    "geomean: each side against the baseline over the workloads both have ({} of {lines}); \
                     these differ, so no one geomean of the baseline is shown",
                    each.join(", ")
                ));
            }
        }
    }
    if lines >= 2 {
        for (g, label) in table.geomeans.iter().zip(&section.sides[1..]) {
            let whose = if sides == 2 { String::new() } else { format!(" for {label}") };
            match g {
                Geomean::Of { .. } => {}
                Geomean::NotPositive => notes.push(format!("no geomean{whose}: a median is 0")),
                Geomean::TooFew if sides == 2 => {
                    notes.push("no geomean: fewer than 2 workloads have a value on both sides".into())
                }
                Geomean::TooFew => notes.push(format!(
                    "no geomean{whose}: fewer than 2 workloads have a value both there and on the baseline"
                )),
            }
        }
    }
    notes
}

/// `--paired`: what delta and p mean, and the workloads whose sides have
/// different run counts (not compared).
fn paired_notes(section: &Section) -> Vec<String> {
    if !section.paired {
        return Vec::new();
    }
    let mut notes = vec![
        "paired: each side's i-th run of a workload against the baseline's i-th; delta is the median \
         of the paired ratios, p the two-sided Wilcoxon signed-rank p-value of their logs"
            .into(),
    ];
    for line in &section.lines {
        // Measured runs: counting runs (phase `count`) pair with none of them.
        for (side, runs) in line.runs.iter().enumerate().skip(1) {
            let (base, runs) = (super::measured_runs(&line.runs[0]), super::measured_runs(runs));
            if base > 0 && runs > 0 && runs != base {
                notes.push(format!(
                    "paired: `{}` has {} runs on {} and {base} on {}: not paired, not compared",
                    line.label, runs, section.sides[side], section.sides[0]
                ));
            }
        }
    }
    notes
}

impl Marks {
    /// A note for each mark used.
    fn notes(&self, paired: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if self.few && paired {
            notes.push(format!(
                "{FEW_MARK} fewer than {} pairs: no difference can be significant at α = 0.05 (with 5 pairs \
                 the smallest p possible is 0.0625)",
                super::FEW_PAIRS
            ));
        } else if self.few {
            notes.push(format!(
                "{FEW_MARK} too few runs on this side and the baseline's for any difference to be \
                 significant at α = 0.05 (3 against 3: the smallest p possible is 0.1; 4 against 3: 0.057); \
                 run at least {FEW_RUNS} repetitions per side"
            ));
        }
        if self.no_interval {
            notes.push("±∞ fewer than 6 runs: too few for a 95% confidence interval of the median".into());
        }
        if self.missing {
            notes.push(
                "— no run of this workload on that side has this figure (not run there, cut short, or \
                 not measured); ? nothing to compare"
                    .into(),
            );
        }
        notes
    }
}

/// A pipe would end a markdown table's cell.
fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// About 4 significant digits, with k, M or G from 10 000 up.
pub(crate) fn number(v: f64) -> String {
    let (x, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    if x == 0.0 {
        return "0".into();
    }
    let digits = x.abs().log10().floor() as i32;
    let decimals = (3 - digits).clamp(0, 9) as usize;
    format!("{x:.decimals$}{suffix}")
}

/// A change as a signed percentage: `+12.3%`, `-150%`.
pub(crate) fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p.abs() >= 99.95 { format!("{p:+.0}%") } else { format!("{p:+.1}%") }
}

/// An interval's half-width as a share of the median: `±2.5%`, `±12%`.
pub(crate) fn interval(share: f64) -> String {
    let p = share * 100.0;
    if p >= 9.95 { format!("±{p:.0}%") } else { format!("±{p:.1}%") }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{input, runs};
    use super::super::{across_backend, by_file};
    use super::*;

    #[test]
    fn numbers() {
        let cases = [
            (0.0, "0"),
            (51_234.5, "51.23k"),
            (9_876.0, "9876"),
            (123.45, "123.5"),
            (0.012_34, "0.01234"),
            (2_500_000.0, "2.500M"),
            (-3.5, "-3.500"),
        ];
        for (v, s) in cases {
            assert_eq!(number(v), s, "{v}");
        }
        assert_eq!(percent(0.1234), "+12.3%");
        assert_eq!(percent(-0.04), "-4.0%");
        assert_eq!(percent(1.5), "+150%");
        assert_eq!(interval(0.025), "±2.5%");
        assert_eq!(interval(0.12), "±12%");
    }

    #[test]
    fn text_tables_are_aligned_and_annotated() {
        let mut a = runs("epoll", 50, &[100.0, 101.0, 102.0]);
        a.extend(runs("epoll", 500, &[200.0; 4]));
        let mut b = runs("epoll", 50, &[110.0, 111.0, 112.0]);
        b.extend(runs("epoll", 500, &[100.0; 4]));
        b.extend(runs("epoll", 5000, &[1.0; 4]));
        let report = by_file(&[input("a.csv", a), input("b.csv", b)]);
        let out = text(&report, &[Metric::Throughput]);
        assert!(out.contains("note: `epoll http c=5000` is only in b.csv"), "{out}");
        assert!(out.contains("throughput (req/s); higher is better"), "{out}");
        let table: Vec<&str> = out.lines().filter(|l| l.contains('│')).collect();
        assert_eq!(table.len(), 2 + 3 + 1, "2 heading lines, 3 workloads, geomean:\n{out}");
        // Every line has its group separators at the same places.
        let bars =
            |l: &str| l.chars().enumerate().filter(|(_, c)| *c == '│').map(|(i, _)| i).collect::<Vec<_>>();
        assert!(table.iter().all(|l| bars(l) == bars(table[0])), "{out}");
        let row =
            |w: &str| table.iter().find(|l| l.starts_with(w)).unwrap().split_whitespace().collect::<Vec<_>>();
        // 3 against 3: the side is marked, and `~` however large the change.
        assert_eq!(
            row("epoll http c=50 "),
            ["epoll", "http", "c=50", "│", "101.0", "±∞", "3", "│", "111.0", "±∞", "3¹", "~", "0.100"]
        );
        // 4 against 4, separated: significant.
        assert_eq!(row("epoll http c=500 ")[8..], ["100.0", "±∞", "4", "-50.0%", "0.029"]);
        assert_eq!(row("epoll http c=5000")[4..], ["—", "│", "1.000", "±∞", "4", "?"]);
        assert_eq!(row("geomean"), ["geomean", "│", "142.1", "│", "105.4", "-25.9%"]);
        let notes: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("geomean")).skip(1).collect();
        assert_eq!(notes.len(), 4, "{out}");
        assert!(notes[0].starts_with("geomean: over the 2 workloads"));
        assert!(notes[1].starts_with("¹ too few runs on this side and the baseline's"));
        assert!(notes[2].starts_with("±∞ fewer than 6 runs"));
        assert!(notes[3].starts_with("— no run of this workload"));
    }

    #[test]
    fn geomeans_over_different_workloads_per_side_are_noted() {
        let mut rows = runs("epoll", 50, &[100.0; 4]);
        rows.extend(runs("epoll", 500, &[100.0; 4]));
        rows.extend(runs("epoll", 5000, &[100.0; 4]));
        for c in [50, 500, 5000] {
            rows.extend(runs("io-uring", c, &[200.0; 4]));
        }
        rows.extend(runs("thread-pool", 50, &[50.0; 4]));
        rows.extend(runs("thread-pool", 500, &[50.0; 4]));
        rows.extend(runs("tokio", 50, &[50.0; 4]));
        let report = across_backend(&[input("a.csv", rows)], "epoll").unwrap();
        let out = text(&report, &[Metric::Throughput]);
        let geomean = out.lines().find(|l| l.starts_with("geomean")).unwrap();
        let cells: Vec<&str> = geomean.split_whitespace().collect();
        assert_eq!(cells, ["geomean", "│", "│", "200.0", "+100%", "│", "50.00", "-50.0%", "│"], "{out}");
        assert!(
            out.contains(
                "geomean: each side against the baseline over the workloads both have \
                 (io-uring over 3, thread-pool over 2 of 3)"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "no geomean for tokio: fewer than 2 workloads have a value both there and on the baseline"
            ),
            "{out}"
        );
        let csv_out = csv(&report, &[Metric::Throughput]);
        let geomeans: Vec<Vec<&str>> =
            csv_out.lines().filter(|l| l.contains(",geomean,")).map(|l| l.split(',').collect()).collect();
        assert_eq!(geomeans.len(), 3, "epoll, io-uring, thread-pool: {csv_out}");
        assert_eq!(geomeans[0], ["throughput", "a.csv", "geomean", "epoll", "", "", "", "", "", "", ""]);
        for (row, side, median, delta) in
            [(&geomeans[1], "io-uring", 200.0, 100.0), (&geomeans[2], "thread-pool", 50.0, -50.0)]
        {
            assert_eq!(row[3], side);
            assert!((row[4].parse::<f64>().unwrap() - median).abs() < 1e-9, "{row:?}");
            assert!((row[8].parse::<f64>().unwrap() - delta).abs() < 1e-9, "{row:?}");
        }
    }

    #[test]
    fn a_single_file_is_summarised() {
        let report = by_file(&[input("a.csv", runs("epoll", 50, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))]);
        let out = text(&report, &[Metric::P50]);
        assert!(out.starts_with("a.csv, alone\n\np50 latency (us); lower is better\n"), "{out}");
        assert!(out.contains("epoll http c=50 │  3.500  ±71%  6\n"), "{out}");
        assert!(!out.contains('¹') && !out.contains("geomean"), "{out}");
    }

    #[test]
    fn tables_without_values_say_so() {
        let report = by_file(&[input("a.csv", runs("epoll", 50, &[1.0]))]);
        let mut rows = runs("epoll", 50, &[1.0]);
        rows[0].server_cpu_user_us = 0.0;
        rows[0].server_cpu_sys_us = 0.0;
        let unmeasured = by_file(&[input("a.csv", rows)]);
        assert!(text(&unmeasured, &[Metric::ServerCpu]).ends_with("no run has this figure\n"));
        assert!(markdown(&unmeasured, &[Metric::ServerCpu]).ends_with("No run has this figure.\n"));
        assert_eq!(csv(&unmeasured, &[Metric::ServerCpu]).lines().count(), 1, "the header only");
        assert_eq!(csv(&report, &[Metric::ServerCpu]).lines().count(), 2);
    }

    #[test]
    fn markdown_tables_have_one_cell_per_column() {
        let mut rows = runs("epoll", 50, &[100.0; 4]);
        rows.extend(runs("io-uring", 50, &[120.0; 4]));
        rows.extend(runs("io-uring", 500, &[120.0; 4]));
        let report = across_backend(&[input("a|b.csv", rows)], "epoll").unwrap();
        let out = markdown(&report, &Metric::ALL);
        assert!(
            out.starts_with("## a\\|b.csv: backends against epoll\n\n- no epoll runs for `http c=500`"),
            "{out}"
        );
        // Every metric asked for gets a heading; offered load and capacity,
        // which no closed-loop run has, and system calls, which these runs
        // did not count, say so instead of a table.
        assert_eq!(out.matches("\n### ").count(), 9);
        assert_eq!(out.matches("No run has this figure.").count(), 3);
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let mut tables = 0;
        for block in out.split("\n\n") {
            let lines: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
            if lines.is_empty() {
                continue;
            }
            tables += 1;
            assert_eq!(
                lines[0],
                "| workload | epoll median | epoll ± | epoll n | io-uring median | io-uring ± | io-uring n | io-uring delta | io-uring p |"
            );
            assert!(lines[1].starts_with("|:---|---:|"));
            assert!(lines.iter().all(|l| cells(l) == cells(lines[0])), "{block}");
        }
        assert_eq!(tables, 6);
    }

    #[test]
    fn csv_long_format() {
        let a = runs("epoll", 50, &[10.0, 11.0, 12.0, 13.0, 14.0, 15.0]);
        let b = runs("epoll", 50, &[20.0, 21.0, 22.0, 23.0, 24.0, 25.0]);
        let report = by_file(&[input("a.csv", a), input("b.csv", b)]);
        let out = csv(&report, &[Metric::Throughput, Metric::P99]);
        let mut reader = ::csv::Reader::from_reader(out.as_bytes());
        assert_eq!(reader.headers().unwrap(), CSV_COLUMNS.as_slice());
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2 * 2, "2 metrics, 1 workload, 2 sides, no geomean");
        assert_eq!(
            &rows[0],
            ["throughput", "", "epoll http c=50", "a.csv", "12.5", "10", "15", "6", "", "", ""].as_slice()
        );
        assert_eq!(
            rows[1].iter().take(4).collect::<Vec<_>>(),
            ["throughput", "", "epoll http c=50", "b.csv"]
        );
        assert_eq!(rows[1][4].parse::<f64>().unwrap(), 22.5);
        assert!((rows[1][8].parse::<f64>().unwrap() - 80.0).abs() < 1e-9);
        assert!((rows[1][9].parse::<f64>().unwrap() - 2.0 / 924.0).abs() < 1e-12, "6 against 6 separated");
        assert_eq!(&rows[1][10], "true");
        assert_eq!(&rows[2][0], "p99");
    }
}
