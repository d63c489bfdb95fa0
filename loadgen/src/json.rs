//! `run --json`: a run's summary as one JSON document for scripts — the
//! fields of its results row, named and typed as the CSV's columns
//! (`results/SCHEMA.md`), and the percentile distributions the row only
//! samples. Nothing a script reads from a run needs the human summary.
//!
//! The document is built from the same [`results::Row`] `--csv` appends,
//! so the two never disagree.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::measured::Report;

/// The points of each distribution in the document, as (quantile,
/// percentile): the CSV's columns and more, from the minimum to the
/// maximum. Both written out, since `99.9 / 100.0` is not `0.999` in
/// floating point, and the CSV's columns take their value at the latter.
pub const PERCENTILES: [(f64, f64); 12] = [
    (0.0, 0.0),
    (0.1, 10.0),
    (0.25, 25.0),
    (0.5, 50.0),
    (0.75, 75.0),
    (0.9, 90.0),
    (0.95, 95.0),
    (0.99, 99.0),
    (0.999, 99.9),
    (0.9999, 99.99),
    (0.99999, 99.999),
    (1.0, 100.0),
];

/// What `run --json` prints.
#[derive(Serialize)]
pub struct Document<'a> {
    /// Every column of the row, under its column name.
    #[serde(flatten)]
    pub row: &'a results::Row,
    pub percentiles: Percentiles,
}

/// The latency distributions, each a list of points.
#[derive(Serialize)]
pub struct Percentiles {
    /// The values' unit: `us`, as the CSV's (nanosecond resolution, so up
    /// to 3 decimals).
    pub unit: &'static str,
    /// From the intended send time (the CSV's `lat_*`).
    pub corrected: Vec<Point>,
    /// From the actual send (`raw_*`).
    pub raw: Vec<Point>,
    /// The load generator's own lateness (`send_lag_*`); empty in closed
    /// loop.
    pub send_lag: Vec<Point>,
}

/// One percentile of a distribution.
#[derive(Debug, PartialEq, Serialize)]
pub struct Point {
    /// 0 to 100 (0 is the minimum, 100 the maximum).
    pub percentile: f64,
    /// Microseconds.
    pub value: f64,
}

/// The points of `h` (nanoseconds) at [`PERCENTILES`]; none for an empty
/// histogram.
pub fn points(h: &Histogram<u64>) -> Vec<Point> {
    if h.is_empty() {
        return Vec::new();
    }
    PERCENTILES
        .iter()
        .map(|&(q, percentile)| Point { percentile, value: results::hdr::us(h.value_at_quantile(q)) })
        .collect()
}

/// The document for report `r` and its row, pretty-printed, with a final
/// newline.
pub fn document(r: &Report, row: &results::Row) -> String {
    let doc = Document {
        row,
        percentiles: Percentiles {
            unit: "us",
            corrected: points(&r.corrected),
            raw: points(&r.raw),
            send_lag: if r.args.rate.is_some() { points(&r.lag) } else { Vec::new() },
        },
    };
    // A row and lists of numbers: serialising cannot fail.
    serde_json::to_string_pretty(&doc).expect("the run's document serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_run_from_the_minimum_to_the_maximum_in_microseconds() {
        let mut h = results::hdr::new_histogram();
        for v in 1..=1000 {
            h.record(v * 1000).unwrap();
        }
        let p = points(&h);
        assert_eq!(p.len(), PERCENTILES.len());
        assert_eq!(p[0], Point { percentile: 0.0, value: 1.0 });
        assert_eq!(p[3], Point { percentile: 50.0, value: results::hdr::us(h.value_at_quantile(0.5)) });
        assert_eq!(p[11], Point { percentile: 100.0, value: results::hdr::us(h.max()) });
        // The CSV's columns are among the points.
        let c = results::hdr::LatencyColumns::of(&h);
        let columns =
            [(50.0, c.p50_us), (90.0, c.p90_us), (99.0, c.p99_us), (99.9, c.p999_us), (99.99, c.p9999_us)];
        for (percentile, column) in columns {
            assert_eq!(p.iter().find(|x| x.percentile == percentile).unwrap().value, column);
        }
        assert!(points(&results::hdr::new_histogram()).is_empty());
    }
}
