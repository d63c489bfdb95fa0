//! The report's system call charts: per cell, a bar per series stacking
//! the server's system calls per request by name (`server_syscalls_by_name`),
//! as the cost chart stacks user and system CPU. Only cells where some
//! run counted them get one; series whose runs did not are marked `n/a`.
//! A sweep counts them in a counting run (phase `count`) per cell and
//! backend, apart from the measured runs, which then count nothing: the
//! rows here are a cell's counting runs and its runs, and a series with a
//! counting run takes its calls from its counting runs alone (its runs
//! counted nothing on purpose: not missing, so not noted), one without
//! from its runs (`--syscalls every`, or files from before counting runs).

use std::collections::BTreeMap;

use super::chart::{self, Calls, Style};
use super::{Chart, SeriesKey, Slugs, median};
use crate::workload::Metric;
use crate::{Phase, Row};

/// Bars hold at most this many named calls; the rest join `other`.
const NAMED: usize = 7;

/// The chart of one cell (`name`), if any of its rows counted the calls.
pub(super) fn chart(
    name: &str,
    series_rows: &BTreeMap<SeriesKey, Vec<&Row>>,
    styles: &BTreeMap<SeriesKey, Style>,
    slugs: &mut Slugs,
) -> Option<Chart> {
    let mut bars = Vec::new();
    let (mut counted_runs, mut runs) = (0, 0);
    for (key, rows) in series_rows {
        // A series with a counting run is counted there: its runs, which
        // counted nothing on purpose, are not missing figures.
        let counting = rows.iter().any(|r| r.phase == Phase::Count);
        let meant: Vec<&Row> =
            rows.iter().copied().filter(|r| !counting || r.phase == Phase::Count).collect();
        let counted: Vec<Vec<(String, f64)>> = meant
            .iter()
            .filter(|r| Metric::ServerSyscalls.applies(r))
            .filter_map(|r| crate::syscalls::parse(&r.server_syscalls_by_name).ok())
            .collect();
        runs += meant.len();
        counted_runs += counted.len();
        bars.push((styles[key].clone(), stack(&counted)));
    }
    if counted_runs == 0 {
        return None;
    }
    let title = format!("{name}: server system calls per request");
    let file = slugs.file("syscalls", name);
    let svg = chart::syscalls(file.trim_end_matches(".svg"), &title, &bars);
    let mut caption = "Each call's median over the runs that counted the server's system calls per request \
                       (a sweep's counting run per cell and backend, made apart from the measured runs since \
                       counting slows every counted call; or every run, with --syscalls every), counted by the \
                       kernel's syscall tracepoints over the window; other: every call not counted by name."
        .to_string();
    if counted_runs < runs {
        caption.push_str(&format!(
            " {} of {runs} complete runs are left out: their system calls were not counted (their notes, under \
             Environment, say why).",
            runs - counted_runs
        ));
    }
    Some(Chart { file, title, svg, caption })
}

/// Each call's median over the runs (0 in a run that did not make it),
/// the largest first, beyond [`NAMED`] calls added to `other` (last).
fn stack(runs: &[Vec<(String, f64)>]) -> Option<Calls> {
    if runs.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in runs.iter().flatten() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut parts: Vec<(String, f64)> = names
        .iter()
        .map(|&name| {
            let values: Vec<f64> =
                runs.iter().map(|r| r.iter().find(|(n, _)| n == name).map_or(0.0, |(_, v)| *v)).collect();
            (name.to_string(), median(&values).unwrap_or(0.0))
        })
        .collect();
    let mut other: f64 = 0.0;
    parts.retain(|(name, v)| {
        let keep = name != crate::syscalls::OTHER && *v > 0.0;
        if !keep {
            other += v;
        }
        keep
    });
    parts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    other += parts.iter().skip(NAMED).map(|p| p.1).sum::<f64>();
    parts.truncate(NAMED);
    if other > 0.0 {
        parts.push((crate::syscalls::OTHER.to_string(), other));
    }
    Some(Calls { parts, n: runs.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_calls_median_the_largest_first_other_last() {
        let run = |pairs: &[(&str, f64)]| pairs.iter().map(|&(n, v)| (n.to_string(), v)).collect::<Vec<_>>();
        let runs = [
            run(&[("read", 1.0), ("write", 1.0), ("other", 0.002)]),
            run(&[("write", 1.2), ("read", 1.1), ("epoll_pwait2", 0.04)]),
            run(&[("read", 0.9), ("write", 1.0), ("epoll_pwait2", 0.02), ("other", 0.004)]),
        ];
        let s = stack(&runs).unwrap();
        assert_eq!(s.n, 3);
        let names: Vec<&str> = s.parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["read", "write", "epoll_pwait2", "other"]);
        assert_eq!(s.parts[2].1, 0.02, "the median with the run that made none");
        assert_eq!(stack(&[]), None);
        // More than NAMED calls: the smallest join other.
        let many: Vec<(String, f64)> = (0..10).map(|i| (format!("c{i}"), 10.0 - i as f64)).collect();
        let s = stack(&[many]).unwrap();
        assert_eq!(s.parts.len(), NAMED + 1);
        assert_eq!(s.parts.last().unwrap(), &("other".to_string(), 3.0 + 2.0 + 1.0));
    }
}
