//! The rows behind the latency–throughput curves and the capacity bars:
//! which rows, grouped how, summarised how. The drawing is `chart.rs`'s.
//!
//! A curve is drawn per *base workload* (protocol, connections, pipeline,
//! sizes, work and the arrival process: the workload with its rate left
//! out) that has open-loop runs at two offered rates or more. Its points
//! are every complete open-loop row of that base workload with answers:
//! an offered-load grid's runs, and a capacity search's probes and its runs
//! at shares of the capacity it found. Probes are drawn here whatever
//! `--with-probes` says: a capacity search's probes are the curve. A
//! capacity row is not a point of its own (it repeats the probe at the
//! capacity), and neither is a search's closed-loop first estimate, which
//! offered nothing, nor a sweep's counting run (phase `count`), which
//! counting slowed. It must never average latency percentiles: a line goes
//! through the median over repetitions at each offered rate, and every run
//! is drawn as it was measured. A capacity search's line goes through the
//! medians at 50%, 80% and 100% (its capacity rows) of each search's
//! capacity: its probes are at rates of each search's own.
//!
//! The capacity bars are drawn per capacity workload (the base workload and
//! the objective): a bar per series at the median of the capacities its
//! searches found. A search is told by its probes (a `run_id` and
//! `repetition` with probe rows under the objective), so a backend whose
//! searches found nothing, and which has no capacity row, still gets its
//! slot, marked "none found".

use std::collections::BTreeMap;

use super::chart::{self, Capacities, Curve, CurvePoint, Objective, Style};
use super::{Chart, Input, SeriesKey, Slugs, median, whisker};
use crate::workload::Workload;
use crate::{Arrival, Mode, Phase, Row};

/// Rows with the index of the file they came from.
type FileRows<'a> = Vec<(usize, &'a Row)>;

/// The latency columns an objective may name, by the name the `slo` column
/// gives them (as the load generator writes it: `p99<=1000us`).
const PERCENTILES: [(&str, Column); 5] = [
    ("p50", |r| r.lat_p50_us),
    ("p90", |r| r.lat_p90_us),
    ("p99", |r| r.lat_p99_us),
    ("p99.9", |r| r.lat_p999_us),
    ("p99.99", |r| r.lat_p9999_us),
];

/// A latency column of a row, µs.
type Column = fn(&Row) -> f64;

/// Rows by series, each with its file's index.
type BySeries<'a> = BTreeMap<SeriesKey, Vec<(usize, &'a Row)>>;

/// The percentile a curve plots when its rows name no one objective.
const DEFAULT_PERCENTILE: usize = 2;

/// An objective as the `slo` column holds it, `p99<=1000us`: the index of
/// its percentile in [`PERCENTILES`] and its bound in µs; `None` if it is
/// not of that form.
pub(super) fn parse_slo(slo: &str) -> Option<(usize, f64)> {
    let (name, bound) = slo.split_once("<=")?;
    let p = PERCENTILES.iter().position(|(n, _)| *n == name)?;
    let bound: f64 = bound.strip_suffix("us")?.parse().ok()?;
    (bound > 0.0 && bound.is_finite()).then_some((p, bound))
}

/// An objective in words: `p99 ≤ 1ms`; the column's text if it cannot be
/// read.
pub(super) fn slo_words(slo: &str) -> String {
    match parse_slo(slo) {
        Some((p, bound)) => format!("{} ≤ {}", PERCENTILES[p].0, super::axis::micros_label(bound)),
        None => slo.to_string(),
    }
}

/// The load of an open-loop row without its rate: `open poisson`.
pub(super) fn open_load(arrival: Arrival) -> &'static str {
    match arrival {
        Arrival::Poisson => "open poisson",
        Arrival::Uniform => "open uniform",
        Arrival::None => "open",
    }
}

/// A row's workload without backend and load: what a capacity search's
/// rows (its estimate, probes, capacity and runs at shares of it) share.
pub(super) fn base(row: &Row) -> Workload {
    Workload { load: String::new(), ..Workload::of(row).without_backend() }
}

/// What a curve's points were, for its caption.
#[derive(Default)]
struct Counts {
    points: usize,
    /// Points that did not keep up.
    hollow: usize,
    probes: usize,
    /// The shares of a capacity (percent) that runs were offered.
    shares: Vec<u32>,
}

/// The latency a curve plots and the objectives drawn across it.
struct Plotted {
    /// The percentile plotted: the one all the rows' objectives name, else
    /// [`DEFAULT_PERCENTILE`] (an index into [`PERCENTILES`]).
    p: usize,
    /// The objectives on that percentile, drawn as lines.
    objectives: Vec<Objective>,
    /// The objectives on another percentile, in words: not drawn.
    undrawn: Vec<String>,
}

