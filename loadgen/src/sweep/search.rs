//! `sweep --capacity`: per repetition and cell, each backend's capacity
//! under the objective, the searches interleaved (a probe of each backend in
//! turn), their rows, and the capacity table.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::plan::{Cell, Plan, RunSpec};
use super::runner::{Point, Runner};
use super::table::{median_of, tail_first_line};
use crate::capacity::{self, Search, SearchOptions, Slo};
use crate::ctxsw::Spread;
use crate::fmt::{fmt_us, thousands};

/// One capacity search's result: which, and what it found.
#[derive(Clone, Debug)]
pub struct CapacityRun {
    pub repetition: u32,
    pub cell: Cell,
    pub backend: String,
    pub capacity: capacity::Capacity,
    /// Corrected p50 and p99 (µs) at 50%, 80% and 100% of the capacity.
    pub at: [(Option<f64>, Option<f64>); 3],
}

/// The shares of each capacity at which the table gives the latency.
pub const CAPACITY_SHARES: [f64; 3] = [0.5, 0.8, 1.0];

/// A backend's search under way: its runs, the search, and each probe's
/// rate and point.
type Searching<'a> = (&'a RunSpec, Search, Vec<(f64, Point)>);

/// The capacity searches: per repetition and cell, a closed-loop run of
/// each backend for the estimate, then the backends' probes in turn until
/// every search is over, then each backend at 50% and 80% of its capacity.
/// The plan's counting runs (`--syscalls once`: closed loop, one per cell
/// and backend, in the first repetition) come first in their cell; no
/// probe or share counts (the runner's base arguments count nothing).
pub(super) fn capacity_sweep(
    runner: &mut Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    options: SearchOptions,
) -> Vec<CapacityRun> {
    let mut found = Vec::new();
    for repetition in 1..=plan.repetitions {
        for &cell in &plan.cells {
            let (counting, specs): (Vec<&RunSpec>, Vec<&RunSpec>) = plan
                .runs
                .iter()
                .filter(|r| r.repetition == repetition && r.cell == cell)
                .partition(|r| r.count);
            for spec in counting {
                runner.point(spec, None, results::Phase::Count, None);
            }
            // The estimates: closed loop, interleaved.
            let mut searches: Vec<Searching<'_>> = Vec::new();
            for spec in &specs {
                let Some(p) = runner.point(spec, None, results::Phase::Probe, Some(slo)) else { continue };
                let estimate = p.report.achieved_rate();
                if p.report.incomplete.is_none() && estimate > 0.0 {
                    searches.push((spec, Search::new(estimate, options), Vec::new()));
                } else {
                    eprintln!(
                        "  {}: no estimate of its capacity (the closed-loop run failed); no search",
                        spec.backend
                    );
                }
            }
            // The probes, a probe of each backend in turn.
            loop {
                let mut probed = false;
                for (spec, search, points) in &mut searches {
                    let Some(rate) = search.next_rate() else { continue };
                    let Some(p) = runner.point(spec, Some(rate), results::Phase::Probe, Some(slo)) else {
                        continue;
                    };
                    probed = true;
                    let verdict = capacity::judge(&p.report, slo);
                    eprintln!(
                        "  {}: {} at {}: {}",
                        spec.backend,
                        if verdict.pass { "pass" } else { "fail" },
                        thousands(rate.round() as u64),
                        verdict.why
                    );
                    search.record(rate, verdict);
                    points.push((rate, p));
                }
                if !probed || runner.stopped() {
                    break;
                }
            }
            // The capacities, as rows; then 50% and 80% of each.
            let mut results: Vec<CapacityRun> = Vec::new();
            for (spec, search, points) in &searches {
                let c = search.result();
                let mut run = CapacityRun {
                    repetition,
                    cell,
                    backend: spec.backend.clone(),
                    capacity: c,
                    at: [(None, None); 3],
                };
                if let Some(rate) = c.rate
                    && let Some((_, p)) = points.iter().find(|(r, _)| *r == rate)
                {
                    let mut row = p.row.clone();
                    row.phase = results::Phase::Capacity;
                    row.complete = c.converged;
                    let note = format!("capacity under {slo}: {}", c.describe());
                    row.note = if row.note.is_empty() { note } else { format!("{note}; {}", row.note) };
                    runner.append(&row);
                    run.at[2] = (Some(p.row.lat_p50_us), Some(p.row.lat_p99_us));
                }
                eprintln!("  {}: capacity under {slo}: {}", spec.backend, c.describe());
                results.push(run);
            }
            for (i, share) in CAPACITY_SHARES[..2].iter().enumerate() {
                for (k, (spec, search, _)) in searches.iter().enumerate() {
                    let Some(rate) = search.result().rate else { continue };
                    if let Some(p) = runner.point(spec, Some(share * rate), results::Phase::Run, Some(slo)) {
                        let q = |q: f64| results::hdr::quantile_us(&p.report.corrected, q);
                        results[k].at[i] = (q(0.5), q(0.99));
                    }
                }
            }
            found.extend(results);
            if runner.stopped() {
                return found;
            }
        }
    }
    found
}

