//! The HdrHistogram formats of ringside, in one place: the histograms the
//! load generator records into, the interval log (`--hlog`, written by the
//! load generator and by `merge`, read by `merge`), the percentile
//! distribution (`.hgrm`), and a histogram's figures as the results CSV's
//! latency columns.
//!
//! **Units.** Histograms hold nanoseconds ([`new_histogram`]). The CSV's
//! latency columns are microseconds with up to 3 decimals
//! ([`LatencyColumns`]); files use milliseconds where HdrHistogram's tools
//! expect them (the `.hgrm` values, and the interval log's max column
//! through a max-value divisor of 10⁶), so they plot next to wrk2's.
//!
//! **The interval log.** For each second of a run, up to three lines of
//! one series each ([`Series`]): the corrected latencies untagged (what
//! HdrHistogram's tools read by default), the raw ones tagged
//! `Tag=`[`RAW_TAG`], and the send lag tagged `Tag=`[`LAG_TAG`]. Its first
//! line is a comment naming the writer and the unit. Logs written before
//! schema 3 hold microseconds and say so in that comment ("latency in
//! microseconds"); [`read_log`] tells them apart by it and converts their
//! histograms to nanoseconds, so every [`Log`] it returns is in
//! nanoseconds. A log without the comment (written by another tool) is
//! taken to be in nanoseconds.
//!
//! This module must never average percentiles: histograms are added
//! (exactly), and figures are taken from the sum.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry, LogIteratorError};
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

/// The smallest latency a histogram tells apart: 1 ns.
pub const LOWEST_NS: u64 = 1;
/// The largest latency a histogram holds: 60 s (a larger one is recorded
/// as 60 s). A request is a timeout long before that (`--timeout`, 2 s by
/// default); going to an hour would cost six more buckets (48 KiB) in every
/// histogram, of which a run keeps several per thread and `merge` one per
/// interval of every log.
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits every histogram keeps: a value is known to
/// within 0.1%.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram: nanoseconds, [`LOWEST_NS`] to
/// [`HIGHEST_NS`], [`SIGNIFICANT_DIGITS`].
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS).expect("valid histogram bounds")
}

/// The tag of an interval log's raw-latency lines.
pub const RAW_TAG: &str = "raw";
/// The tag of an interval log's send-lag lines.
pub const LAG_TAG: &str = "lag";

/// The interval log's max-value divisor: nanoseconds to milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1e6;

/// What the writer of an older log said in its first comment, when its
/// histograms held microseconds.
const MICROSECONDS_MARK: &str = "latency in microseconds";

/// Which figures a histogram (an interval log line) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Latency from the intended send time (untagged lines).
    Corrected,
    /// Latency from the actual send time (`Tag=raw`).
    Raw,
    /// Send lag: the actual send time minus the earliest the request could
    /// be sent (`Tag=lag`).
    Lag,
}

impl Series {
    /// The series, in the order a second's lines are written.
    pub const ALL: [Series; 3] = [Series::Corrected, Series::Raw, Series::Lag];

    /// The line's tag; `None` for the untagged corrected lines.
    pub fn tag(self) -> Option<&'static str> {
        match self {
            Series::Corrected => None,
            Series::Raw => Some(RAW_TAG),
            Series::Lag => Some(LAG_TAG),
        }
    }

    /// The series of a line with `tag`, if it is one of ours.
    pub fn of_tag(tag: Option<&str>) -> Option<Series> {
        Series::ALL.into_iter().find(|s| s.tag() == tag)
    }

    /// How messages name it: `corrected`, `raw`, `send lag`.
    pub fn name(self) -> &'static str {
        match self {
            Series::Corrected => "corrected",
            Series::Raw => "raw",
            Series::Lag => "send lag",
        }
    }
}

// ---------------- histogram → columns ----------------

/// `ns` nanoseconds in microseconds (exact to the nanosecond: 3 decimals).
pub fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The value at quantile `q` of `h`, microseconds; `None` if `h` is empty.
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| us(h.value_at_quantile(q)))
}