impl Plotted {
    /// From the objectives the rows were judged against, in order of first
    /// appearance.
    fn of<'r>(rows: impl Iterator<Item = &'r Row>) -> Plotted {
        let mut slos: Vec<&str> = Vec::new();
        for r in rows.filter(|r| !r.slo.is_empty()) {
            if !slos.contains(&r.slo.as_str()) {
                slos.push(&r.slo);
            }
        }
        let parsed: Vec<(usize, f64)> = slos.iter().filter_map(|s| parse_slo(s)).collect();
        let p = match parsed.first() {
            Some(&(p, _)) if parsed.iter().all(|(q, _)| *q == p) => p,
            _ => DEFAULT_PERCENTILE,
        };
        let objectives: Vec<Objective> = slos
            .iter()
            .filter(|s| parse_slo(s).is_some_and(|(q, _)| q == p))
            .map(|s| Objective { label: slo_words(s), bound_us: parse_slo(s).map_or(0.0, |(_, b)| b) })
            .collect();
        let undrawn: Vec<String> =
            slos.iter().filter(|s| parse_slo(s).is_none_or(|(q, _)| q != p)).map(|s| slo_words(s)).collect();
        Plotted { p, objectives, undrawn }
    }
}

/// A curve's caption: how to read it, then what its points and lines are.
fn curve_caption(percentile: &str, counts: &Counts, plotted: &Plotted) -> String {
    let Counts { points, hollow, probes, shares } = counts;
    let mut caption = format!(
        "Each point is one open-loop run: across, the throughput it achieved (answers received in \
         the measured window, per second); up, its {percentile} latency from each request's intended \
         send time, on a log scale. A backend's line joins the medians over repetitions at each \
         offered rate. Hollow points did not keep up \
         (achieved below 99% of offered): such a point lies left of the load asked for, and its latency \
         is that of a server falling behind ({hollow} of {points} points)."
    );
    if !plotted.objectives.is_empty() {
        let words: Vec<&str> = plotted.objectives.iter().map(|o| o.label.as_str()).collect();
        caption.push_str(&format!(" Dashed line: the objective {}.", words.join(", ")));
    }
    if !plotted.undrawn.is_empty() {
        caption.push_str(&format!(
            " Not drawn: the objective {}, on another percentile than the one plotted.",
            plotted.undrawn.join(", ")
        ));
    }
    if *probes > 0 || !shares.is_empty() {
        let mut parts = Vec::new();
        if *probes > 0 {
            parts.push(super::count(*probes, "capacity-search probe", "capacity-search probes"));
        }
        if !shares.is_empty() {
            let pcts: Vec<String> = shares.iter().map(|s| format!("{s}%")).collect();
            parts.push(format!("runs at {} of each capacity found", pcts.join(" and ")));
        }
        caption.push_str(&format!(
            " The points include {}; the searches' closed-loop first estimates are not drawn (they \
             offered no load). A capacity search's probes are at rates of each search's own, so they \
             are points only: its line goes through the medians at 50%, 80% and 100% of the capacity \
             each search found.",
            parts.join(" and ")
        ));
    }
    caption
}

/// What the two chart kinds need from the report: the rows, how a row maps
/// to its series, and each series' look.
pub(super) struct Data<'a> {
    pub(super) inputs: &'a [Input],
    pub(super) key_of: &'a dyn Fn(usize, &Row) -> SeriesKey,
    pub(super) styles: &'a BTreeMap<SeriesKey, Style>,
    /// The share (0.5) of the capacity its search found that a capacity
    /// search's run was offered, if it is one.
    pub(super) share_of: &'a dyn Fn(usize, &Row) -> Option<f64>,
}

