//! `ringside-results summarize`: figures that no results file holds,
//! summarised with the statistics `compare` uses, so that scripts compute
//! none of their own.
//!
//! Some figures a script gathers cannot be results rows: wrk's CPU time per
//! request (wrk writes no rows), or the gate's change for each of many
//! runs. Such a script writes them as a plain table, CSV with the header
//! `label,value`, a row per measurement; rows with one label are
//! repetitions of one measurement. This prints, per label in order of
//! first appearance, the median with its 95% confidence interval, n, the
//! smallest and the largest value, and with `--baseline LABEL` each other
//! label's change against that label's median with the Mann–Whitney p
//! (`~` when p ≥ 0.05), all from [`crate::stats`], as `compare` does for
//! results files.
//!
//! It reads every table whole before printing anything, so bad input is an
//! error naming the file, line and column, never half an answer; it never
//! writes a file.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::compare::{interval, number, percent};
use crate::stats::{self, Summary};

/// The flags of `ringside-results summarize`.
#[derive(Debug, clap::Args)]
#[command(
    about = "Summarise a plain label,value table (figures no results file holds) with compare's statistics",
    long_about = "Summarise figures that no results file holds (a foreign client's CPU per request, the \
                  gate's change over many runs) with the statistics compare uses, so that scripts compute \
                  none. The input is CSV with the header `label,value`, a row per measurement; rows with \
                  one label are repetitions of one measurement. Per label, in order of first appearance: \
                  the median, ± the half-width of its 95% confidence interval as a share of the median \
                  (±∞ below 6 values), n, the smallest and the largest value. With --baseline, each other \
                  label's delta (its median against the baseline label's) and the two-sided Mann-Whitney \
                  U p-value; delta reads `~` when p >= 0.05, a difference within the noise.",
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// Tables (CSV with the header `label,value`), read as one; `-` reads
    /// standard input.
    #[arg(required = true, value_name = "TABLE")]
    pub files: Vec<PathBuf>,

    /// Compare every other label against this one.
    #[arg(long, value_name = "LABEL")]
    pub baseline: Option<String>,

    /// Output: an aligned text table, or CSV (columns below).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The form of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, notes under the table.
    Text,
    /// A row per label; see below.
    Csv,
}

const AFTER_LONG_HELP: &str = "\
--format csv columns, a row per label:
  label        the label
  n            how many values it has
  median       their median
  ci_low       low end of the median's 95% confidence interval; empty below 6 values
  ci_high      high end of that interval
  min, max     the smallest and the largest value
  delta_pct    with --baseline: the median against the baseline label's, percent; empty on
               the baseline's row
  p_value      with --baseline: the two-sided Mann-Whitney U p-value against the baseline
               label's values; empty on the baseline's row
  significant  with --baseline: true if p_value < 0.05; empty on the baseline's row

Examples:
  ringside-results summarize --baseline wrk client-cpu.csv
  printf 'label,value\\nwrk,4.7\\nours,3.4\\n' | ringside-results summarize -
  ringside-results summarize --format csv changes.csv";

/// The columns of the CSV format, documented in `summarize --help`.
const CSV_COLUMNS: [&str; 10] =
    ["label", "n", "median", "ci_low", "ci_high", "min", "max", "delta_pct", "p_value", "significant"];

/// One label's values, in the order they were read.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub label: String,
    pub values: Vec<f64>,
}

/// Why a table could not be read: the file, and the line and column where
/// that applies.
#[derive(Debug)]
pub struct TableError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for TableError {}

/// Add the rows of the table `text` (from `file`) to `samples`: a value to
/// its label's sample, a new label at the end.
pub fn read_table(text: &str, file: &str, samples: &mut Vec<Sample>) -> Result<(), TableError> {
    let error = |line: Option<u64>, message: String| TableError { file: file.to_string(), line, message };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| error(Some(1), e.to_string()))?.clone();
    if header.iter().map(str::trim).ne(["label", "value"]) {
        return Err(error(
            Some(1),
            format!(
                "the header is `{}`, not `label,value`: write a row per measurement, its label then its value",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    for record in reader.records() {
        let record = record.map_err(|e| error(e.position().map(|p| p.line()), e.to_string()))?;
        let line = record.position().map(|p| p.line());
        let (label, value) = (record[0].trim(), record[1].trim());
        let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            error(
                line,
                format!("column `value`: `{value}` is not a number; write a finite number, e.g. 3.25"),
            )
        })?;
        match samples.iter_mut().find(|s| s.label == label) {
            Some(s) => s.values.push(value),
            None => samples.push(Sample { label: label.to_string(), values: vec![value] }),
        }
    }
    Ok(())
}

/// A label's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub summary: Summary,
    pub min: f64,
    pub max: f64,
    /// Against the baseline label (`None` without one, and on its own line).
    pub versus: Option<Versus>,
}

