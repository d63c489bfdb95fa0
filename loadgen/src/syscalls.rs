//! System calls by name over the measured window, counted by the kernel:
//! its syscall tracepoints (`raw_syscalls:sys_enter` for every call,
//! `syscalls:sys_enter_<name>` for each call of [`CALLS`]) as perf
//! counters on each thread, through `perf_event_open` (the `perf-event2`
//! crate's safe wrapper; no `unsafe` here).
//!
//! A counter is opened on every thread of the process (`/proc/PID/task`)
//! with `inherit` set, so a thread it creates later gets a copy counted
//! into it: reading an inherited counter gives its own count plus those of
//! its live copies plus those of its copies that have exited (the kernel
//! sums its `child_list` and `child_count` on every read). A thread that
//! exits keeps its count in its counter, which stays readable. So nothing
//! is lost to threads that come and go, and the window's figure is the
//! difference of two reads, at its start and its end. Counters are opened
//! before the connections (a thread-per-connection server's threads are
//! then copies of its acceptor's counters: few descriptors), and the
//! attachment is repeated until no thread appeared while it ran, so no
//! thread is counted twice (directly and as a copy) or missed.
//!
//! Descriptors: one total and one per call of [`CALLS`] a thread
//! ([`PER_THREAD`]); when the server's threads would need more than the
//! budget given, only the totals are counted and the breakdown says
//! `other` for all of it, with a note. Counting is software only (no PMU:
//! nothing is multiplexed), and its cost is a few hundred nanoseconds per
//! system call of the counted threads.
//!
//! Needs tracefs for the tracepoints' ids: `/sys/kernel/tracing` (or
//! `/sys/kernel/debug/tracing`); when neither is mounted and this process
//! is root, tracefs is mounted at `/sys/kernel/tracing`, as perf does, and
//! a note says so. Without tracefs, or without permission to open the
//! counters (`kernel.perf_event_paranoid`, another user's process), the
//! run goes on and [`Tracepoints::find`] or [`Counting::processes`] says
//! why: the figures are then absent, never zero. A user other than root
//! needs `kernel.perf_event_paranoid` at most 1 (the counters include
//! kernel mode: `raw_syscalls:sys_enter` fires with the kernel's
//! registers) and a readable tracefs.
//!
//! It reads `/proc` and tracefs and opens perf counters; it never writes
//! anywhere (but the mount).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use perf_event::events::Tracepoint;
use perf_event::{Builder, Counter};

/// The calls counted by name, those the designs under test make per
/// request or per connection (and the sleeps and locks of the runtimes);
/// every other call is `other`: the total less these.
pub const CALLS: [&str; 20] = [
    "accept",
    "accept4",
    "read",
    "write",
    "writev",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "io_uring_enter",
    "futex",
    "close",
    "shutdown",
    "clock_nanosleep",
    "sched_yield",
    "poll",
];

/// Counters per thread: the total and one per call of [`CALLS`].
pub const PER_THREAD: usize = 1 + CALLS.len();

/// The name of the calls not in [`CALLS`], in a breakdown.
pub const OTHER: &str = "other";

/// Where tracefs is looked for, in order; the first is where it is
/// mounted when missing.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracepoints' ids, read from tracefs.
#[derive(Clone, Debug)]
pub struct Tracepoints {
    total: u64,
    /// Each call of [`CALLS`] this kernel has a tracepoint for.
    calls: Vec<(&'static str, u64)>,
    /// Whether this process mounted tracefs to read them.
    pub mounted: Option<PathBuf>,
}

impl Tracepoints {
    /// The ids, found once per process (tracefs mounted if need be): an
    /// error says why system calls cannot be counted here and what to do.
    pub fn find() -> Result<&'static Tracepoints, String> {
        static FOUND: OnceLock<Result<Tracepoints, String>> = OnceLock::new();
        FOUND.get_or_init(Tracepoints::look_up).as_ref().map_err(Clone::clone)
    }