impl Data<'_> {
    /// Complete rows with their file's index, in file order.
    fn complete(&self) -> impl Iterator<Item = (usize, &Row)> {
        self.inputs
            .iter()
            .enumerate()
            .flat_map(|(f, i)| i.rows.iter().filter(|r| r.complete).map(move |r| (f, r)))
    }

    /// The latency–throughput curves, one per base workload with open-loop
    /// rows at two offered rates or more, in order of first appearance.
    /// Per curve: its rows ([`Data::curve_groups`]), the percentile and
    /// objectives drawn ([`Plotted::of`]), each series' line and points
    /// ([`Data::series_curve`]), and the caption ([`curve_caption`]).
    pub(super) fn curves(&self, slugs: &mut Slugs) -> Vec<Chart> {
        let mut charts = Vec::new();
        for (group, series) in &self.curve_groups() {
            let all = || series.values().flatten().map(|(_, r)| *r).filter(|r| r.phase != Phase::Capacity);
            let mut rates: Vec<f64> = all().map(|r| r.target_rate).collect();
            rates.sort_by(f64::total_cmp);
            rates.dedup();
            if rates.len() < 2 {
                continue;
            }
            let plotted = Plotted::of(all());
            let (percentile, latency) = PERCENTILES[plotted.p];
            let mut counts = Counts::default();
            let curves: Vec<Curve> =
                series.iter().map(|(key, rows)| self.series_curve(key, rows, latency, &mut counts)).collect();
            counts.shares.sort_unstable();

            let name = group.short();
            let title = format!("{name}: {percentile} latency against achieved throughput");
            let file = slugs.file("curve", &name);
            let svg =
                chart::curve(file.trim_end_matches(".svg"), &title, percentile, &curves, &plotted.objectives);
            let caption = curve_caption(percentile, &counts, &plotted);
            charts.push(Chart { file, title, svg, caption });
        }
        charts
    }

    /// The complete open-loop rows with answers, by base workload with its
    /// arrival process (in order of first appearance) and series.
    fn curve_groups(&self) -> Vec<(Workload, BySeries<'_>)> {
        let mut groups: Vec<(Workload, BySeries<'_>)> = Vec::new();
        for (f, row) in self.complete() {
            // Capacity rows are no points (each repeats the probe at its
            // capacity), but they are the 100% of a search's line.
            // Nor are counting runs: counting slowed them.
            if row.mode != Mode::Open || row.requests == 0 || row.phase == Phase::Count {
                continue;
            }
            let group = Workload { load: open_load(row.arrival).to_string(), ..base(row) };
            let g = match groups.iter().position(|(w, _)| *w == group) {
                Some(g) => g,
                None => {
                    groups.push((group, BTreeMap::new()));
                    groups.len() - 1
                }
            };
            groups[g].1.entry((self.key_of)(f, row)).or_default().push((f, row));
        }
        groups
    }

    /// One series' curve: its line ([`Data::line`]) and a point per row,
    /// counted into `counts` for the caption.
    fn series_curve(
        &self,
        key: &SeriesKey,
        rows: &[(usize, &Row)],
        latency: Column,
        counts: &mut Counts,
    ) -> Curve {
        let (capacity_rows, mut rows): (FileRows<'_>, FileRows<'_>) =
            rows.iter().partition(|(_, r)| r.phase == Phase::Capacity);
        rows.sort_by(|a, b| a.1.target_rate.total_cmp(&b.1.target_rate));
        let line = self.line(&rows, &capacity_rows, latency);
        let mut drawn = Vec::new();
        for &(f, r) in &rows {
            let kept_up = !r.rate_shortfall && r.achieved_rate >= 0.99 * r.offered_rate;
            let share = (self.share_of)(f, r);
            let what = match (r.phase, share) {
                (Phase::Probe, _) => {
                    format!("capacity probe, {}, repetition {}", slo_words(&r.slo), r.repetition)
                }
                (_, Some(s)) => {
                    format!("run at {:.0}% of the capacity found, repetition {}", s * 100.0, r.repetition)
                }
                _ => format!("run, repetition {}", r.repetition),
            };
            counts.points += 1;
            counts.hollow += usize::from(!kept_up);
            counts.probes += usize::from(r.phase == Phase::Probe);
            if let Some(s) = share {
                let pct = (s * 100.0).round() as u32;
                if !counts.shares.contains(&pct) {
                    counts.shares.push(pct);
                }
            }
            drawn.push(CurvePoint {
                offered: r.offered_rate,
                achieved: r.achieved_rate,
                latency: latency(r),
                kept_up,
                what,
            });
        }
        Curve { style: self.styles[key].clone(), line, points: drawn }
    }

    /// A series' line: through the medians at each offered rate of a grid;
    /// for a capacity search, whose probes and shares are at rates of each
    /// search's own, through the medians at 50%, 80% and 100% of the
    /// capacity each search found. `rows` sorted by offered rate.
    fn line(&self, rows: &FileRows<'_>, capacity_rows: &FileRows<'_>, latency: Column) -> Vec<(f64, f64)> {
        let medians = |same: &[&Row]| {
            let achieved = median(&same.iter().map(|r| r.achieved_rate).collect::<Vec<_>>());
            let l = median(&same.iter().map(|r| latency(r)).collect::<Vec<_>>());
            achieved.zip(l)
        };
        let grid: Vec<&Row> = rows
            .iter()
            .filter(|(f, r)| r.phase == Phase::Run && (self.share_of)(*f, r).is_none())
            .map(|(_, r)| *r)
            .collect();
        let mut line = Vec::new();
        if grid.windows(2).any(|w| w[0].target_rate != w[1].target_rate) {
            for same in grid.chunk_by(|a, b| a.target_rate == b.target_rate) {
                line.extend(medians(same));
            }
        } else {
            let mut by_share: BTreeMap<u32, Vec<&Row>> = BTreeMap::new();
            for &(f, r) in rows {
                if let Some(s) = (self.share_of)(f, r) {
                    by_share.entry((s * 100.0).round() as u32).or_default().push(r);
                }
            }
            for &(_, r) in capacity_rows {
                by_share.entry(100).or_default().push(r);
            }
            line.extend(by_share.values().filter_map(|same| medians(same)));
        }
        line
    }

    /// The capacity charts, one per capacity workload (base workload and
    /// objective) that had a search, in order of first appearance.
    pub(super) fn capacities(&self, slugs: &mut Slugs) -> Vec<Chart> {
        /// A series' searches under one objective: (run id, repetition)
        /// of each, the capacities found, and the searches that did not
        /// converge.
        #[derive(Default)]
        struct Searches<'a> {
            searches: Vec<(&'a str, u32)>,
            found: Vec<f64>,
            unconverged: usize,
        }
        let mut groups: Vec<(Workload, BTreeMap<SeriesKey, Searches<'_>>)> = Vec::new();
        let all = self.inputs.iter().enumerate().flat_map(|(f, i)| i.rows.iter().map(move |r| (f, r)));
        for (f, row) in all {
            // A search is told by its open-loop probes and its result; its
            // closed-loop estimate alone is no search (the sweep searches
            // only from an estimate that completed).
            let searched =
                row.phase == Phase::Capacity || (row.phase == Phase::Probe && row.mode == Mode::Open);
            if !searched || row.slo.is_empty() {
                continue;
            }
            let group = Workload { load: format!("capacity {}", row.slo), ..base(row) };
            let g = match groups.iter().position(|(w, _)| *w == group) {
                Some(g) => g,
                None => {
                    groups.push((group, BTreeMap::new()));
                    groups.len() - 1
                }
            };
            let key = (self.key_of)(f, row);
            // Series of incomplete rows only have no style: they are in no
            // chart.
            if !self.styles.contains_key(&key) {
                continue;
            }
            let s = groups[g].1.entry(key).or_default();
            let search = (row.run_id.as_str(), row.repetition);
            if !s.searches.contains(&search) {
                s.searches.push(search);
            }
            if row.phase == Phase::Capacity {
                if row.complete {
                    s.found.push(row.target_rate);
                } else {
                    s.unconverged += 1;
                }
            }
        }
        let mut charts = Vec::new();
        for (group, series) in &groups {
            let slo = group.load.trim_start_matches("capacity ");
            let bars: Vec<(Style, Capacities)> = series
                .iter()
                .map(|(key, s)| {
                    let c = Capacities {
                        found: whisker(0.0, &s.found),
                        searches: s.searches.len(),
                        unconverged: s.unconverged,
                    };
                    (self.styles[key].clone(), c)
                })
                .collect();
            let missed: usize = bars.iter().map(|(_, c)| c.searches - c.found.map_or(0, |w| w.n)).sum();
            let name = Workload { load: "closed".into(), ..group.clone() }.short();
            let words = slo_words(slo);
            let title = format!("{name}: capacity under {words}");
            let file = slugs.file("capacity", &format!("{name} {slo}"));
            let svg = chart::capacity(file.trim_end_matches(".svg"), &title, &bars);
            let mut caption = format!(
                "The capacity a search found under the objective {words}: the highest offered rate at which the \
                 backend kept up (achieved at least 99% of offered) with its latency within the bound. Each \
                 bar is the median over the searches (one per repetition); whiskers from the lowest to the \
                 highest."
            );
            if missed > 0 {
                caption.push_str(&format!(
                    " {} found no capacity (or did not converge): \"none found\" where a backend's searches all \
                     failed; the bars' tooltips say how many of each backend's found none.",
                    super::count(missed, "search", "searches")
                ));
            }
            charts.push(Chart { file, title, svg, caption });
        }
        charts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_as_the_slo_column_holds_them() {
        let table = [
            ("p99<=1000us", Some((2, 1000.0)), "p99 ≤ 1ms"),
            ("p99.9<=500us", Some((3, 500.0)), "p99.9 ≤ 500µs"),
            ("p50<=2500.5us", Some((0, 2500.5)), "p50 ≤ 2.5ms"),
            ("p98<=1000us", None, "p98<=1000us"),
            ("p99<=1ms", None, "p99<=1ms"),
            ("p99<=0us", None, "p99<=0us"),
            ("", None, ""),
        ];
        for (slo, parsed, words) in table {
            assert_eq!(parse_slo(slo), parsed, "{slo}");
            assert_eq!(slo_words(slo), words, "{slo}");
        }
    }
}
