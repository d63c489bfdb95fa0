//! What makes two rows comparable, and the figures compared.
//!
//! A [`Workload`] is everything a row says about what was asked of the
//! server — backend and its options, protocol, connections, pipeline, loop
//! mode and rate, sizes, work — and nothing about where or when it ran. Rows
//! of one workload are repetitions of one measurement; `compare`, `gate` and
//! `report` group by it. [`Metric`] names the figures they compare and says
//! which direction is better.

use std::fmt;

use crate::{Arrival, Mode, Row};

/// The part of a row that defines what was measured.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub backend: String,
    pub backend_options: String,
    pub protocol: String,
    pub connections: u32,
    pub pipeline: u32,
    /// `closed`, or `open <arrival> <rate>/s`.
    pub load: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub work: String,
}

impl Workload {
    pub fn of(row: &Row) -> Workload {
        let load = match row.mode {
            Mode::Closed => "closed".to_string(),
            Mode::Open => {
                let arrival = match row.arrival {
                    Arrival::None => "",
                    Arrival::Poisson => "poisson ",
                    Arrival::Uniform => "uniform ",
                };
                format!("open {arrival}{}/s", row.target_rate)
            }
        };
        Workload {
            backend: row.backend.clone(),
            backend_options: row.backend_options.clone(),
            protocol: row.protocol.name().to_string(),
            connections: row.connections,
            pipeline: row.pipeline,
            load,
            request_bytes: row.request_bytes,
            response_bytes: row.response_bytes,
            work: row.work.clone(),
        }
    }

    /// The same workload with the backend and its options blanked: what
    /// `--across backend` compares backends within.
    pub fn without_backend(&self) -> Workload {
        Workload { backend: String::new(), backend_options: String::new(), ..self.clone() }
    }

    /// The workload in few words, backend first: `io-uring http c=500`,
    /// with pipeline, load, sizes and work only where they are not the
    /// defaults of a closed-loop run.
    pub fn short(&self) -> String {
        let mut s = String::new();
        if !self.backend.is_empty() {
            s.push_str(&self.backend);
            s.push(' ');
        }
        s.push_str(&format!("{} c={}", self.protocol, self.connections));
        if self.pipeline != 1 {
            s.push_str(&format!(" pipeline={}", self.pipeline));
        }
        if self.load != "closed" {
            s.push_str(&format!(" {}", self.load));
        }
        if self.protocol != "http" {
            s.push_str(&format!(" req={}B", self.request_bytes));
            if self.protocol == "rr" {
                s.push_str(&format!(" resp={}B", self.response_bytes));
            }
        }
        if !self.work.is_empty() && self.work != "none" {
            s.push_str(&format!(" work={}", self.work));
        }
        s
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// A figure compared across runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Achieved requests per second.
    Throughput,
    /// Latency percentiles from the intended send time, µs.
    P50,
    P99,
    P999,
    /// Server CPU time per request, user + system, µs.
    ServerCpu,
    /// Server context switches per request, voluntary + involuntary.
    ServerSwitches,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Throughput,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::ServerCpu,
        Metric::ServerSwitches,
    ];

    /// The name rules and command lines use.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::ServerCpu => "server_cpu",
            Metric::ServerSwitches => "server_switches",
        }
    }

    /// What a table's heading says, with the unit.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput (req/s)",
            Metric::P50 => "p50 latency (us)",
            Metric::P99 => "p99 latency (us)",
            Metric::P999 => "p99.9 latency (us)",
            Metric::ServerCpu => "server CPU per request (us)",
            Metric::ServerSwitches => "server context switches per request",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether a larger value is better (throughput) or worse (the rest).
    pub fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }

    /// The figure from a complete row, or `None` if the row does not have
    /// it: nothing completed (no latency), or the server's counters were not
    /// measured (the row holds 0 CPU per request then, which a measured run
    /// never does).
    pub fn value(self, row: &Row) -> Option<f64> {
        if !row.complete {
            return None;
        }
        let server_measured = row.server_cpu_user_us + row.server_cpu_sys_us > 0.0;
        let latency = |v: f64| (row.requests > 0).then_some(v);
        match self {
            Metric::Throughput => Some(row.achieved_rate),
            Metric::P50 => latency(row.lat_p50_us),
            Metric::P99 => latency(row.lat_p99_us),
            Metric::P999 => latency(row.lat_p999_us),
            Metric::ServerCpu => server_measured.then_some(row.server_cpu_user_us + row.server_cpu_sys_us),
            Metric::ServerSwitches => server_measured.then_some(row.server_vcs + row.server_ics),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::tests::sample;

    #[test]
    fn workloads_and_their_names() {
        let row = sample(1);
        let w = Workload::of(&row);
        assert_eq!(w.protocol, row.protocol.name());
        assert_eq!(w.without_backend().backend, "");
        assert!(w.short().starts_with(&format!(
            "{} {} c={}",
            row.backend,
            row.protocol.name(),
            row.connections
        )));
        let closed = Row { mode: Mode::Closed, arrival: Arrival::None, target_rate: 0.0, ..sample(1) };
        assert_eq!(Workload::of(&closed).load, "closed");
        let open = Row { mode: Mode::Open, arrival: Arrival::Poisson, target_rate: 1000.0, ..sample(1) };
        assert_eq!(Workload::of(&open).load, "open poisson 1000/s");
        assert_ne!(Workload::of(&closed), Workload::of(&open));
    }

    #[test]
    fn metrics_from_rows() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
        }
        assert_eq!(Metric::parse("latency"), None);
        let row = Row {
            complete: true,
            requests: 10,
            achieved_rate: 5.0,
            lat_p99_us: 7.0,
            server_cpu_user_us: 1.0,
            server_cpu_sys_us: 2.0,
            server_vcs: 0.5,
            server_ics: 0.25,
            ..sample(1)
        };
        assert_eq!(Metric::Throughput.value(&row), Some(5.0));
        assert_eq!(Metric::P99.value(&row), Some(7.0));
        assert_eq!(Metric::ServerCpu.value(&row), Some(3.0));
        assert_eq!(Metric::ServerSwitches.value(&row), Some(0.75));
        let unmeasured = Row { server_cpu_user_us: 0.0, server_cpu_sys_us: 0.0, ..row.clone() };
        assert_eq!(Metric::ServerCpu.value(&unmeasured), None);
        assert_eq!(Metric::ServerSwitches.value(&unmeasured), None);
        let incomplete = Row { complete: false, ..row.clone() };
        assert!(Metric::ALL.iter().all(|m| m.value(&incomplete).is_none()));
        let nothing = Row { requests: 0, ..row };
        assert_eq!(Metric::P50.value(&nothing), None);
        assert!(Metric::Throughput.higher_is_better() && !Metric::P99.higher_is_better());
    }
}
