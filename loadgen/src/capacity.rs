//! Capacity under a latency objective: the highest offered rate a server
//! keeps up with (achieved ≥ 99% of offered) while a latency percentile
//! stays within a bound, found by open-loop probes.
//!
//! [`Search`] is the search alone, with no I/O: it names the next rate to
//! probe and takes each probe's [`Verdict`], so a sweep can interleave the
//! searches of several backends (a probe of each in turn) and a test can
//! drive one against a server of known capacity. The search: a first
//! estimate (a closed-loop run's throughput), a scan of a ladder of rates
//! up to it (see [`Search::new`] for why a scan and not a ramp that stops
//! at the first failure), then bisection between the highest pass and the
//! lowest failure above it until they are within the resolution.
//! Probes are single runs, so near the capacity noise decides; repetitions
//! of the whole search give `compare` the spread.

use std::fmt;
use std::time::Duration;

use crate::measured::Report;

/// A latency objective: a percentile of the corrected latency at most a
/// bound, e.g. `p99<=1ms`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slo {
    /// The quantile, e.g. 0.99.
    pub quantile: f64,
    pub bound: Duration,
}

/// The percentiles an objective may name.
const QUANTILE_NAMES: [(&str, f64); 5] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999)];

impl Slo {
    /// `p99=1ms`, `p99<=1ms`, `p99.9=500us`.
    pub fn parse(s: &str) -> Result<Slo, String> {
        let bad = || {
            format!(
                "bad objective `{s}`: expected a percentile and a bound, e.g. p99=1ms or p99.9<=500us (percentiles: \
                 {})",
                QUANTILE_NAMES.map(|(n, _)| n).join(", ")
            )
        };
        let (name, bound) = s.split_once("<=").or_else(|| s.split_once('=')).ok_or_else(bad)?;
        let quantile =
            QUANTILE_NAMES.iter().find(|(n, _)| *n == name.trim()).map(|&(_, q)| q).ok_or_else(bad)?;
        let bound = crate::args::parse_duration(bound.trim()).map_err(|e| format!("{}: {e}", bad()))?;
        if bound.is_zero() {
            return Err(bad());
        }
        Ok(Slo { quantile, bound })
    }

    /// The percentile's name, `p99`.
    pub fn name(&self) -> &'static str {
        QUANTILE_NAMES.iter().find(|(_, q)| *q == self.quantile).map_or("p?", |(n, _)| n)
    }

    /// The bound in µs.
    pub fn bound_us(&self) -> f64 {
        self.bound.as_secs_f64() * 1e6
    }

    /// The percentile's value in a report, µs; `None` if nothing was
    /// answered.
    pub fn measured_us(&self, r: &Report) -> Option<f64> {
        (!r.corrected.is_empty()).then(|| r.corrected.value_at_quantile(self.quantile) as f64 / 1000.0)
    }
}

/// The normalised form the results' `slo` column holds: `p99<=1000us`.
impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}<={}us", self.name(), self.bound_us())
    }
}

/// Achieved below this share of offered fails a probe.
pub const KEEP_UP: f64 = 0.99;

/// How a probe went.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub pass: bool,
    /// Whether achieved was at least [`KEEP_UP`] of offered (a failure on
    /// latency alone keeps up).
    pub kept_up: bool,
    /// Why it failed, or what it measured, in a few words.
    pub why: String,
}

