//! The server counters every backend keeps (requests, bytes, connections),
//! plus the process's CPU time and context switches, gathered into a
//! [`protocol::Stats`] snapshot for STATS, `/stats` and the final report.
//!
//! Per-request counts go through a [`Recorder`]: a cache-line-sized shard
//! owned by one serving thread at a time, updated with plain relaxed loads
//! and stores (no locked instruction, no shared cache line), and summed only
//! when someone asks. Shards are handed back when a thread ends and reused by
//! the next, so thread-per-connection does not grow the set forever.
//! Connection events are rarer and use shared atomics.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};
use protocol::{STATS_SCHEMA, Stats};

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The peer closed between requests, or asked to close.
    Clean,
    /// A protocol error, or an end of stream in the middle of a request.
    Error,
    /// An I/O error on the socket, usually a reset by the peer.
    Reset,
}

/// What is running, reported with every snapshot.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub backend: String,
    pub options: String,
    pub protocol: protocol::Protocol,
}

/// One serving thread's share of the per-request counts.
#[derive(Debug, Default)]
#[repr(align(128))] // two cache lines: no false sharing with the adjacent prefetch line
struct Shard {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// A server's counters. Shared by all its threads.
#[derive(Debug)]
pub struct Counters {
    info: RunInfo,
    started: Instant,
    /// Every shard ever created; summed by [`Counters::snapshot`].
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Shards no thread is writing to now.
    free: Mutex<Vec<Arc<Shard>>>,
    accepted: AtomicU64,
    open: AtomicU64,
    closed_error: AtomicU64,
    reset: AtomicU64,
    waiting: AtomicU64,
    waiting_max: AtomicU64,
}

impl Counters {
    pub fn new(info: RunInfo) -> Arc<Self> {
        Arc::new(Counters {
            info,
            started: Instant::now(),
            shards: Mutex::new(Vec::new()),
            free: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            closed_error: AtomicU64::new(0),
            reset: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            waiting_max: AtomicU64::new(0),
        })
    }

    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// A recorder for the calling thread; keep it for as long as the thread
    /// serves requests.
    pub fn recorder(self: &Arc<Self>) -> Recorder {
        let shard = lock(&self.free).pop().unwrap_or_else(|| {
            let shard = Arc::new(Shard::default());
            lock(&self.shards).push(Arc::clone(&shard));
            shard
        });
        Recorder { shard, counters: Arc::clone(self), not_sync: PhantomData }
    }

    /// A connection was accepted (it counts as open until closed).
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
    }

    /// An accepted connection was closed. Call once per accepted connection.
    pub fn closed(&self, how: Closed) {
        // Count how it ended before it stops counting as open, so a reader
        // never sees it as neither.
        match how {
            Closed::Clean => {}
            Closed::Error => _ = self.closed_error.fetch_add(1, Relaxed),
            Closed::Reset => _ = self.reset.fetch_add(1, Relaxed),
        }
        let was = self.open.fetch_sub(1, Relaxed);
        debug_assert!(was > 0, "Counters::closed called more often than accepted");
    }

    /// An accepted connection now waits for a thread to serve it.
    pub fn waiting(&self) {
        let now = self.waiting.fetch_add(1, Relaxed) + 1;
        self.waiting_max.fetch_max(now, Relaxed);
    }

    /// A waiting connection was taken by a thread.
    pub fn stopped_waiting(&self) {
        self.waiting.fetch_sub(1, Relaxed);
    }