/// A label against the baseline label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Versus {
    /// `median / baseline median - 1`; `None` if the baseline's median is 0.
    pub delta: Option<f64>,
    /// The two-sided Mann–Whitney U p-value.
    pub p: Option<f64>,
    /// Whether these two sample sizes can give p < α at all.
    pub can_be_significant: bool,
}

impl Versus {
    pub fn significant(&self) -> bool {
        self.p.is_some_and(|p| p < stats::ALPHA)
    }
}

/// Each sample's figures, and against `baseline`'s if given; an error if
/// no sample has that label.
pub fn summarize(samples: &[Sample], baseline: Option<&str>) -> Result<Vec<Line>, String> {
    let base = match baseline {
        Some(name) => Some(samples.iter().find(|s| s.label == name).ok_or_else(|| {
            let labels: Vec<String> = samples.iter().map(|s| format!("`{}`", s.label)).collect();
            format!("no label `{name}` to compare against: the labels are {}", labels.join(", "))
        })?),
        None => None,
    };
    let lines = samples
        .iter()
        .filter_map(|s| {
            let summary = Summary::of(&s.values)?;
            let min = s.values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = s.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let versus = base.filter(|b| b.label != s.label).map(|b| {
                let base_median = Summary::of(&b.values).map_or(0.0, |m| m.median);
                Versus {
                    delta: (base_median != 0.0).then(|| summary.median / base_median - 1.0),
                    p: stats::mann_whitney_p(&b.values, &s.values),
                    can_be_significant: crate::gate::can_be_significant(b.values.len(), s.values.len()),
                }
            });
            Some(Line { label: s.label.clone(), summary, min, max, versus })
        })
        .collect();
    Ok(lines)
}

/// Marks used in the text table, explained under it.
const FEW_MARK: &str = "¹";