/// Judge one probe's report against the objective: complete, no broken
/// connections but timeouts, achieved ≥ [`KEEP_UP`] of offered, and the
/// percentile within the bound.
pub fn judge(r: &Report, slo: &Slo) -> Verdict {
    let fail = |why: String| Verdict { pass: false, kept_up: false, why };
    if let Some(why) = &r.incomplete {
        return fail(format!("incomplete: {why}"));
    }
    let e = &r.errors;
    if e.connect + e.reset + e.bad_response > 0 {
        return fail(format!(
            "errors: {} connect, {} reset, {} bad answers",
            e.connect, e.reset, e.bad_response
        ));
    }
    let (achieved, offered) = (r.achieved_rate(), r.offered_rate());
    let Some(p) = slo.measured_us(r) else { return fail("no answers".into()) };
    let figures = format!(
        "achieved {:.1}% of offered, {} {}",
        100.0 * achieved / offered.max(1e-9),
        slo.name(),
        crate::fmt::fmt_us(p)
    );
    if achieved < KEEP_UP * offered {
        return fail(format!("{figures}: did not keep up"));
    }
    if p > slo.bound_us() {
        let why = format!("{figures}: over {}", crate::fmt::fmt_us(slo.bound_us()));
        return Verdict { pass: false, kept_up: true, why };
    }
    Verdict { pass: true, kept_up: true, why: figures }
}

/// How the search proceeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchOptions {
    /// Stop when the lowest failure is within this share above the highest
    /// pass (0.03: 3%).
    pub resolution: f64,
    /// Most probes before giving up (the result then says so).
    pub max_probes: u32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { resolution: 0.03, max_probes: 16 }
    }
}

/// One search's state.
#[derive(Clone, Debug)]
pub struct Search {
    options: SearchOptions,
    estimate: f64,
    /// The scan's rates still to probe, ascending.
    ladder: Vec<f64>,
    /// The rate to probe next, if the search goes on.
    next: Option<f64>,
    /// Every probe: rate and verdict, in order.
    pub probes: Vec<(f64, Verdict)>,
}

/// The scan: these shares of the estimate, in this order.
pub const LADDER: [f64; 5] = [0.25, 0.5, 0.7, 0.85, 1.0];
/// Past the estimate (every rung passed: the estimate was low), up by
/// [`BEYOND`] once, then by [`FAR_BEYOND`] (it was far too low).
const BEYOND: f64 = 1.25;
const FAR_BEYOND: f64 = 2.0;
/// Below the ladder (no rung passed), down by this.
const DOWN: f64 = 2.0;
/// Below this rate the search gives up: nothing passes.
const LOWEST_RATE: f64 = 1.0;

impl Search {
    /// A search whose first estimate of the capacity is `estimate` req/s
    /// (a closed-loop run's throughput).
    ///
    /// It scans [`LADDER`] (a quarter of the estimate up to all of it)
    /// rather than stopping at the first failure, because latency need not
    /// rise with load: on a machine whose idle CPUs sleep deeply (a VM's
    /// vCPUs, deep C-states) a light load waits for wake-ups that a heavy
    /// one never sees, so p99 can fail at 25% and pass at 70%. The scan
    /// stops early only when a probe could not keep up (achieved below
    /// [`KEEP_UP`] of offered), which no higher rate will. Then bisection
    /// between the highest pass and the lowest failure above it, until
    /// they are within the resolution; so the capacity is the highest
    /// passing rate, as its definition says.
    pub fn new(estimate: f64, options: SearchOptions) -> Search {
        let estimate = estimate.max(LOWEST_RATE);
        let mut ladder: Vec<f64> = LADDER.iter().map(|f| (f * estimate).max(LOWEST_RATE)).collect();
        ladder.dedup();
        let next = Some(ladder.remove(0));
        Search { options, estimate, ladder, next, probes: Vec::new() }
    }

    /// The rate to probe next, or `None` once the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// The highest rate that passed.
    fn best(&self) -> Option<f64> {
        self.probes.iter().filter(|(_, v)| v.pass).map(|(r, _)| *r).max_by(f64::total_cmp)
    }

    /// The lowest rate that failed above `above` (anywhere, if `None`).
    fn failure_above(&self, above: Option<f64>) -> Option<f64> {
        self.probes
            .iter()
            .filter(|(r, v)| !v.pass && above.is_none_or(|a| *r > a))
            .map(|(r, _)| *r)
            .min_by(f64::total_cmp)
    }

