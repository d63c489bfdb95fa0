//! What a run prints and writes: the summary, the percentile distribution
//! (`--hgrm`), and the HdrHistogram interval log (`--hlog`).
//!
//! Histograms hold nanoseconds; the summary prints microseconds and up.
//! The file formats (`.hgrm`, the interval log: for each second the
//! corrected latencies untagged, the raw ones tagged `Tag=raw`) are
//! `results::hdr`'s, which `ringside-results merge` reads and writes too.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use results::hdr::{self};

use crate::args::describe_work;
use crate::fmt::{fmt_us, thousands};
use crate::measured::Report;

/// The percentiles the summary prints (those of the CSV columns, `results::hdr::QUANTILES`).
pub const QUANTILES: [(f64, &str); 5] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (0.9999, "p99.99")];

fn latency_line(label: &str, h: &Histogram<u64>) -> String {
    let mut line = format!("    {label:<10}");
    if h.is_empty() {
        line.push_str("  (no answers)");
        return line;
    }
    for (q, _) in QUANTILES {
        let _ = write!(line, "{:>10}", fmt_us(hdr::us(h.value_at_quantile(q))));
    }
    let _ = write!(line, "{:>10}{:>10}", fmt_us(hdr::us(h.max())), fmt_us(h.mean() / 1000.0));
    line
}

/// The summary, as wrk prints one, with more percentiles and the costs.
pub fn summary(r: &Report) -> String {
    let a = &r.args;
    let mut s = String::new();
    let backend = r
        .server_before
        .as_ref()
        .map(|st| format!("{} ({})", st.backend, st.options))
        .unwrap_or_else(|| "unknown backend".into());
    let _ = writeln!(s, "{} {} at {}: {backend}", a.protocol, shape_words(r), r.addr);
    let mode = match a.rate {
        None => format!("closed loop, pipeline {}", a.pipeline),
        Some(rate) => format!(
            "open loop at {} req/s ({:?}), pipeline {}",
            thousands(rate as u64),
            a.arrival,
            a.pipeline
        )
        .to_lowercase(),
    };
    let _ = writeln!(
        s,
        "  {} connections over {} thread{}, {mode}; {:.2} s measured after {:.2} s warm-up",
        a.connections,
        r.threads,
        if r.threads == 1 { "" } else { "s" },
        r.window.as_secs_f64(),
        a.warmup.as_secs_f64()
    );
    let mut head = format!("  {:<12}", "Latency");
    for (_, name) in QUANTILES {
        let _ = write!(head, "{name:>10}");
    }
    let _ = write!(head, "{:>10}{:>10}", "max", "mean");
    let _ = writeln!(s, "{head}");
    let _ = writeln!(s, "{}", latency_line("corrected", &r.corrected));
    let _ = writeln!(s, "{}", latency_line("raw", &r.raw));
    if a.rate.is_some() {
        let _ = writeln!(s, "{}", latency_line("send lag", &r.lag));
    }
    let _ = writeln!(
        s,
        "  Requests   {} in {:.2} s = {} req/s achieved (answers received in the window)",
        thousands(r.answered_in_window),
        r.window.as_secs_f64(),
        thousands(r.achieved_rate() as u64),
    );
    if let Some(rate) = a.rate {
        let _ = writeln!(
            s,
            "  Offered    {} req/s (the schedule: {} requests in the window at --rate {}); sent {} req/s",
            thousands(r.offered_rate() as u64),
            thousands(r.scheduled),
            thousands(rate as u64),
            thousands(r.sent_rate() as u64),
        );
        let _ = writeln!(
            s,
            "  Drain      {} of the window's requests answered after it, {} timed out; {:.2} s after the window \
             (at most --timeout {})",
            thousands(r.late),
            thousands(r.errors.timeout),
            r.drain.as_secs_f64(),
            crate::fmt::fmt_us(a.timeout.as_secs_f64() * 1e6),
        );
    }
    let _ = writeln!(s, "  Errors     {}", errors_line(&r.errors));
    if r.reconnects > 0 {
        let _ = writeln!(
            s,
            "  Reconnects {} (the server closed connections after answering: Connection: close, HTTP/1.0, or a \
             body that ends at the close; each reconnect blocks a load thread while it connects)",
            thousands(r.reconnects)
        );
    }
    if let Some(line) = conns_line(r) {
        let _ = writeln!(s, "  Conns      {line}");
    }
    match &r.server {
        Some(p) => {
            let _ = writeln!(s, "  Server     {}", per_request(p));
        }
        None => {
            let why = if r.notes.is_empty() { "" } else { " (see the notes below)" };
            let _ = writeln!(s, "  Server     not measured{why}");
        }
    }
    let _ = writeln!(s, "  Client     {}", per_request(&r.client));
    let _ = writeln!(s, "  Syscalls   {}", syscalls_line(r));
    if let (Some(p), Some(cost)) = (&r.server, r.switch_cost) {
        let switches = p.vcs + p.ics;
        let share = crate::csv_row::switch_share_pct(p.vcs, p.ics, p.cpu_us(), cost.same_cpu_ns);
        let _ = writeln!(
            s,
            "  Switching  ~{:.2} us of the server's {:.2} us per request ({share:.1}%): {switches:.3} switches x \
             {:.0} ns (a same-CPU switch here; a cross-CPU wake-up is {:.1} us)",
            switches * cost.same_cpu_ns / 1000.0,
            p.cpu_us(),
            cost.same_cpu_ns,
            cost.cross_cpu_ns / 1000.0
        );
    }
    warnings(r, &mut s);
    for note in &r.notes {
        let _ = writeln!(s, "  Note: {note}");
    }
    if let Some(why) = &r.incomplete {
        let _ = writeln!(s, "  INCOMPLETE: {why}");
    }
    s
}