/// An aligned table, notes under it.
pub fn text(lines: &[Line], baseline: Option<&str>) -> String {
    let mut head = vec!["", "median", "±", "n", "min", "max"];
    if baseline.is_some() {
        head.extend(["delta", "p"]);
    }
    let (mut few, mut no_interval) = (false, false);
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for l in lines {
        let s = &l.summary;
        let small = l.versus.is_some_and(|v| !v.can_be_significant);
        few |= small;
        no_interval |= s.ci.is_none();
        let mut row = vec![
            l.label.clone(),
            number(s.median),
            match (s.ci, s.ci_relative()) {
                (None, _) => "±∞".into(),
                (Some(_), Some(r)) => interval(r),
                (Some(_), None) => "±?".into(),
            },
            format!("{}{}", s.n, if small { FEW_MARK } else { "" }),
            number(l.min),
            number(l.max),
        ];
        if let Some(v) = l.versus {
            row.push(match v.delta {
                None => "?".into(),
                Some(_) if !v.significant() => "~".into(),
                Some(d) => percent(d),
            });
            row.push(v.p.map_or_else(String::new, |p| format!("{p:.3}")));
        }
        rows.push(row);
    }
    let width = |s: &str| s.chars().count();
    let mut widths = vec![0; head.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let fill = " ".repeat(w - width(cell));
            if i == 0 {
                let _ = write!(line, "{cell}{fill}");
            } else {
                let _ = write!(line, "  {fill}{cell}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if let Some(b) = baseline {
        let _ = writeln!(
            out,
            "delta: the median against {b}'s; p: Mann-Whitney U, two-sided; ~ p >= 0.05, within the noise"
        );
    }
    if few {
        let _ = writeln!(
            out,
            "{FEW_MARK} too few values here and in the baseline's for any difference to be significant at \
             α = 0.05 (3 against 3: the smallest p possible is 0.1)"
        );
    }
    if no_interval {
        let _ = writeln!(out, "±∞ fewer than 6 values: too few for a 95% confidence interval of the median");
    }
    out
}

/// A row per label, numbers in full precision (columns in `--help`).
pub fn csv(lines: &[Line]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Into a Vec, writing strings cannot fail.
    writer.write_record(CSV_COLUMNS).expect("CSV record into a Vec");
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for l in lines {
        let s = &l.summary;
        let v = l.versus;
        writer
            .write_record([
                l.label.clone(),
                s.n.to_string(),
                s.median.to_string(),
                num(s.ci.map(|c| c.0)),
                num(s.ci.map(|c| c.1)),
                l.min.to_string(),
                l.max.to_string(),
                num(v.and_then(|v| v.delta).map(|d| d * 100.0)),
                num(v.and_then(|v| v.p)),
                v.map_or_else(String::new, |v| v.significant().to_string()),
            ])
            .expect("CSV record into a Vec");
    }
    let bytes = writer.into_inner().expect("flush into a Vec");
    String::from_utf8(bytes).expect("the CSV writer writes the UTF-8 it was given")
}

/// Read a table from `path`, or standard input for `-`.
fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        return Ok(("standard input".into(), text));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok((path.display().to_string(), text))
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut samples = Vec::new();
    let mut names = Vec::new();
    for path in &args.files {
        let (name, text) = read_input(path)?;
        read_table(&text, &name, &mut samples)?;
        names.push(name);
    }
    if samples.is_empty() {
        anyhow::bail!(
            "{} {} no values, only a header: nothing to summarise",
            names.join(", "),
            if names.len() == 1 { "has" } else { "have" }
        );
    }
    let lines = summarize(&samples, args.baseline.as_deref()).map_err(anyhow::Error::msg)?;
    let out = match args.format {
        Format::Text => text(&lines, args.baseline.as_deref()),
        Format::Csv => csv(&lines),
    };
    let mut stdout = io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Vec<Sample>, TableError> {
        let mut samples = Vec::new();
        read_table(text, "t.csv", &mut samples)?;
        Ok(samples)
    }

    #[test]
    fn labels_in_order_of_first_appearance() {
        let s = table("label,value\nwrk,4\nours,3\nwrk,5\n ours , 2.5\n").unwrap();
        assert_eq!(
            s,
            [
                Sample { label: "wrk".into(), values: vec![4.0, 5.0] },
                Sample { label: "ours".into(), values: vec![3.0, 2.5] }
            ]
        );
        // A second table adds to the first.
        let mut samples = s;
        read_table("label,value\nours,2\nnew,1\n", "u.csv", &mut samples).unwrap();
        assert_eq!(samples[1].values, [3.0, 2.5, 2.0]);
        assert_eq!(samples[2].label, "new");
    }

    #[test]
    fn bad_tables_name_the_file_and_line() {
        let cases = [
            ("value,label\n1,a\n", "t.csv line 1: the header is `value,label`, not `label,value`"),
            ("label,value\na,1\nb,fast\n", "t.csv line 3: column `value`: `fast` is not a number"),
            ("label,value\na,NaN\n", "t.csv line 2: column `value`: `NaN` is not a number"),
            ("label,value\na,1,2\n", "t.csv line 2: "),
        ];
        for (text, want) in cases {
            let e = table(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn medians_intervals_and_deltas() {
        let samples = table(
            "label,value\n\
             wrk,10\nwrk,11\nwrk,12\nwrk,13\nwrk,14\nwrk,15\n\
             ours,5\nours,6\nours,7\nours,8\nours,9\nours,10\n\
             same,10\nsame,15\nsame,11\nsame,14\nsame,12\nsame,13\n",
        )
        .unwrap();
        let lines = summarize(&samples, Some("wrk")).unwrap();
        assert_eq!(lines[0].summary.median, 12.5);
        assert_eq!(lines[0].summary.ci, Some((10.0, 15.0)));
        assert_eq!((lines[0].min, lines[0].max), (10.0, 15.0));
        assert_eq!(lines[0].versus, None, "the baseline is not compared with itself");
        let v = lines[1].versus.unwrap();
        assert_eq!(v.delta, Some(7.5 / 12.5 - 1.0));
        assert!(v.significant() && v.can_be_significant, "{v:?}");
        let v = lines[2].versus.unwrap();
        assert_eq!(v.delta, Some(0.0));
        assert!(!v.significant(), "{v:?}");

        let text = text(&lines, Some("wrk"));
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "      median     ±  n    min    max   delta      p");
        assert_eq!(rows[1], "wrk    12.50  ±20%  6  10.00  15.00");
        assert_eq!(rows[2], "ours   7.500  ±33%  6  5.000  10.00  -40.0%  0.004");
        assert_eq!(rows[3], "same   12.50  ±20%  6  10.00  15.00       ~  1.000");
        assert!(rows[4].starts_with("delta: the median against wrk's"), "{text}");
        assert_eq!(rows.len(), 5, "{text}");

        assert_eq!(
            summarize(&samples, Some("nginx")).unwrap_err(),
            "no label `nginx` to compare against: the labels are `wrk`, `ours`, `same`"
        );
    }

    #[test]
    fn small_samples_are_marked() {
        let samples = table("label,value\na,1\na,2\na,3\nb,4\nb,5\nb,6\n").unwrap();
        let text = text(&summarize(&samples, Some("a")).unwrap(), Some("a"));
        assert!(text.contains("3¹"), "{text}");
        assert!(text.contains("¹ too few values"), "{text}");
        assert!(text.contains("±∞ fewer than 6 values"), "{text}");
        let plain = super::text(&summarize(&samples, None).unwrap(), None);
        assert!(!plain.contains("delta") && !plain.contains('¹'), "{plain}");
    }

    #[test]
    fn csv_has_full_precision_and_empty_cells() {
        let samples = table("label,value\nbase,2\nbase,4\nx,3\n").unwrap();
        let out = csv(&summarize(&samples, Some("base")).unwrap());
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows[0], CSV_COLUMNS.join(","));
        assert_eq!(rows[1], "base,2,3,,,2,4,,,");
        assert_eq!(rows[2], "x,1,3,,,3,3,0,1,false");
    }
}
