//! What makes two rows comparable, and the figures compared.
//!
//! A [`Workload`] is everything a row says about what was asked of the
//! server — backend and its options, protocol, connections, pipeline, loop
//! mode and rate, sizes, work — and nothing about where or when it ran. Rows
//! of one workload are repetitions of one measurement; `compare`, `gate` and
//! `report` group by it. [`Metric`] names the figures they compare and says
//! which direction is better.
//!
//! A row's `phase` is part of its workload: a capacity search's result
//! (`capacity`) is grouped by its objective, not its rate, so that backends'
//! capacities meet in one workload; a `probe` is told apart from a `run` at
//! the same rate. A `count` row (a run made only to count system calls) is
//! not: it belongs to the workload of the `run` rows it counts for, and
//! [`Metric::applies`] to it for `server_syscalls` alone, so that a
//! workload's system calls come from its counting run while its other
//! figures come from its measured runs only.

use std::fmt;

use crate::{Arrival, Mode, Phase, Row};

/// The part of a row that defines what was measured.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Workload {
    pub backend: String,
    pub backend_options: String,
    pub protocol: String,
    pub connections: u32,
    pub pipeline: u32,
    /// `closed`, or `open <arrival> <rate>/s`; a probe's is followed by
    /// `(probe <slo>)`; a capacity search's result is `capacity <slo>`; a
    /// counting run's is that of the runs it counts for.
    pub load: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub work: String,
}

impl Workload {
    pub fn of(row: &Row) -> Workload {
        let load = match (row.phase, row.mode) {
            (Phase::Capacity, _) => format!("capacity {}", row.slo).trim_end().to_string(),
            (_, Mode::Closed) => "closed".to_string(),
            (_, Mode::Open) => {
                let arrival = match row.arrival {
                    Arrival::None => "",
                    Arrival::Poisson => "poisson ",
                    Arrival::Uniform => "uniform ",
                };
                format!("open {arrival}{}/s", row.target_rate)
            }
        };
        let load = match row.phase {
            Phase::Probe => format!("{load} (probe {})", row.slo).replace(" )", ")"),
            // A counting run counts for the runs of its load: one workload.
            Phase::Run | Phase::Capacity | Phase::Count => load,
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

    /// Whether this is a capacity search's result (`phase` = `capacity`).
    pub fn is_capacity(&self) -> bool {
        self.load.starts_with("capacity")
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
    /// Achieved requests per second: answers in the window ÷ the window.
    Throughput,
    /// Offered requests per second (`offered_rate`), open loop only. A
    /// setting more than an outcome, so it is informational: `compare`
    /// shows it without a better direction, beside the throughput it
    /// explains, and `gate` refuses rules on it.
    Offered,
    /// The capacity a capacity search found under its objective, req/s:
    /// `target_rate` of a `capacity` row, and defined only there. Higher is
    /// better.
    Capacity,
    /// Latency percentiles from the intended send time, µs.
    P50,
    P99,
    P999,
    /// Server CPU time per request, user + system, µs.
    ServerCpu,
    /// Server context switches per request, voluntary + involuntary.
    ServerSwitches,
    /// Server system calls per request, all of them (`server_syscalls`);
    /// only rows that counted them (the cell not empty).
    ServerSyscalls,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::Throughput,
        Metric::Offered,
        Metric::Capacity,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::ServerCpu,
        Metric::ServerSwitches,
        Metric::ServerSyscalls,
    ];

    /// The name rules and command lines use.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::Offered => "offered",
            Metric::Capacity => "capacity",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::ServerCpu => "server_cpu",
            Metric::ServerSwitches => "server_switches",
            Metric::ServerSyscalls => "server_syscalls",
        }
    }