    /// The counters now, with the process's CPU time and context switches.
    pub fn snapshot(&self) -> Stats {
        let (mut requests, mut bytes_in, mut bytes_out) = (0, 0, 0);
        for shard in lock(&self.shards).iter() {
            requests += shard.requests.load(Relaxed);
            bytes_in += shard.bytes_in.load(Relaxed);
            bytes_out += shard.bytes_out.load(Relaxed);
        }
        let mut stats = Stats {
            schema: STATS_SCHEMA,
            backend: self.info.backend.clone(),
            options: self.info.options.clone(),
            protocol: self.info.protocol.to_string(),
            pid: std::process::id(),
            uptime_us: self.started.elapsed().as_micros() as u64,
            requests,
            bytes_in,
            bytes_out,
            conns_accepted: self.accepted.load(Relaxed),
            conns_open: self.open.load(Relaxed),
            conns_closed_error: self.closed_error.load(Relaxed),
            conns_reset: self.reset.load(Relaxed),
            conns_waiting: self.waiting.load(Relaxed),
            conns_waiting_max: self.waiting_max.load(Relaxed),
            threads: thread_count(),
            ..Stats::default()
        };
        // RUSAGE_SELF covers every thread of the process, including those that
        // have exited, which /proc/self/task would miss. It cannot fail for
        // RUSAGE_SELF; if it somehow did, the fields stay zero.
        if let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) {
            let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
            stats.cpu_user_us = us(usage.user_time());
            stats.cpu_sys_us = us(usage.system_time());
            stats.ctx_voluntary = usage.voluntary_context_switches() as u64;
            stats.ctx_involuntary = usage.involuntary_context_switches() as u64;
        }
        stats
    }
}

/// Threads in this process, from `/proc/self/status` (0 if unreadable).
fn thread_count() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().ok()))?)
        .unwrap_or(0)
}

/// Counters are plain numbers: a panic elsewhere cannot leave them
/// inconsistent, so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records one thread's requests and bytes. Neither `Clone` nor `Sync`: its
/// shard has one writer at a time (it may move to another thread, not be
/// shared with one).
#[derive(Debug)]
pub struct Recorder {
    shard: Arc<Shard>,
    counters: Arc<Counters>,
    /// `Cell` is `Send` but not `Sync`; so is the recorder.
    not_sync: PhantomData<Cell<()>>,
}

impl Recorder {
    /// Add to this thread's counts.
    #[inline]
    pub fn record(&self, requests: u32, bytes_in: usize, bytes_out: usize) {
        // Single writer: a relaxed load and store is an exact add without a
        // locked instruction; readers may see the old or the new value.
        let add = |c: &AtomicU64, n: u64| c.store(c.load(Relaxed) + n, Relaxed);
        add(&self.shard.requests, u64::from(requests));
        add(&self.shard.bytes_in, bytes_in as u64);
        add(&self.shard.bytes_out, bytes_out as u64);
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        lock(&self.counters.free).push(Arc::clone(&self.shard));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> Arc<Counters> {
        Counters::new(RunInfo {
            backend: "test".into(),
            options: "a=1".into(),
            protocol: protocol::Protocol::Rr,
        })
    }

    #[test]
    fn recorders_sum_and_shards_are_reused() {
        let c = counters();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    let r = c.recorder();
                    for _ in 0..1000 {
                        r.record(1, 10, 20);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = c.snapshot();
        assert_eq!((s.requests, s.bytes_in, s.bytes_out), (4000, 40_000, 80_000));
        let shards = lock(&c.shards).len();
        drop(c.recorder());
        drop(c.recorder());
        assert_eq!(lock(&c.shards).len(), shards, "a freed shard is reused");
        assert_eq!(c.snapshot().requests, 4000, "reuse keeps the counts");
    }

    #[test]
    fn connections_and_waiting() {
        let c = counters();
        c.accepted();
        c.accepted();
        c.waiting();
        c.waiting();
        c.stopped_waiting();
        c.accepted();
        c.closed(Closed::Error);
        c.closed(Closed::Reset);
        let s = c.snapshot();
        assert_eq!((s.conns_accepted, s.conns_open, s.conns_closed_error, s.conns_reset), (3, 1, 1, 1));
        assert_eq!((s.conns_waiting, s.conns_waiting_max), (1, 2));
        assert_eq!((s.backend.as_str(), s.options.as_str(), s.protocol.as_str()), ("test", "a=1", "rr"));
        assert!(s.threads >= 1);
        assert!(s.cpu_user_us + s.cpu_sys_us > 0, "getrusage reports CPU time");
    }
}