/// The percentiles of the CSV's latency columns, in column order.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// A histogram's figures as the results CSV's latency columns
/// (`lat_*_us`, `raw_*_us`; `send_lag_*_us` take p50, p99 and max):
/// microseconds with up to 3 decimals; all 0 for an empty histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyColumns {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub p9999_us: f64,
    pub max_us: f64,
    /// The mean, rounded to the nanosecond.
    pub mean_us: f64,
}

impl LatencyColumns {
    pub fn of(h: &Histogram<u64>) -> LatencyColumns {
        if h.is_empty() {
            return LatencyColumns::default();
        }
        let q = |i: usize| us(h.value_at_quantile(QUANTILES[i]));
        LatencyColumns {
            p50_us: q(0),
            p90_us: q(1),
            p99_us: q(2),
            p999_us: q(3),
            p9999_us: q(4),
            max_us: us(h.max()),
            mean_us: h.mean().round() / 1000.0,
        }
    }

    /// As [`LatencyColumns::of`]; all 0 for `None`.
    pub fn of_option(h: Option<&Histogram<u64>>) -> LatencyColumns {
        h.map(LatencyColumns::of).unwrap_or_default()
    }
}

// ---------------- the interval log: writing ----------------

/// Writes an interval log: the header when created, then a line per
/// [`LogWriter::write`].
///
/// The lines are those of HdrHistogram's `IntervalLogWriter` (a test checks
/// they are byte for byte), written here so that the writer can be kept in
/// a struct: HdrHistogram's borrows its output and serializer.
pub struct LogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    buf: Vec<u8>,
    text: String,
}

impl<W: Write> LogWriter<W> {
    /// Begin a log whose intervals count seconds from `start` (its
    /// `StartTime` and `BaseTime`); `writer` names the program in the first
    /// comment (`ringside-loadgen`).
    pub fn begin(mut out: W, start: SystemTime, writer: &str) -> io::Result<LogWriter<W>> {
        let since = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        writeln!(
            out,
            "#{writer}: latency in nanoseconds; untagged lines: corrected (from the intended send time), \
             Tag={RAW_TAG}: raw (from the actual send), Tag={LAG_TAG}: send lag (actual send minus the \
             earliest possible)"
        )?;
        writeln!(out, "#[StartTime: {:.3} (seconds since epoch)]", since(start))?;
        writeln!(out, "#[BaseTime: {:.3} (seconds since epoch)]", since(start))?;
        writeln!(out, "#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]")?;
        Ok(LogWriter { out, serializer: V2DeflateSerializer::new(), buf: Vec::new(), text: String::new() })
    }

    /// One line: second `second` (from the start) of `series`.
    pub fn write(&mut self, second: u64, series: Series, h: &Histogram<u64>) -> io::Result<()> {
        self.buf.clear();
        self.text.clear();
        self.serializer
            .serialize(h, &mut self.buf)
            .map_err(|e| io::Error::other(format!("cannot encode a histogram: {e:?}")))?;
        base64::engine::general_purpose::STANDARD.encode_string(&self.buf, &mut self.text);
        if let Some(tag) = series.tag() {
            write!(self.out, "Tag={tag},")?;
        }
        writeln!(
            self.out,
            "{:.3},{:.3},{:.3},{}",
            Duration::from_secs(second).as_secs_f64(),
            1.0,
            h.max() as f64 / MAX_VALUE_DIVISOR,
            self.text
        )
    }

    /// The output, once every line is written.
    pub fn into_inner(self) -> W {
        self.out
    }
}

// ---------------- the interval log: reading ----------------

/// An interval log, read and decoded; its histograms in nanoseconds.
#[derive(Debug)]
pub struct Log {
    pub path: PathBuf,
    /// Each interval: its start (wall clock), which series, the histogram.
    pub intervals: Vec<(SystemTime, Series, Histogram<u64>)>,
    /// The sum of the corrected intervals; `None` if there are none.
    pub corrected: Option<Histogram<u64>>,
    /// The sum of the raw intervals; `None` if there are none.
    pub raw: Option<Histogram<u64>>,
    /// The sum of the send-lag intervals; `None` if there are none.
    pub lag: Option<Histogram<u64>>,
    /// Whether any line was tagged `raw` (logs of early load generators
    /// have none).
    pub has_raw: bool,
    /// Whether any line was tagged `lag` (logs written before schema 3
    /// have none).
    pub has_lag: bool,
    /// Whether the file held microseconds (written before schema 3), now
    /// converted.
    pub was_microseconds: bool,
}