    /// What a table's heading says, with the unit.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput (req/s)",
            Metric::Offered => "offered load (req/s)",
            Metric::Capacity => "capacity under the latency objective (req/s)",
            Metric::P50 => "p50 latency (us)",
            Metric::P99 => "p99 latency (us)",
            Metric::P999 => "p99.9 latency (us)",
            Metric::ServerCpu => "server CPU per request (us)",
            Metric::ServerSwitches => "server context switches per request",
            Metric::ServerSyscalls => "server system calls per request",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether a larger value is better (throughput, capacity) or worse
    /// (the latencies and costs). Meaningless for an
    /// [informational](Metric::informational) metric, which has no better
    /// direction (false).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Throughput | Metric::Capacity)
    }

    /// Whether the metric is a setting rather than an outcome (offered
    /// load): shown, never judged better or worse.
    pub fn informational(self) -> bool {
        self == Metric::Offered
    }

    /// Whether a row of this kind can have the metric at all: capacity only
    /// a `capacity` row, throughput and offered load every other row
    /// (offered load only in open loop, where it is set), the latencies and
    /// costs every row (a `capacity` row's are the probe's at the capacity),
    /// the system calls every row that counted them. A `count` row has the
    /// system calls only: counting slowed its every counted call, so its
    /// throughput, latencies and costs are not the design's.
    /// Tables leave out the workloads a metric does not apply to.
    pub fn applies(self, row: &Row) -> bool {
        if row.phase == Phase::Count {
            return self == Metric::ServerSyscalls && row.server_syscalls.is_some();
        }
        let capacity = row.phase == Phase::Capacity;
        match self {
            Metric::Capacity => capacity,
            Metric::Throughput => !capacity,
            Metric::Offered => !capacity && row.mode == Mode::Open,
            Metric::P50 | Metric::P99 | Metric::P999 | Metric::ServerCpu | Metric::ServerSwitches => true,
            // Only rows that counted them: files from before the columns,
            // or runs without permission, get no empty table.
            Metric::ServerSyscalls => row.server_syscalls.is_some(),
        }
    }

    /// The figure from a complete row, or `None` if the row does not have
    /// it: the metric does not [apply](Metric::applies) to the row, nothing
    /// completed (no latency), or the server's counters were not measured
    /// (the row holds 0 CPU per request then, which a measured run never
    /// does), or its system calls were not counted (an empty breakdown).
    pub fn value(self, row: &Row) -> Option<f64> {
        if !row.complete || !self.applies(row) {
            return None;
        }
        let server_measured = row.server_cpu_user_us + row.server_cpu_sys_us > 0.0;
        let latency = |v: f64| (row.requests > 0).then_some(v);
        match self {
            Metric::Throughput => Some(row.achieved_rate),
            Metric::Offered => Some(row.offered_rate),
            Metric::Capacity => Some(row.target_rate),
            Metric::P50 => latency(row.lat_p50_us),
            Metric::P99 => latency(row.lat_p99_us),
            Metric::P999 => latency(row.lat_p999_us),
            Metric::ServerCpu => server_measured.then_some(row.server_cpu_user_us + row.server_cpu_sys_us),
            Metric::ServerSwitches => server_measured.then_some(row.server_vcs + row.server_ics),
            Metric::ServerSyscalls => row.server_syscalls,
        }
    }
}