    fn look_up() -> Result<Tracepoints, String> {
        let events = |root: &str| Path::new(root).join("events");
        let mut denied = None;
        let mut found = None;
        for root in TRACEFS {
            match fs::read_to_string(events(root).join("raw_syscalls/sys_enter/id")) {
                Ok(_) => {
                    found = Some(events(root));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied = Some(root),
                Err(_) => {}
            }
        }
        if let (None, Some(root)) = (&found, denied) {
            return Err(format!(
                "system calls not counted: {root} is not readable by this user (the syscall tracepoints' ids are \
                 there); run as root, or make tracefs readable (mount -o remount,mode=755 {root})"
            ));
        }
        let mut mounted = None;
        let dir = match found {
            Some(dir) => dir,
            None if rustix::process::geteuid().is_root() => {
                let at = TRACEFS[0];
                rustix::mount::mount("nodev", at, "tracefs", rustix::mount::MountFlags::empty(), None)
                    .map_err(|e| {
                        format!(
                            "system calls not counted: tracefs is not mounted and mounting it at {at} failed ({e}); \
                             mount it with `mount -t tracefs nodev {at}`"
                        )
                    })?;
                mounted = Some(PathBuf::from(at));
                events(at)
            }
            None => {
                return Err(format!(
                    "system calls not counted: tracefs is not mounted (the syscall tracepoints' ids are there); \
                     as root, `mount -t tracefs nodev {}`, or run as root (ringside-loadgen then mounts it)",
                    TRACEFS[0]
                ));
            }
        };
        let id = |event: &str| -> Option<u64> {
            fs::read_to_string(dir.join(event).join("id")).ok()?.trim().parse().ok()
        };
        let total = id("raw_syscalls/sys_enter").ok_or_else(|| {
            format!(
                "system calls not counted: {} has no raw_syscalls/sys_enter tracepoint (a kernel without \
                 CONFIG_FTRACE_SYSCALLS)",
                dir.display()
            )
        })?;
        let calls =
            CALLS.iter().filter_map(|&c| Some((c, id(&format!("syscalls/sys_enter_{c}"))?))).collect();
        Ok(Tracepoints { total, calls, mounted })
    }

    /// "tracefs mounted at ...", the first time it is asked in this
    /// process after this process mounted it; then never again.
    pub fn mount_note(&self) -> Option<String> {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let at = self.mounted.as_ref()?;
        (!SAID.swap(true, std::sync::atomic::Ordering::Relaxed))
            .then(|| format!("mounted tracefs at {} to read the syscall tracepoints' ids", at.display()))
    }

    /// The calls counted by name on this kernel, in [`CALLS`] order.
    pub fn names(&self) -> Vec<&'static str> {
        self.calls.iter().map(|&(n, _)| n).collect()
    }
}

/// One thread's counters.
struct Thread {
    total: Counter,
    /// One per call of the tracepoints' `calls`, or none (totals only).
    calls: Vec<Counter>,
}

/// Counters on a set of threads and the threads they create.
pub struct Counting {
    threads: Vec<Thread>,
    names: Vec<&'static str>,
    /// Whether each call is counted; otherwise the totals only.
    per_call: bool,
    /// What the caller should know (totals only, and why).
    pub notes: Vec<String>,
}

/// The counters summed over the threads at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub total: u64,
    /// In the order of the names counted; empty when only totals are.
    pub calls: Vec<u64>,
}

/// System calls per request over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerRequest {
    /// Every system call.
    pub total: f64,
    /// By name, the largest first, the calls not counted by name (or all,
    /// when none were) as [`OTHER`]; calls that never happened left out.
    pub by_name: Vec<(String, f64)>,
}

/// How many attachments may find new threads before giving up.
const ATTEMPTS: usize = 5;

impl Counting {
    /// Count every thread of each process of `pids`, and every thread
    /// they create from now on, with at most `max_fds` descriptors. An
    /// error says why not.
    pub fn processes(tp: &Tracepoints, pids: &[u32], max_fds: usize) -> Result<Counting, String> {
        for _ in 0..ATTEMPTS {
            let tids = tasks(pids)?;
            let counting = Counting::threads(tp, &tids, max_fds)?;
            // A thread born during the attachment may have been created by
            // a thread not yet counted (missed) or by one counted (a copy):
            // start again until none was.
            if tasks(pids)?.is_subset(&tids) {
                return Ok(counting);
            }
        }
        Err(format!(
            "system calls not counted: pid {} kept creating threads while its counters were opened",
            pids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        ))
    }