impl Log {
    /// The sum of one series.
    pub fn sum(&self, series: Series) -> Option<&Histogram<u64>> {
        match series {
            Series::Corrected => self.corrected.as_ref(),
            Series::Raw => self.raw.as_ref(),
            Series::Lag => self.lag.as_ref(),
        }
    }
}

/// Why an interval log could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read.
    Io { path: PathBuf, source: io::Error },
    /// A line is not what ringside writes.
    Corrupt { path: PathBuf, line: usize, problem: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ReadError::Corrupt { path, line, problem } => write!(
                f,
                "{} line {line}: {problem}: this is not an interval log as ringside-loadgen --hlog writes \
                 it (a file cut short or edited?); run the load again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// Read and decode the interval log at `path`, converting a log in
/// microseconds (see the module doc) to nanoseconds. Interval timestamps
/// are relative to the log's `BaseTime` (or its `StartTime`, or `fallback`
/// if it has neither), as HdrHistogram's log format says.
pub fn read_log(path: &Path, fallback: SystemTime) -> Result<Log, ReadError> {
    let bytes = fs::read(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    let corrupt = |offset: usize, problem: String| {
        let line = bytes[..offset.min(bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1;
        ReadError::Corrupt { path: path.to_path_buf(), line, problem }
    };
    let was_microseconds = bytes
        .split(|&b| b == b'\n')
        .take_while(|line| line.starts_with(b"#"))
        .any(|line| String::from_utf8_lossy(line).contains(MICROSECONDS_MARK));
    let (mut start, mut base) = (None, None);
    let mut log = Log {
        path: path.to_path_buf(),
        intervals: Vec::new(),
        corrected: None,
        raw: None,
        lag: None,
        has_raw: false,
        has_lag: false,
        was_microseconds,
    };
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let interval = match entry {
            Err(LogIteratorError::ParseError { offset }) => {
                return Err(corrupt(offset, "cannot parse this line".into()));
            }
            Ok(LogEntry::StartTime(t)) => {
                start = Some(UNIX_EPOCH + t);
                continue;
            }
            Ok(LogEntry::BaseTime(t)) => {
                base = Some(UNIX_EPOCH + t);
                continue;
            }
            Ok(LogEntry::Interval(interval)) => interval,
        };
        // The encoded histogram is a slice of `bytes`: its address says
        // where the line is.
        let encoded = interval.encoded_histogram();
        let offset = (encoded.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        let tag = interval.tag().map(|t| t.as_str());
        let series = Series::of_tag(tag).ok_or_else(|| {
            corrupt(
                offset,
                format!(
                    "unknown tag `{}` (ringside writes untagged lines, Tag={RAW_TAG} and Tag={LAG_TAG})",
                    tag.unwrap_or_default()
                ),
            )
        })?;
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| corrupt(offset, format!("the histogram is not base64 ({e})")))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut &compressed[..])
            .map_err(|e| corrupt(offset, format!("the histogram cannot be decoded ({e})")))?;
        let h = if was_microseconds { microseconds_to_nanoseconds(&h) } else { h };
        let at = interval.start_timestamp();
        // A timestamp beyond 2001 is absolute (logs without a base time).
        let at = if at.as_secs() > 1_000_000_000 {
            UNIX_EPOCH + at
        } else {
            base.or(start).unwrap_or(fallback) + at
        };
        let sum = match series {
            Series::Corrected => &mut log.corrected,
            Series::Raw => {
                log.has_raw = true;
                &mut log.raw
            }
            Series::Lag => {
                log.has_lag = true;
                &mut log.lag
            }
        };
        add(sum, &h).map_err(|e| corrupt(offset, e))?;
        log.intervals.push((at, series, h));
    }
    Ok(log)
}

/// A histogram of microseconds as one of nanoseconds: each recorded value
/// (the highest of its bucket, as percentiles report it) times 1000.
fn microseconds_to_nanoseconds(h: &Histogram<u64>) -> Histogram<u64> {
    let mut ns = new_histogram();
    for v in h.iter_recorded() {
        ns.saturating_record_n(v.value_iterated_to().saturating_mul(1000), v.count_at_value());
    }
    ns
}

/// Add `h` into `sum` exactly (HdrHistogram add; `sum` grows as needed).
pub fn add(sum: &mut Option<Histogram<u64>>, h: &Histogram<u64>) -> Result<(), String> {
    match sum {
        Some(s) => s.add(h).map_err(|e| format!("cannot add the histogram ({e:?})")),
        None => {
            let mut s = h.clone();
            s.auto(true);
            *sum = Some(s);
            Ok(())
        }
    }
}

// ---------------- .hgrm ----------------

/// Write `h`'s percentile distribution (HdrHistogram's .hgrm text) to
/// `out`: `h` in nanoseconds, the values in milliseconds.
pub fn write_hgrm(out: &mut impl Write, h: &Histogram<u64>) -> io::Result<()> {
    let ms = |ns: f64| ns / 1e6;
    writeln!(out, "{:>12} {:>14} {:>10} {:>14}\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")?;
    for (value, percent, total) in percentile_rows(h, 5) {
        let q = percent / 100.0;
        let value = ms(value as f64);
        if percent < 100.0 {
            writeln!(out, "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}", 1.0 / (1.0 - q))?;
        } else {
            writeln!(out, "{value:>12.3} {q:>14.12} {total:>10}")?;
        }
    }
    writeln!(out, "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]", ms(h.mean()), ms(h.stdev()))?;
    writeln!(out, "#[Max     = {:>12.3}, Total count    = {:>12}]", ms(h.max() as f64), h.len())?;
    // The counts array holds (buckets + 1) * sub_buckets / 2 entries.
    let sub_buckets = 2 * h.distinct_values() / (usize::from(h.buckets()) + 1);
    writeln!(out, "#[Buckets = {:>12}, SubBuckets     = {:>12}]", h.buckets(), sub_buckets)
}

/// The rows of a percentile distribution: (value, percentile level in
/// percent, count up to the value), stepped as HdrHistogram's Java
/// `PercentileIterator` steps them: `ticks` levels in each half of the
/// distance to 100%, a row for each level at the first bucket whose
/// cumulative share reaches it, one row at the bucket that completes the
/// count, then the 100% row. The levels are stepped in percent, as Java
/// does, where each step (10, 5, 2.5, ...) is exact; the hdrhistogram
/// crate steps in quantiles (0.1 + 0.1 + 0.1 > 0.3), so a bucket that
/// reaches a level exactly would be reported one bucket late.
fn percentile_rows(h: &Histogram<u64>, ticks: u32) -> Vec<(u64, f64, u64)> {
    let n = h.len();
    let mut rows = Vec::new();
    if n == 0 {
        return rows;
    }
    let mut level = 0.0_f64;
    let mut total = 0;
    for v in h.iter_recorded() {
        total += v.count_at_value();
        let reached = 100.0 * total as f64 / n as f64;
        while level <= reached {
            rows.push((v.value_iterated_to(), level, total));
            if total == n {
                break;
            }
            let halvings = (100.0 / (100.0 - level)).log2() as u32;
            let step = 100.0 / (u64::from(ticks) << (halvings + 1)) as f64;
            level = if level + step == level { 100.0 } else { level + step };
        }
        if total == n {
            rows.push((v.value_iterated_to(), 100.0, n));
            break;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ringside-hdr-{}-{name}", std::process::id()))
    }

    #[test]
    fn histograms_hold_nanoseconds_to_a_minute() {
        let mut h = new_histogram();
        h.record(1).unwrap();
        h.record(1_999).unwrap();
        h.record(HIGHEST_NS).unwrap();
        assert!(h.record(HIGHEST_NS * 2).is_err());
        assert_eq!(h.value_at_quantile(0.5), 1_999, "exact below 2048 ns");
        assert!(h.highest_equivalent(HIGHEST_NS) - HIGHEST_NS < HIGHEST_NS / 1000);
    }

    #[test]
    fn columns_are_microseconds_with_three_decimals() {
        let h = histogram(&[500, 1_999, 1_000_000, 1_500]);
        let c = LatencyColumns::of(&h);
        assert_eq!(c.p50_us, 1.5);
        assert_eq!(c.p90_us, us(h.highest_equivalent(1_000_000)));
        assert_eq!(c.max_us, us(h.highest_equivalent(1_000_000)));
        assert_eq!(c.mean_us, h.mean().round() / 1000.0);
        assert_eq!(LatencyColumns::of(&new_histogram()), LatencyColumns::default());
        assert_eq!(LatencyColumns::of_option(None), LatencyColumns::default());
        assert_eq!(quantile_us(&h, 0.5), Some(1.5));
        assert_eq!(quantile_us(&new_histogram(), 0.5), None);
    }

    /// Our writer's lines are HdrHistogram's writer's, byte for byte (but
    /// for the first comment, which is ours).
    #[test]
    fn the_log_writer_writes_what_hdrhistogram_writes() {
        let start = UNIX_EPOCH + Duration::from_millis(1_796_289_346_224);
        let seconds = [histogram(&[1_000, 2_000_000]), histogram(&[]), histogram(&[50_000])];
        let mut ours = LogWriter::begin(Vec::new(), start, "test").unwrap();
        for (i, h) in seconds.iter().enumerate() {
            ours.write(i as u64, Series::ALL[i], h).unwrap();
        }
        let ours = String::from_utf8(ours.into_inner()).unwrap();

        let mut theirs = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut theirs, &mut serializer)
            .unwrap();
        for (i, h) in seconds.iter().enumerate() {
            let tag = Series::ALL[i].tag().and_then(Tag::new);
            log.write_histogram(h, Duration::from_secs(i as u64), Duration::from_secs(1), tag).unwrap();
        }
        drop(log);
        let theirs = String::from_utf8(theirs).unwrap();
        let (comment, rest) = ours.split_once('\n').unwrap();
        assert!(comment.starts_with("#test: latency in nanoseconds;"), "{comment}");
        assert_eq!(rest, theirs);
        assert!(rest.contains("\nTag=lag,2.000,1.000,0.050,"), "{rest}");
    }

    #[test]
    fn logs_read_back_in_nanoseconds() {
        let path = temp("back.hlog");
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut log = LogWriter::begin(Vec::new(), start, "test").unwrap();
        log.write(0, Series::Corrected, &histogram(&[1_500, 2_500])).unwrap();
        log.write(0, Series::Raw, &histogram(&[1_000, 2_000])).unwrap();
        log.write(0, Series::Lag, &histogram(&[10, 20])).unwrap();
        log.write(1, Series::Corrected, &histogram(&[3_500])).unwrap();
        fs::write(&path, log.into_inner()).unwrap();
        let back = read_log(&path, UNIX_EPOCH).unwrap();
        assert!(!back.was_microseconds && back.has_raw && back.has_lag);
        assert_eq!(back.corrected.as_ref().unwrap(), &histogram(&[1_500, 2_500, 3_500]));
        assert_eq!(back.sum(Series::Lag).unwrap(), &histogram(&[10, 20]));
        let at: Vec<(u64, Series)> =
            back.intervals.iter().map(|(t, s, _)| (t.duration_since(start).unwrap().as_secs(), *s)).collect();
        assert_eq!(at, [(0, Series::Corrected), (0, Series::Raw), (0, Series::Lag), (1, Series::Corrected)]);
        let _ = fs::remove_file(path);
    }

    /// A log the schema-2 load generator wrote (microseconds, no lag lines)
    /// reads back in nanoseconds, its figures those of its row.
    #[test]
    fn a_microsecond_log_of_an_older_load_generator_is_converted() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata");
        let rows = crate::read(&dir.join("schema2.csv")).unwrap();
        for row in rows {
            let log = read_log(&dir.join(&row.hlog), UNIX_EPOCH).unwrap();
            assert!(log.was_microseconds && log.has_raw && !log.has_lag, "{}", row.hlog);
            let corrected = log.corrected.as_ref().unwrap();
            assert_eq!(corrected.len(), row.requests);
            let c = LatencyColumns::of(corrected);
            // The row's µs figures, now within the nanosecond histogram's
            // 0.1% (a µs value v becomes the top of the ns bucket of 1000 v).
            for (ours, theirs) in
                [(c.p50_us, row.lat_p50_us), (c.p99_us, row.lat_p99_us), (c.max_us, row.lat_max_us)]
            {
                assert!(ours >= theirs && ours <= theirs * 1.001 + 0.001, "{ours} against {theirs}");
            }
            assert!((c.mean_us - row.lat_mean_us).abs() < row.lat_mean_us * 0.01, "{c:?} {row:?}");
            let raw = LatencyColumns::of(log.raw.as_ref().unwrap());
            assert!(raw.p99_us >= row.raw_p99_us && raw.p99_us <= row.raw_p99_us * 1.001 + 0.001);
            let start = crate::parse_timestamp_utc(&row.timestamp).unwrap();
            let first = log.intervals[0].0;
            let gap = first.duration_since(start).unwrap_or_else(|e| e.duration());
            assert!(gap < Duration::from_millis(10), "intervals count from the window's start: {gap:?}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let path = temp("bad.hlog");
        let mut log = LogWriter::begin(Vec::new(), UNIX_EPOCH, "test").unwrap();
        log.write(0, Series::Raw, &histogram(&[1])).unwrap();
        let text = String::from_utf8(log.into_inner()).unwrap();
        fs::write(&path, text.replace("Tag=raw", "Tag=other")).unwrap();
        let e = read_log(&path, UNIX_EPOCH).unwrap_err().to_string();
        assert!(e.contains("line 5: unknown tag `other`"), "{e}");
        fs::write(&path, "#[StartTime: 1 (seconds since epoch)]\nnot a log line\n").unwrap();
        let e = read_log(&path, UNIX_EPOCH).unwrap_err().to_string();
        assert!(e.contains("line 2: cannot parse"), "{e}");
        let _ = fs::remove_file(&path);
        let e = read_log(&path, UNIX_EPOCH).unwrap_err().to_string();
        assert!(e.starts_with("cannot read"), "{e}");
    }

    #[test]
    fn hgrm_is_in_milliseconds() {
        let mut h = new_histogram();
        for v in 1..=1000 {
            h.record(v * 1000).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&mut out, &h).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"), "{text}");
        assert!(text.contains("#[Max     =        1.000, Total count    =         1000]"), "{text}");
        assert!(text.contains("#[Mean    =        0.501"), "{text}");
    }

    #[test]
    fn a_bucket_that_reaches_a_level_exactly_is_its_row() {
        // 1..=10 µs once each: 3 µs completes 30%, 5 µs 50%.
        let h = histogram(&(1..=10).map(|v| v * 1000).collect::<Vec<_>>());
        let rows = percentile_rows(&h, 5);
        let at = |percent: f64| rows.iter().find(|r| r.1 == percent).map(|r| (h.lowest_equivalent(r.0), r.2));
        assert_eq!(at(0.0), Some((1000, 1)));
        assert_eq!(at(30.0), Some((3000, 3)));
        assert_eq!(at(50.0), Some((5000, 5)));
        assert_eq!(at(55.0), Some((6000, 6)));
        assert_eq!(at(100.0), Some((10000, 10)));
        // Each level once, rising; the count never falls.
        assert!(rows.windows(2).all(|w| w[0].1 < w[1].1 && w[0].2 <= w[1].2), "{rows:?}");
        // The bucket that completes the count gives one row, then 100%.
        let last: Vec<_> = rows.iter().filter(|r| r.2 == 10).collect();
        assert_eq!(last.len(), 2, "{rows:?}");
    }

    #[test]
    fn one_value_and_no_values() {
        let h = histogram(&[5000]);
        let rows = percentile_rows(&h, 5);
        assert_eq!(rows.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(), [(0.0, 1), (100.0, 1)]);
        assert!(percentile_rows(&new_histogram(), 5).is_empty());
    }
}