/// Check that the rows of each workload of `rows` (one file, `label`) are
/// repetitions of one measurement: rows of several builds (`git_rev`) in
/// one workload would silently pool as repetitions, so they are refused
/// unless `allow` (`--allow-mixed`; then a note); rows of several sweeps or
/// runs (`run_id`) of one build are pooled with a note. Returns the notes.
pub fn check_mixed(label: &str, rows: &[Row], allow: bool) -> anyhow::Result<Vec<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut groups: BTreeMap<Workload, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(Workload::of(r)).or_default();
        g.0.insert(&r.git_rev);
        g.1.insert(&r.run_id);
    }
    let list = |set: &BTreeSet<&str>| {
        let shown: Vec<&str> = set.iter().copied().take(3).collect();
        let more = if set.len() > 3 { format!(" and {} more", set.len() - 3) } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    let mut notes = Vec::new();
    let builds: Vec<(&Workload, &BTreeSet<&str>)> =
        groups.iter().filter(|(_, (revs, _))| revs.len() > 1).map(|(w, (revs, _))| (w, revs)).collect();
    if let Some((w, revs)) = builds.first() {
        let what = format!(
            "{label}: {} pool{} runs of different builds as repetitions of one measurement (`{w}`: git_rev {})",
            if builds.len() == 1 {
                "one workload".to_string()
            } else {
                format!("{} workloads", builds.len())
            },
            if builds.len() == 1 { "s" } else { "" },
            list(revs)
        );
        if !allow {
            anyhow::bail!(
                "{what}; compare the builds as separate files (one per build), or pass --allow-mixed to pool them"
            );
        }
        notes.push(format!("{what} (--allow-mixed)"));
    }
    let sweeps: Vec<(&Workload, &BTreeSet<&str>)> =
        groups.iter().filter(|(_, (_, ids))| ids.len() > 1).map(|(w, (_, ids))| (w, ids)).collect();
    if let Some((w, ids)) = sweeps.first() {
        notes.push(format!(
            "{label}: {} pool{} runs of {} sweeps or runs (run_id) of one build as repetitions (`{w}`: {}); fine \
             for one build measured again on one machine, otherwise compare them as separate files",
            if sweeps.len() == 1 { "one workload".to_string() } else { format!("{} workloads", sweeps.len()) },
            if sweeps.len() == 1 { "s" } else { "" },
            ids.len(),
            list(ids)
        ));
    }
    Ok(notes)
}

/// `rows` without those of phase `probe`, unless `keep` (`--with-probes`);
/// how many were left out is added to `left_out` (one count per call, for
/// [`probes_note`]).
pub fn without_probes(rows: Vec<Row>, keep: bool, left_out: &mut Vec<usize>) -> Vec<Row> {
    if keep {
        return rows;
    }
    let all = rows.len();
    let rows: Vec<Row> = rows.into_iter().filter(|r| r.phase != Phase::Probe).collect();
    left_out.push(all - rows.len());
    rows
}

