//! The HdrHistogram interval log a run writes (`--hlog`): per second of the
//! window the corrected, raw and send-lag histograms, written by a thread
//! of its own as the seconds complete. The format is `results::hdr`'s.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::SystemTime;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use results::hdr::{LogWriter, Series};

/// One second for the interval log: its number, corrected and raw
/// latencies, and the send lag if measured.
type LogSecond = (u64, Histogram<u64>, Histogram<u64>, Option<Histogram<u64>>);

/// The interval log (`--hlog`): per second of the window, the corrected
/// latencies' histogram (untagged), the raw latencies' (`Tag=raw`) and, when
/// measured, the send lag's (`Tag=lag`), written by a thread of its own as
/// the seconds complete.
pub struct IntervalLog {
    tx: Option<mpsc::Sender<LogSecond>>,
    writer: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl IntervalLog {
    pub fn create(path: &Path, start: SystemTime) -> anyhow::Result<Self> {
        let mut file =
            BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
        let (tx, rx) = mpsc::channel::<LogSecond>();
        let shown = path.display().to_string();
        let writer =
            std::thread::Builder::new().name("hlog".into()).spawn(move || -> anyhow::Result<()> {
                let mut log = LogWriter::begin(&mut file, start, "ringside-loadgen")
                    .with_context(|| format!("cannot write {shown}"))?;
                for (second, corrected, raw, lag) in rx {
                    log.write(second, Series::Corrected, &corrected)
                        .and_then(|()| log.write(second, Series::Raw, &raw))
                        .and_then(|()| lag.map_or(Ok(()), |lag| log.write(second, Series::Lag, &lag)))
                        .with_context(|| format!("cannot write {shown}"))?;
                }
                drop(log);
                file.flush().with_context(|| format!("cannot write {shown}"))?;
                Ok(())
            })?;
        Ok(IntervalLog { tx: Some(tx), writer: Some(writer) })
    }

    /// Log one second's corrected and raw latencies, and its send lag if
    /// measured (a line of its own, `Tag=lag`).
    pub fn write(
        &mut self,
        second: u64,
        corrected: &Histogram<u64>,
        raw: &Histogram<u64>,
        lag: Option<&Histogram<u64>>,
    ) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((second, corrected.clone(), raw.clone(), lag.cloned()));
        }
    }

    /// Wait until everything is on disk.
    pub fn close(mut self) -> anyhow::Result<()> {
        drop(self.tx.take());
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the interval log writer panicked"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_log_reads_back_with_hdrhistogram() {
        let path = std::env::temp_dir().join(format!("ringside-hlog-{}.hlog", std::process::id()));
        let start = SystemTime::now();
        let mut log = IntervalLog::create(&path, start).unwrap();
        for second in 0..3 {
            let (mut corrected, mut raw) = (crate::engine::new_histogram(), crate::engine::new_histogram());
            corrected.record(100_000 * (second + 1)).unwrap();
            raw.record(10_000 * (second + 1)).unwrap();
            let mut lag = crate::engine::new_histogram();
            lag.record(1_000).unwrap();
            log.write(second, &corrected, &raw, (second == 1).then_some(&lag));
        }
        log.close().unwrap();
        let text = std::fs::read(&path).unwrap();
        let mut seen = Vec::new();
        for entry in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&text) {
            if let hdrhistogram::serialization::interval_log::LogEntry::Interval(h) = entry.unwrap() {
                seen.push((h.tag().map(|t| t.as_str()), h.start_timestamp().as_secs(), h.max()));
            }
        }
        // Max values in ms (the divisor); untagged lines are corrected.
        assert_eq!(
            seen,
            vec![
                (None, 0, 0.1),
                (Some("raw"), 0, 0.01),
                (None, 1, 0.2),
                (Some("raw"), 1, 0.02),
                (Some("lag"), 1, 0.001),
                (None, 2, 0.3),
                (Some("raw"), 2, 0.03)
            ]
        );
        let _ = std::fs::remove_file(path);
    }
}