    /// The probe at `rate` went as `verdict` says.
    pub fn record(&mut self, rate: f64, verdict: Verdict) {
        let could_not_keep_up = !verdict.kept_up;
        self.probes.push((rate, verdict));
        if self.probes.len() as u32 >= self.options.max_probes {
            self.next = None;
            return;
        }
        if could_not_keep_up {
            // No higher rate will keep up: the scan is over.
            self.ladder.retain(|&r| r < rate);
        }
        if !self.ladder.is_empty() {
            self.next = Some(self.ladder.remove(0));
            return;
        }
        let best = self.best();
        self.next = match (best, self.failure_above(best)) {
            // Everything so far passed: beyond the estimate.
            (Some(p), None) => Some(p * if p <= self.estimate { BEYOND } else { FAR_BEYOND }),
            // Nothing passed: below the lowest failure.
            (None, Some(f)) => Some(f / DOWN).filter(|&r| r >= LOWEST_RATE),
            (Some(p), Some(f)) if (f - p) / p <= self.options.resolution => None,
            (Some(p), Some(f)) => Some((p + f) / 2.0),
            (None, None) => unreachable!("a probe was just recorded"),
        };
    }

    /// The result, once [`Search::next_rate`] is `None`.
    pub fn result(&self) -> Capacity {
        let best = self.best();
        let lowest_failure = self.failure_above(best);
        let converged = match (best, lowest_failure) {
            (Some(p), Some(f)) => (f - p) / p <= self.options.resolution,
            _ => false,
        };
        // A failure below the capacity: latency that does not rise with load.
        let failed_below = best.is_some_and(|b| self.probes.iter().any(|(r, v)| !v.pass && *r < b));
        Capacity { rate: best, lowest_failure, converged, failed_below, probes: self.probes.len() as u32 }
    }
}

/// What a search found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capacity {
    /// The highest offered rate that passed; `None` if none did.
    pub rate: Option<f64>,
    /// The lowest that failed; `None` if none did (the search ran out of
    /// probes while still rising).
    pub lowest_failure: Option<f64>,
    /// Whether the two are within the resolution (otherwise the probes ran
    /// out).
    pub converged: bool,
    /// Whether a rate below the capacity failed: latency that falls as the
    /// load rises (idle CPUs that wake slowly), or noise.
    pub failed_below: bool,
    pub probes: u32,
}

impl Capacity {
    /// In words, for tables and notes.
    pub fn describe(&self) -> String {
        match (self.rate, self.lowest_failure) {
            (None, _) => format!("none: every probe failed ({} probes)", self.probes),
            (Some(p), None) => format!(
                "at least {} req/s (no probe failed in {})",
                crate::fmt::thousands(p.round() as u64),
                self.probes
            ),
            (Some(p), Some(f)) if !self.converged => format!(
                "{} req/s, not converged: lowest failure {} ({} probes)",
                crate::fmt::thousands(p.round() as u64),
                crate::fmt::thousands(f.round() as u64),
                self.probes
            ),
            (Some(p), Some(f)) => format!(
                "{} req/s (failed at {}, {} probes{})",
                crate::fmt::thousands(p.round() as u64),
                crate::fmt::thousands(f.round() as u64),
                self.probes,
                if self.failed_below { "; a lower rate failed too" } else { "" }
            ),
        }
    }
}