    /// Count the threads `tids` (and the threads they create from now on).
    pub fn threads(tp: &Tracepoints, tids: &BTreeSet<u32>, max_fds: usize) -> Result<Counting, String> {
        let per_call = tids.len() * PER_THREAD <= max_fds;
        let mut notes = Vec::new();
        if tids.len() > max_fds {
            return Err(format!(
                "system calls not counted: {} threads would need {} file descriptors, {max_fds} are left \
                 (raise `ulimit -n`)",
                tids.len(),
                tids.len()
            ));
        }
        if !per_call {
            notes.push(format!(
                "system calls counted in total only ({} threads: {} file descriptors by name, {max_fds} left; \
                 raise `ulimit -n` for the breakdown)",
                tids.len(),
                tids.len() * PER_THREAD
            ));
        }
        let mut threads = Vec::with_capacity(tids.len());
        for &tid in tids {
            let open = |id: u64| counter(id, tid);
            let total = match open(tp.total) {
                Ok(c) => c,
                // The thread ended between the listing and now.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => continue,
                Err(e) => return Err(denied(tid, &e)),
            };
            let calls = if per_call {
                tp.calls
                    .iter()
                    .map(|&(_, id)| open(id))
                    .collect::<io::Result<Vec<_>>>()
                    .map_err(|e| denied(tid, &e))?
            } else {
                Vec::new()
            };
            threads.push(Thread { total, calls });
        }
        Ok(Counting { threads, names: tp.names(), per_call, notes })
    }

    /// How many threads are counted directly (not their copies).
    pub fn threads_counted(&self) -> usize {
        self.threads.len()
    }

    /// The counts now, summed over the threads.
    pub fn read(&mut self) -> io::Result<Counts> {
        let mut counts =
            Counts { total: 0, calls: if self.per_call { vec![0; self.names.len()] } else { Vec::new() } };
        for t in &mut self.threads {
            counts.total += t.total.read()?;
            for (sum, c) in counts.calls.iter_mut().zip(&mut t.calls) {
                *sum += c.read()?;
            }
        }
        Ok(counts)
    }

    /// The calls between `before` and `after`, per request of `requests`.
    pub fn per_request(&self, before: &Counts, after: &Counts, requests: u64) -> PerRequest {
        let n = requests.max(1) as f64;
        let total = after.total.saturating_sub(before.total);
        let mut named = 0;
        let mut by_name: Vec<(String, f64)> = Vec::new();
        for ((name, b), a) in self.names.iter().zip(&before.calls).zip(&after.calls) {
            let d = a.saturating_sub(*b);
            named += d;
            if d > 0 {
                by_name.push((name.to_string(), d as f64 / n));
            }
        }
        let other = total.saturating_sub(named);
        if other > 0 || by_name.is_empty() {
            by_name.push((OTHER.to_string(), other as f64 / n));
        }
        by_name.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        PerRequest { total: total as f64 / n, by_name }
    }
}

/// A counter of tracepoint `id` on thread `tid` and the threads it
/// creates, on any CPU, counting from now.
fn counter(id: u64, tid: u32) -> io::Result<Counter> {
    Builder::new(Tracepoint::with_id(id))
        .observe_pid(tid as i32)
        .any_cpu()
        .inherit(true)
        // raw_syscalls:sys_enter fires with the kernel's registers, which
        // the crate's default (exclude_kernel) would never count.
        .exclude_kernel(false)
        .enabled(true)
        .build()
}

/// Why a counter could not be opened, and what to do.
fn denied(tid: u32, e: &io::Error) -> String {
    let paranoid = fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap_or_default();
    let hint = match e.raw_os_error() {
        Some(code)
            if code == rustix::io::Errno::ACCESS.raw_os_error()
                || code == rustix::io::Errno::PERM.raw_os_error() =>
        {
            format!(
                "; kernel.perf_event_paranoid is {}: run as root, or as the process's owner with \
                 `sysctl kernel.perf_event_paranoid=1` or lower",
                paranoid.trim()
            )
        }
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error() => "; raise `ulimit -n`".to_string(),
        _ => String::new(),
    };
    format!("system calls not counted: perf_event_open on thread {tid}: {e}{hint}")
}

/// The threads of `pids` now.
fn tasks(pids: &[u32]) -> Result<BTreeSet<u32>, String> {
    let mut tids = BTreeSet::new();
    for &pid in pids {
        let dir = fs::read_dir(format!("/proc/{pid}/task"))
            .map_err(|e| format!("system calls not counted: /proc/{pid}/task: {e}"))?;
        tids.extend(dir.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok()));
    }
    Ok(tids)
}