/// One backend's capacity in one cell, over the repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityLine {
    pub backend: String,
    /// The capacities found (req/s), their spread, the searches that found
    /// none or did not converge, and the median probes per search; or why
    /// there is nothing.
    pub figures: Result<CapacityFigures, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CapacityFigures {
    pub capacity: Spread,
    pub searches: usize,
    pub without: usize,
    pub not_converged: usize,
    /// Searches in which a rate below the capacity failed.
    pub failed_below: usize,
    pub probes: f64,
    /// Median p50 and p99 (µs) at 50%, 80%, 100% of the capacity.
    pub at: [(Option<f64>, Option<f64>); 3],
}

/// Per cell, per backend: the capacities over the repetitions.
pub fn summarize_capacity(
    cells: &[Cell],
    backends: &[String],
    runs: &[CapacityRun],
    skipped: &HashMap<String, String>,
) -> Vec<(Cell, Vec<CapacityLine>)> {
    cells
        .iter()
        .map(|&cell| {
            let lines = backends
                .iter()
                .map(|b| {
                    let mine: Vec<&CapacityRun> =
                        runs.iter().filter(|r| r.cell == cell && &r.backend == b).collect();
                    let rates: Vec<f64> = mine.iter().filter_map(|r| r.capacity.rate).collect();
                    let figures = if rates.is_empty() {
                        Err(match (skipped.get(b), mine.len()) {
                            (Some(why), _) => format!("skipped: {why}"),
                            (None, 0) => "no search".to_string(),
                            (None, n) => format!("no capacity found in {n} searches (every probe failed)"),
                        })
                    } else {
                        let mut at = [(None, None); 3];
                        for (i, slot) in at.iter_mut().enumerate() {
                            *slot = (
                                median_of(mine.iter().filter_map(|r| r.at[i].0)),
                                median_of(mine.iter().filter_map(|r| r.at[i].1)),
                            );
                        }
                        Ok(CapacityFigures {
                            capacity: Spread::of(&rates),
                            searches: mine.len(),
                            without: mine.len() - rates.len(),
                            not_converged: mine
                                .iter()
                                .filter(|r| r.capacity.rate.is_some() && !r.capacity.converged)
                                .count(),
                            failed_below: mine.iter().filter(|r| r.capacity.failed_below).count(),
                            probes: Spread::of(
                                &mine.iter().map(|r| f64::from(r.capacity.probes)).collect::<Vec<_>>(),
                            )
                            .median,
                            at,
                        })
                    };
                    CapacityLine { backend: b.clone(), figures }
                })
                .collect();
            (cell, lines)
        })
        .collect()
}

/// The capacity table, one block per cell.
pub fn render_capacity(cells: &[(Cell, Vec<CapacityLine>)], slo: &Slo, repetitions: u32) -> String {
    let mut s = String::new();
    let reps = if repetitions == 1 { "1 search".to_string() } else { format!("{repetitions} searches") };
    let _ = writeln!(
        s,
        "Capacity under {slo}: the highest offered rate a backend kept up with (achieved >= {:.0}% of offered) \
         with its {} within the bound; median over {reps} and their range. Then p50/p99 from the intended \
         send time at 50%, 80% and 100% of that capacity (medians). probes: per search, the closed-loop \
         estimate not counted.",
        100.0 * capacity::KEEP_UP,
        slo.name()
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), fmt_us);
    for (cell, lines) in cells {
        let _ = writeln!(s);
        let _ = writeln!(s, "{cell}");
        let _ = writeln!(
            s,
            "  {:<16} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}",
            "backend", "capacity", "min-max", "p50/p99 @50%", "p50/p99 @80%", "p50/p99 @100%", "probes"
        );
        for line in lines {
            match &line.figures {
                Err(why) => {
                    let _ = writeln!(s, "  {:<16} n/a ({})", line.backend, tail_first_line(why, 90));
                }
                Ok(f) => {
                    let range = format!(
                        "{}-{}",
                        thousands(f.capacity.min.round() as u64),
                        thousands(f.capacity.max.round() as u64)
                    );
                    let at: Vec<String> =
                        f.at.iter().map(|(p50, p99)| format!("{}/{}", opt(*p50), opt(*p99))).collect();
                    let _ = write!(
                        s,
                        "  {:<16} {:>9} {:>17} {:>17} {:>17} {:>17} {:>7}",
                        line.backend,
                        thousands(f.capacity.median.round() as u64),
                        range,
                        at[0],
                        at[1],
                        at[2],
                        format!("{:.0}", f.probes)
                    );
                    if f.not_converged > 0 || f.without > 0 {
                        let _ = write!(
                            s,
                            "  ({} of {} searches did not converge, {} found none)",
                            f.not_converged, f.searches, f.without
                        );
                    }
                    if f.failed_below > 0 {
                        let _ = write!(
                            s,
                            "  (in {} of {} searches a lower rate failed: latency that falls as load rises)",
                            f.failed_below, f.searches
                        );
                    }
                    let _ = writeln!(s);
                }
            }
        }
    }
    s
}