/// One whole search, probe after probe: `run(None)` is a closed-loop run
/// whose throughput is the first estimate (skipped if `estimate` is
/// given), `run(Some(rate))` an open-loop probe at `rate`. Returns the
/// search and every report, the estimate's first. A failed `run` ends the
/// search with that error.
pub fn search_with(
    slo: &Slo,
    estimate: Option<f64>,
    options: SearchOptions,
    mut run: impl FnMut(Option<f64>) -> anyhow::Result<Report>,
) -> anyhow::Result<(Search, Vec<Report>)> {
    let mut reports = Vec::new();
    let estimate = match estimate {
        Some(e) => e,
        None => {
            let r = run(None)?;
            let e = r.achieved_rate();
            reports.push(r);
            if e <= 0.0 || e.is_nan() {
                anyhow::bail!("the closed-loop run to estimate the capacity got no answers");
            }
            e
        }
    };
    let mut search = Search::new(estimate, options);
    while let Some(rate) = search.next_rate() {
        let r = run(Some(rate))?;
        search.record(rate, judge(&r, slo));
        reports.push(r);
    }
    Ok((search, reports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives() {
        let ms = Duration::from_millis;
        assert_eq!(Slo::parse("p99=1ms"), Ok(Slo { quantile: 0.99, bound: ms(1) }));
        assert_eq!(
            Slo::parse("p99.9<=500us"),
            Ok(Slo { quantile: 0.999, bound: Duration::from_micros(500) })
        );
        assert_eq!(Slo::parse("p99=1ms").unwrap().to_string(), "p99<=1000us");
        for bad in ["p98=1ms", "p99", "p99=", "p99=0ms", "=1ms", "p99=fast"] {
            let e = Slo::parse(bad).unwrap_err();
            assert!(e.contains("e.g. p99=1ms"), "{bad}: {e}");
        }
    }

    /// Drive a search against a server that keeps up with every rate up
    /// to `capacity` and meets the objective where `latency_ok` says.
    fn search_where(
        estimate: f64,
        capacity: f64,
        options: SearchOptions,
        latency_ok: impl Fn(f64) -> bool,
    ) -> Search {
        let mut s = Search::new(estimate, options);
        while let Some(rate) = s.next_rate() {
            let kept_up = rate <= capacity;
            s.record(rate, Verdict { pass: kept_up && latency_ok(rate), kept_up, why: String::new() });
        }
        s
    }

    fn search(estimate: f64, capacity: f64, options: SearchOptions) -> Search {
        search_where(estimate, capacity, options, |_| true)
    }

    #[test]
    fn a_latency_that_fails_at_light_load_does_not_hide_the_capacity() {
        // The objective fails below 40% of 100k (slow wake-ups at light
        // load) and above 90k (queueing); the server keeps up to 95k.
        let s = search_where(100_000.0, 95_000.0, SearchOptions::default(), |r| {
            (40_000.0..=90_000.0).contains(&r)
        });
        let c = s.result();
        let found = c.rate.unwrap();
        assert!(c.converged && c.failed_below, "{c:?}");
        assert!((87_300.0..=90_000.0).contains(&found), "{found}: {:?}", s.probes);
        assert!(c.describe().contains("a lower rate failed too"), "{}", c.describe());
    }

    #[test]
    fn the_scan_stops_where_the_server_cannot_keep_up() {
        let s = search(100_000.0, 30_000.0, SearchOptions::default());
        let rates: Vec<f64> = s.probes.iter().map(|(r, _)| *r).collect();
        assert_eq!(&rates[..3], &[25_000.0, 50_000.0, 37_500.0], "no rung above a failure to keep up");
    }

    #[test]
    fn the_search_finds_a_known_capacity_within_its_resolution() {
        // (first estimate, capacity, most probes it may take)
        for (estimate, capacity, most) in [
            (2_000.0, 2_000.0, 10),
            (2_200.0, 2_000.0, 10),
            (100_000.0, 37_000.0, 10),
            (1_000.0, 9_000.0, 16),
        ] {
            let s = search(estimate, capacity, SearchOptions::default());
            let c = s.result();
            let found = c.rate.unwrap();
            assert!(c.converged, "{c:?}");
            assert!(found <= capacity && found >= capacity / 1.03, "{estimate} {capacity}: {c:?}");
            assert!(c.probes <= most, "{} probes: {:?}", c.probes, s.probes);
        }
    }

    #[test]
    fn a_search_that_never_passes_or_never_fails_says_so() {
        let c = search(1_000.0, 0.0, SearchOptions::default()).result();
        assert_eq!((c.rate, c.converged), (None, false));
        assert!(c.describe().starts_with("none"), "{}", c.describe());
        let c =
            search(1_000.0, f64::INFINITY, SearchOptions { max_probes: 5, ..Default::default() }).result();
        assert_eq!((c.lowest_failure, c.probes), (None, 5));
        assert!(c.describe().starts_with("at least"), "{}", c.describe());
    }
}