/// File descriptors this process may still open: the soft limit less
/// those open now.
pub fn fds_left() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    let open = fs::read_dir("/proc/self/fd").map(Iterator::count).unwrap_or(0) as u64;
    limit.saturating_sub(open).min(usize::MAX as u64) as usize
}

/// The breakdown's largest `n` calls as `read 1.00, write 1.00, epoll_wait
/// 0.03` (for summaries).
pub fn top(by_name: &[(String, f64)], n: usize) -> String {
    by_name.iter().take(n).map(|(name, v)| format!("{name} {}", short(*v))).collect::<Vec<_>>().join(", ")
}

/// A per-request figure in few digits: 1.00, 0.031, 0.0004.
pub fn short(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 || v == 0.0 {
        format!("{v:.2}")
    } else if v >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Whether tests that need counting must fail rather than skip: under
/// `CI=true` (CI runs as root, where counting is always allowed).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracepoints() -> Option<&'static Tracepoints> {
        match Tracepoints::find() {
            Ok(tp) => Some(tp),
            Err(why) if !required() => {
                eprintln!("SKIPPED: {why}");
                None
            }
            Err(why) => panic!("{why} (CI=true: counting must work)"),
        }
    }

    fn tid() -> u32 {
        rustix::thread::gettid().as_raw_nonzero().get() as u32
    }

    fn yields(n: usize) {
        for _ in 0..n {
            std::thread::yield_now();
        }
    }

    /// A thread counted directly creates two: one that makes its calls and
    /// waits, alive, while the counters are read, and one that makes them
    /// and exits. Both are counted, exactly (`sched_yield` is made by
    /// nothing else).
    #[test]
    fn counts_threads_created_later_alive_and_exited() {
        let Some(tp) = tracepoints() else { return };
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let parent = std::thread::spawn(move || {
            tid_tx.send(tid()).unwrap();
            go_rx.recv().unwrap();
            yields(100);
            std::thread::spawn(|| yields(1000)).join().unwrap();
            let (alive_tx, alive_rx) = std::sync::mpsc::channel::<()>();
            let alive = std::thread::spawn(move || {
                yields(2000);
                alive_tx.send(()).unwrap();
                end_rx.recv().unwrap();
            });
            alive_rx.recv().unwrap();
            done_tx.send(()).unwrap();
            alive.join().unwrap();
        });
        let parent_tid = tid_rx.recv().unwrap();
        let mut c = Counting::threads(tp, &BTreeSet::from([parent_tid]), 1000).unwrap();
        let before = c.read().unwrap();
        go_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        let after = c.read().unwrap();
        end_tx.send(()).unwrap();
        parent.join().unwrap();
        let p = c.per_request(&before, &after, 1);
        let yielded = p.by_name.iter().find(|(n, _)| n == "sched_yield").map(|(_, v)| *v);
        assert_eq!(yielded, Some(3100.0), "{p:?}");
        assert!(p.total >= 3100.0, "{p:?}");
    }

    #[test]
    fn breakdowns_sort_and_name_the_rest_other() {
        let c = Counting {
            threads: Vec::new(),
            names: vec!["read", "write", "close"],
            per_call: true,
            notes: vec![],
        };
        let before = Counts { total: 100, calls: vec![10, 10, 5] };
        let after = Counts { total: 430, calls: vec![110, 210, 5] };
        let p = c.per_request(&before, &after, 100);
        assert_eq!(p.total, 3.3);
        let names: Vec<(&str, f64)> = p.by_name.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(names, [("write", 2.0), ("read", 1.0), ("other", 0.3)]);
        assert_eq!(top(&p.by_name, 2), "write 2.00, read 1.00");
        // Totals only: everything is other.
        let t = Counting { per_call: false, ..c };
        let p = t.per_request(&Counts { total: 0, calls: vec![] }, &Counts { total: 50, calls: vec![] }, 100);
        assert_eq!(p.by_name, [("other".to_string(), 0.5)]);
        assert_eq!(
            (short(0.0312), short(0.00042), short(12.34)),
            ("0.031".into(), "0.0004".into(), "12.3".into())
        );
    }
}