/// The errors by kind, and the answers that were not 2xx by status class.
fn errors_line(e: &crate::engine::Errors) -> String {
    format!(
        "connect {}, reset {}, timeout {}, bad response {}{}",
        e.connect,
        e.reset,
        e.timeout,
        e.bad_response,
        if e.http_status() > 0 {
            format!(
                "; answers not 2xx (counted as errors, not as answers): 3xx {}, 4xx {}, 5xx {}",
                e.http_3xx, e.http_4xx, e.http_5xx
            )
        } else {
            String::new()
        }
    )
}

/// The summary's warnings: an open loop the server (or the load
/// generator) could not keep up with, and a send lag large enough to be
/// part of the latencies.
fn warnings(r: &Report, s: &mut String) {
    let a = &r.args;
    if r.rate_shortfall() {
        let _ = writeln!(
            s,
            "  WARNING: achieved {} req/s, {:.1}% below the {} req/s offered (the threshold is {:.0}%): the server \
             could not keep up (or the load generator: see the send lag); the achieved rate is what the server \
             did, and the latencies include the queueing",
            thousands(r.achieved_rate() as u64),
            100.0 - 100.0 * r.achieved_rate() / r.offered_rate().max(1e-9),
            thousands(r.offered_rate() as u64),
            100.0 * (1.0 - crate::measured::SHORTFALL_BELOW),
        );
    }
    if r.lag_warning() {
        let (lag, corrected) = (r.lag.value_at_quantile(0.99), r.corrected.value_at_quantile(0.99));
        // How busy the load threads were: idle ones lag because their CPUs
        // wake up late; busy ones because they have too much to do.
        let busy = r.client.cpu_us() * r.answered_in_window as f64
            / (r.window.as_secs_f64() * 1e6 * r.threads.max(1) as f64);
        let advice = if busy < 0.5 && a.spin.is_zero() {
            format!(
                "its threads were {:.0}% busy, so this is their CPUs waking up: --spin 100us busy-polls before \
                 each send instead",
                100.0 * busy
            )
        } else {
            format!(
                "its threads were {:.0}% busy: give it more CPUs (--cores, --threads) or lower --rate",
                100.0 * busy
            )
        };
        let _ = writeln!(
            s,
            "  WARNING: the send lag's p99 ({}) is {:.0}% of the corrected p99 ({}): those latencies measure the \
             load generator's own lateness as well as the server; {advice}",
            fmt_us(lag as f64 / 1000.0),
            100.0 * lag as f64 / corrected as f64,
            fmt_us(corrected as f64 / 1000.0),
        );
    }
}

/// How evenly the answers spread over the connections, and how many got
/// none: a connection the server never served is invisible in req/s and
/// latency (it sends nothing more), so it is counted here.
fn conns_line(r: &Report) -> Option<String> {
    let n = &r.answers_per_conn;
    let (&min, &max) = (n.first()?, n.last()?);
    let median = n[n.len() / 2];
    let unanswered = r.conns_unanswered;
    let mut line = format!(
        "{} with requests in the window; answers each: min {}, median {}, max {}",
        thousands(n.len() as u64),
        thousands(min),
        thousands(median),
        thousands(max)
    );
    if unanswered > 0 {
        let _ = write!(line, "; {} NEVER ANSWERED", thousands(unanswered as u64));
    }
    Some(line)
}

fn shape_words(r: &Report) -> String {
    match r.shape.protocol {
        protocol::Protocol::Echo => format!("{}-byte messages", r.shape.request_bytes),
        protocol::Protocol::Rr => format!(
            "{} B requests, {} B responses, work {}",
            r.shape.request_bytes,
            r.shape.response_bytes,
            describe_work(r.shape.work)
        ),
        protocol::Protocol::Http => "GET /".into(),
    }
}

/// The system calls per request, server and client, each with its most
/// frequent calls: `server 2.03/req (read 1.00, write 1.00, epoll_pwait2
/// 0.031), client 0.052/req (io_uring_enter 0.052)`.
fn syscalls_line(r: &Report) -> String {
    let side = |whose: &str, p: Option<&crate::syscalls::PerRequest>| match p {
        Some(p) => format!(
            "{whose} {}/req ({})",
            crate::syscalls::short(p.total),
            crate::syscalls::top(&p.by_name, 4)
        ),
        None => format!("{whose} not counted"),
    };
    let why = if r.server_syscalls.is_none() || r.client_syscalls.is_none() {
        " (see the notes below)"
    } else {
        ""
    };
    format!(
        "{}, {}{why}",
        side("server", r.server_syscalls.as_ref()),
        side("client", r.client_syscalls.as_ref())
    )
}

fn per_request(p: &crate::server_stats::PerRequest) -> String {
    format!(
        "per request: CPU {:.2} us (user {:.2}, sys {:.2}); context switches {:.3} voluntary, {:.3} involuntary",
        p.cpu_us(),
        p.cpu_user_us,
        p.cpu_sys_us,
        p.vcs,
        p.ics
    )
}

/// Write `h` (ns) as HdrHistogram's percentile distribution, in ms (the
/// same text `ringside-results merge --hgrm-out` writes).
pub fn write_hgrm(path: &Path, h: &Histogram<u64>) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    hdr::write_hgrm(&mut w, h)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_has_the_standard_shape() {
        let path = std::env::temp_dir().join(format!("ringside-{}.hgrm", std::process::id()));
        let mut h = crate::engine::new_histogram();
        for v in 1..=1000 {
            h.record(v * 1000).unwrap();
        }
        write_hgrm(&path, &h).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"), "{text}");
        assert!(text.contains("#[Max     =        1.000, Total count    =         1000]"), "{text}");
        let _ = std::fs::remove_file(path);
    }
}