/// The one line `compare`, `gate` and `report` print when they left out
/// probe rows; `None` if they left out none.
pub fn probes_note(left_out: &[usize]) -> Option<String> {
    let n: usize = left_out.iter().sum();
    (n > 0).then(|| {
        format!(
            "left out {n} probe row{} (phase = probe: runs a capacity search made only to find the \
             capacity); --with-probes keeps them",
            if n == 1 { "" } else { "s" }
        )
    })
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_pooled_in_one_workload_are_refused_and_sweeps_noted() {
        let row = |rev: &str, id: &str| Row {
            git_rev: rev.into(),
            run_id: id.into(),
            ..crate::row::tests::clean("epoll", 50)
        };
        let one = [row("a", "1"), row("a", "1")];
        assert!(check_mixed("f.csv", &one, false).unwrap().is_empty());
        let sweeps = [row("a", "1"), row("a", "2")];
        let notes = check_mixed("f.csv", &sweeps, false).unwrap();
        assert!(notes[0].contains("runs of 2 sweeps or runs"), "{notes:?}");
        let builds = [row("a", "1"), row("b", "2")];
        let e = check_mixed("f.csv", &builds, false).unwrap_err().to_string();
        assert!(e.contains("git_rev a, b") && e.contains("--allow-mixed"), "{e}");
        assert_eq!(check_mixed("f.csv", &builds, true).unwrap().len(), 2);
        // Different workloads may come from different builds.
        let apart = [row("a", "1"), Row { connections: 500, ..row("b", "2") }];
        assert!(check_mixed("f.csv", &apart, false).unwrap().is_empty());
    }

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
        let closed = Row {
            mode: Mode::Closed,
            arrival: Arrival::None,
            target_rate: 0.0,
            phase: Phase::Run,
            ..sample(1)
        };
        assert_eq!(Workload::of(&closed).load, "closed");
        let open = Row {
            mode: Mode::Open,
            arrival: Arrival::Poisson,
            target_rate: 1000.0,
            phase: Phase::Run,
            ..sample(1)
        };
        assert_eq!(Workload::of(&open).load, "open poisson 1000/s");
        assert_ne!(Workload::of(&closed), Workload::of(&open));
        let probe = Row { phase: Phase::Probe, slo: "p99<=1000us".into(), ..open.clone() };
        assert_eq!(Workload::of(&probe).load, "open poisson 1000/s (probe p99<=1000us)");
        // Capacities group by the objective, not the rate they found.
        let capacity = |rate: f64, backend: &str| {
            let row =
                Row { phase: Phase::Capacity, target_rate: rate, backend: backend.into(), ..probe.clone() };
            Workload::of(&row)
        };
        assert_eq!(capacity(1000.0, "epoll").load, "capacity p99<=1000us");
        assert!(capacity(1000.0, "epoll").is_capacity() && !Workload::of(&probe).is_capacity());
        assert_eq!(
            capacity(1000.0, "epoll").without_backend(),
            capacity(2500.0, "io-uring").without_backend()
        );
        assert_eq!(
            capacity(1.0, "a").short(),
            "a rr c=50 pipeline=4 capacity p99<=1000us req=64B resp=1024B work=spin:500ns"
        );
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
        let nothing = Row { requests: 0, ..row.clone() };
        assert_eq!(Metric::P50.value(&nothing), None);
        assert!(Metric::Throughput.higher_is_better() && !Metric::P99.higher_is_better());
        assert!(Metric::Capacity.higher_is_better() && Metric::Offered.informational());

        // Offered: open loop only; capacity: capacity rows only, where
        // throughput and offered load are not defined.
        let open = Row { mode: Mode::Open, offered_rate: 6.0, phase: Phase::Run, ..row.clone() };
        assert_eq!(Metric::Offered.value(&open), Some(6.0));
        assert_eq!(Metric::Capacity.value(&open), None);
        let closed = Row { mode: Mode::Closed, ..open.clone() };
        assert_eq!(Metric::Offered.value(&closed), None);
        let capacity = Row { phase: Phase::Capacity, target_rate: 9.0, ..open };
        assert_eq!(Metric::Capacity.value(&capacity), Some(9.0));
        assert_eq!((Metric::Throughput.value(&capacity), Metric::Offered.value(&capacity)), (None, None));
        assert_eq!(Metric::P99.value(&capacity), Some(7.0));
    }

    /// A counting run: in the workload of the runs it counts for, and a
    /// figure of `server_syscalls` only.
    #[test]
    fn a_count_row_has_only_its_system_calls() {
        let run = Row {
            complete: true,
            requests: 10,
            achieved_rate: 5.0,
            lat_p99_us: 7.0,
            server_cpu_user_us: 1.0,
            server_cpu_sys_us: 2.0,
            server_vcs: 0.5,
            server_ics: 0.25,
            phase: Phase::Run,
            ..crate::row::tests::clean("epoll", 50)
        };
        let count = Row {
            phase: Phase::Count,
            server_syscalls: Some(2.03),
            server_syscalls_by_name: "read=1 write=1 epoll_pwait2=0.03".into(),
            ..run.clone()
        };
        assert_eq!(Workload::of(&count), Workload::of(&run));
        assert_eq!(Workload::of(&count).short(), "epoll http c=50");
        let open = |phase| Row {
            phase,
            mode: Mode::Open,
            arrival: Arrival::Poisson,
            target_rate: 1000.0,
            ..count.clone()
        };
        assert_eq!(Workload::of(&open(Phase::Count)), Workload::of(&open(Phase::Run)));
        assert_eq!(Workload::of(&open(Phase::Count)).load, "open poisson 1000/s");
        for m in Metric::ALL {
            let expected = (m == Metric::ServerSyscalls).then_some(2.03);
            assert_eq!(m.value(&count), expected, "{m}");
            assert_eq!(m.applies(&count), expected.is_some(), "{m}");
            assert_eq!(m.value(&open(Phase::Count)), expected, "{m} open");
        }
        // Not counted (no permission): nothing at all.
        let uncounted = Row { server_syscalls: None, server_syscalls_by_name: String::new(), ..count };
        assert!(Metric::ALL.iter().all(|m| !m.applies(&uncounted) && m.value(&uncounted).is_none()));
        // The runs it counts for keep every figure but the calls they did not count.
        assert_eq!(Metric::Throughput.value(&run), Some(5.0));
        assert_eq!(Metric::ServerSyscalls.value(&run), None);
    }
}
