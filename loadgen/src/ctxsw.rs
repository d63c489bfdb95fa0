//! `ringside-loadgen ctxsw`: what a context switch costs on this machine.
//!
//! The servers report voluntary context switches per request (the blocking
//! designs do about one, the event loops almost none), but a count is not a
//! cost. This module measures the cost, so a result can say how much of a
//! server's CPU per request went to switching: [`switch_share_pct`] multiplies
//! the server's voluntary switches per request by
//! [`Calibration::same_cpu_switch_ns`] and divides by its CPU time per request.
//!
//! # What is measured
//!
//! Every sample runs three measurements back to back, each on fresh threads of
//! this process pinned with `sched_setaffinity`, after a short warm-up; the
//! samples are interleaved so that noise from other work on a shared machine
//! spreads over all three instead of biasing one.
//!
//! 1. **The syscalls alone** ([`Calibration::syscall`]): one thread pinned to
//!    the first CPU writes one byte into its own pipe and reads it back. These
//!    are the two syscalls every hand-off below makes, but the read never
//!    blocks: no wait queue, no wake-up, no switch.
//! 2. **Same CPU** ([`Calibration::same_cpu`]): two threads pinned to the first
//!    CPU pass one byte back and forth over two pipes. The sender writes (which
//!    wakes the receiver) and blocks reading the other pipe, so the CPU switches
//!    directly from one thread to the other: one context switch per hand-off.
//!    `same_cpu_switch_ns` is the median CPU time per hand-off minus the median
//!    CPU time of (1): going to sleep on the pipe's wait queue, the wake-up,
//!    `schedule()` and the switch itself.
//! 3. **Cross CPU** ([`Calibration::cross_cpu`]): the same ping-pong with one
//!    thread on each CPU. Now each hand-off wakes a thread sleeping on the
//!    *other* CPU, usually idle; the time includes that CPU's wake-up latency
//!    (an inter-processor interrupt and the exit from its idle state — on a
//!    virtual machine, the hypervisor running a halted vCPU again), which is
//!    why the developers' 2-CPU VM shows about 30 µs here (more when other
//!    work keeps it busy) against about 1 µs on one CPU.
//!    `cross_cpu_wakeup_ns` is a latency: the median wall-clock time per
//!    hand-off, from a `write` on one CPU to the sleeping reader returning on
//!    the other, minus the median CPU time of (1). How much of it is CPU time
//!    depends on the machine, and `cross_cpu.cpu_ns` says. On the developers'
//!    VM (KVM guest, `haltpoll` idle that halts at once) half to three quarters
//!    of it was CPU time charged to the two threads, which `perf record -e
//!    cpu-clock` places in the waking `write` (interrupts off while it wakes
//!    the other vCPU) and in the woken thread's return from `schedule()`;
//!    where waking a CPU is cheap for the waker, more of it is idle time. It
//!    also depends on what the other CPU is doing (a busy CPU is not asleep,
//!    but the reader may wait for its turn), so quote it as this machine's
//!    latency for handing work to a thread asleep on another CPU, with its
//!    spread.
//!
//! A hand-off is half a round trip. Each measurement is taken two ways, per
//! hand-off (per write + read pair for (1)): wall clock ([`Instant`]) over
//! the timed round trips of a sample, and the CPU time (user + system) the
//! measuring threads used meanwhile, from `CLOCK_THREAD_CPUTIME_ID` (ns; not
//! `getrusage`, whose figure for a thread that has not been switched out
//! lags by up to a scheduler tick). When the two threads have their CPU to
//! themselves the two agree for (1) and (2); on a shared machine other
//! processes run on that CPU too, and wall clock counts their time while
//! CPU time does not (apart from the switches to and from them). So the
//! same-CPU switch and the syscall baseline are figured in CPU time, with
//! wall clock beside them as the check, and only the cross-CPU wake-up, a
//! latency, in wall clock. The net figures subtract the median of (1) from
//! each sample of (2) and (3); under heavy noise a net figure can come out
//! negative, and is reported as is.
//!
//! To show that what is timed is a switch and not mostly syscall overhead,
//! each ping-pong also reads both threads' `getrusage(RUSAGE_THREAD)`:
//! [`Measured::switches`] (voluntary plus involuntary, per hand-off) should be
//! about 1.0, as each hand-off hands the CPU from one thread to the other
//! once. On one CPU part of them are involuntary: the woken reader may
//! preempt the writer before it blocks (then the writer's next `read` finds
//! its byte already there), still one switch per hand-off. Across CPUs
//! [`Measured::involuntary`] should be near 0; more means other work
//! competed for the CPUs during the sample.
//!
//! # Why pipes
//!
//! A thread sleeping in `read` on a file's wait queue until another thread's
//! `write` wakes it is the path a blocking server takes for every request
//! (its thread blocks in `read` on the socket), so the switch measured is the
//! kind the servers count. It is also the classic method (lmbench's `lat_ctx`,
//! `perf bench sched pipe`), so the figures compare with published ones, and
//! the syscall baseline is exact: the same two syscalls on one's own pipe.
//! eventfd would cost about the same; a futex would time a lighter wake path
//! than any server here uses. Pipes need nothing beyond `std::io::pipe`.
//!
//! # How to use the figures
//!
//! [`switch_share_pct`] multiplies by the *same-CPU* net figure: when a
//! server's CPU is saturated (the runs ringside compares), a thread that
//! blocks hands the CPU straight to another runnable server thread, the
//! switch measured in (2); the `read` and `write` around it are the server's
//! I/O, counted as such, hence the net figure. At low load a blocked server
//! thread leaves its CPU idle and is woken from another CPU, which costs
//! more (see `cross_cpu.cpu_ns`), so the share is then a lower bound. It is
//! an estimate of the direct cost in any case: the threads here touch almost
//! no memory, so it leaves out the indirect cost of switching between
//! threads with large working sets (caches refilled afterwards). The threads
//! belong to one process, as a server's do, so no address-space change is
//! included either. Compare figures from one run on one machine; on a
//! shared machine expect the spread (min to max) to be wide and rely on the
//! median.
//!
//! This module never pins the caller's thread (it spawns its own) and never
//! uses `unsafe`.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::thread;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use nix::sys::resource::{UsageWho, getrusage};
use platform::cpus::pin;
use rustix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};

/// Round trips per sample unless told otherwise. At about 30 µs per
/// cross-CPU hand-off a cross-CPU sample takes about 0.3 s.
pub const DEFAULT_ROUND_TRIPS: u32 = 5000;
/// Samples unless told otherwise; odd, so the median is one sample.
pub const DEFAULT_SAMPLES: u32 = 11;
/// How each hand-off is made, recorded in [`Calibration::method`].
pub const METHOD: &str = "1-byte ping-pong over two pipes between two pinned threads";

/// What to measure, and where. Also the flags of `ringside-loadgen ctxsw`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// The two CPUs to use: the same-CPU figure is measured on the first,
    /// the cross-CPU one between the first and the second.
    #[arg(long, value_name = "A,B", value_parser = parse_cpu_pair, default_value = "0,1")]
    pub cpus: [usize; 2],

    /// Round trips (two hand-offs each) timed per sample.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ROUND_TRIPS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub round_trips: u32,

    /// Samples of each measurement; the report gives their median, min and
    /// max.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SAMPLES,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { cpus: [0, 1], round_trips: DEFAULT_ROUND_TRIPS, samples: DEFAULT_SAMPLES }
    }
}

impl Options {
    /// A quick calibration (about half a second) on `cpus`, for runs that
    /// report the switching share before they load a server.
    pub fn quick(cpus: [usize; 2]) -> Self {
        Options { cpus, round_trips: 1000, samples: 5 }
    }
}

/// Parse `A,B`: two different CPU numbers.
pub fn parse_cpu_pair(s: &str) -> Result<[usize; 2], String> {
    let bad = || format!("bad CPU pair `{s}`: expected two different CPU numbers such as 0,1");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a == b {
        return Err(bad());
    }
    Ok([a, b])
}

/// The median, smallest and largest of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Summarise `samples`; the median of an even number of samples is the
    /// mean of the middle two. All NaN if there are none.
    pub fn of(samples: &[f64]) -> Spread {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n == 0 {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
        Spread { median, min: s[0], max: s[n - 1] }
    }

    /// The same spread moved by `-by` (net of a baseline).
    fn minus(self, by: f64) -> Spread {
        Spread { median: self.median - by, min: self.min - by, max: self.max - by }
    }
}

/// One measurement over all its samples. Figures are per hand-off (half a
/// round trip), or for [`Calibration::syscall`] per write + read pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Wall-clock ns.
    pub wall_ns: Spread,
    /// CPU time (user + system) of the measuring threads, in ns; below
    /// `wall_ns` by the time they waited (for a wake-up, or for their turn
    /// on a CPU others were using).
    pub cpu_ns: Spread,
    /// Median context switches (voluntary + involuntary) of the measuring
    /// threads: about 1.0 per hand-off if each hand-off was one switch,
    /// about 0 for the syscall baseline.
    pub switches: f64,
    /// Median involuntary switches: on one CPU, the woken thread preempting
    /// the writer (up to about 0.5 per hand-off); otherwise, well above 0
    /// means other work competed for the CPUs.
    pub involuntary: f64,
    /// Each sample's wall-clock ns, in the order measured.
    pub wall_samples_ns: Vec<f64>,
    /// Each sample's CPU ns, in the order measured.
    pub cpu_samples_ns: Vec<f64>,
}

/// What a context switch and a cross-CPU wake-up cost here. See the module
/// doc for exactly what each figure covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// CPU ns per direct switch between two threads of one process on one
    /// CPU, net of the write and read around it (median); multiply a
    /// server's voluntary switches by this.
    pub same_cpu_switch_ns: f64,
    /// Wall-clock ns per wake-up of a thread asleep on the other CPU, net of
    /// the write and read around it (median): a latency, including that
    /// CPU's wake-up. `cross_cpu.cpu_ns` says how much of it was CPU time.
    pub cross_cpu_wakeup_ns: f64,
    /// `same_cpu.cpu_ns` minus the median `syscall.cpu_ns`.
    pub same_cpu_net_ns: Spread,
    /// `cross_cpu.wall_ns` minus the median `syscall.cpu_ns`.
    pub cross_cpu_net_ns: Spread,
    /// A 1-byte pipe write plus a 1-byte read that does not block, on
    /// `cpus[0]`: the syscalls every hand-off makes, subtracted from the
    /// hand-offs to get the net figures.
    pub syscall: Measured,
    /// Ping-pong with both threads on `cpus[0]`.
    pub same_cpu: Measured,
    /// Ping-pong with one thread on `cpus[0]`, the other on `cpus[1]`.
    pub cross_cpu: Measured,
    pub cpus: [usize; 2],
    pub round_trips: u32,
    pub samples: u32,
    pub method: String,
}

/// Percentage of a server's CPU time per request that went to context
/// switches, estimated as `switches_per_req × same_cpu_switch_ns` over
/// `server_cpu_us_per_req`. Count voluntary and involuntary switches alike:
/// a preemption is a switch too.
///
/// Take both per-request figures from the server's counters over one run
/// (the difference of `getrusage` totals divided by the requests), and the
/// cost from [`Calibration::same_cpu_switch_ns`]. The result is not
/// clamped: above 100 means the calibration does not fit the server's
/// machine or conditions. NaN if the server's CPU per request is not
/// positive (there is nothing to take a share of).
pub fn switch_share_pct(switches_per_req: f64, server_cpu_us_per_req: f64, same_cpu_switch_ns: f64) -> f64 {
    if server_cpu_us_per_req.is_nan() || server_cpu_us_per_req <= 0.0 {
        return f64::NAN;
    }
    switches_per_req * same_cpu_switch_ns / (server_cpu_us_per_req * 1000.0) * 100.0
}

/// Measure, as the module doc describes. Takes roughly `samples × round_trips
/// × 2 × (same-CPU + cross-CPU hand-off)`: about 4 s with the defaults on the
/// developers' VM.
pub fn calibrate(opts: &Options) -> anyhow::Result<Calibration> {
    let [a, b] = opts.cpus;
    ensure!(a != b, "the cross-CPU figure needs two different CPUs, not {a} twice");
    ensure!(opts.round_trips > 0 && opts.samples > 0, "round trips and samples must be at least 1");
    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .context("cannot read this process's CPU affinity")?
        .into_iter()
        .map(|c| c.id)
        .collect();
    for cpu in [a, b] {
        if allowed.contains(&cpu) {
            continue;
        }
        if allowed.len() < 2 {
            bail!(
                "CPU {cpu} is not available to this process, which may run only on CPU {}; \
                 the cross-CPU figure needs two (run it outside taskset or cpuset limits)",
                list(&allowed)
            );
        }
        bail!(
            "CPU {cpu} is not available to this process, which may run on CPUs {}; \
             choose two of those (--cpus A,B)",
            list(&allowed)
        );
    }

    let n = opts.round_trips;
    let mut syscall = Vec::new();
    let mut same = Vec::new();
    let mut cross = Vec::new();
    for _ in 0..opts.samples {
        syscall.push(syscall_sample(a, n).context("measuring pipe syscalls")?);
        same.push(ping_pong(a, a, n).with_context(|| format!("ping-pong on CPU {a}"))?);
        cross.push(ping_pong(a, b, n).with_context(|| format!("ping-pong between CPUs {a} and {b}"))?);
    }
    Ok(assemble(opts, &syscall, &same, &cross))
}

/// The figures from the samples.
fn assemble(opts: &Options, syscall: &[Sample], same: &[Sample], cross: &[Sample]) -> Calibration {
    let syscall = Measured::of(syscall);
    let same_cpu = Measured::of(same);
    let cross_cpu = Measured::of(cross);
    let baseline = syscall.cpu_ns.median;
    let same_cpu_net_ns = same_cpu.cpu_ns.minus(baseline);
    let cross_cpu_net_ns = cross_cpu.wall_ns.minus(baseline);
    Calibration {
        same_cpu_switch_ns: same_cpu_net_ns.median,
        cross_cpu_wakeup_ns: cross_cpu_net_ns.median,
        same_cpu_net_ns,
        cross_cpu_net_ns,
        syscall,
        same_cpu,
        cross_cpu,
        cpus: opts.cpus,
        round_trips: opts.round_trips,
        samples: opts.samples,
        method: METHOD.to_owned(),
    }
}

fn list(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

/// One sample, per hand-off (or per write + read pair).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    wall_ns: f64,
    cpu_ns: f64,
    switches: f64,
    involuntary: f64,
}

impl Sample {
    /// `units` hand-offs (or pairs) took `wall_ns` and `usage`.
    fn new(units: u64, wall_ns: f64, usage: ThreadUsage) -> Sample {
        let units = units as f64;
        Sample {
            wall_ns: wall_ns / units,
            cpu_ns: usage.cpu_ns as f64 / units,
            switches: (usage.voluntary + usage.involuntary) as f64 / units,
            involuntary: usage.involuntary as f64 / units,
        }
    }
}

impl Measured {
    fn of(samples: &[Sample]) -> Measured {
        let field = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
        let wall = field(|s| s.wall_ns);
        let cpu = field(|s| s.cpu_ns);
        Measured {
            wall_ns: Spread::of(&wall),
            cpu_ns: Spread::of(&cpu),
            switches: Spread::of(&field(|s| s.switches)).median,
            involuntary: Spread::of(&field(|s| s.involuntary)).median,
            wall_samples_ns: wall,
            cpu_samples_ns: cpu,
        }
    }
}

/// CPU time and context switches of the calling thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ThreadUsage {
    cpu_ns: i64,
    voluntary: i64,
    involuntary: i64,
}

impl ThreadUsage {
    fn now() -> anyhow::Result<ThreadUsage> {
        let cpu = clock_gettime(ClockId::ThreadCPUTime);
        let u = getrusage(UsageWho::RUSAGE_THREAD).context("getrusage(RUSAGE_THREAD)")?;
        Ok(ThreadUsage {
            cpu_ns: cpu.tv_sec * 1_000_000_000 + cpu.tv_nsec,
            voluntary: u.voluntary_context_switches() as i64,
            involuntary: u.involuntary_context_switches() as i64,
        })
    }

    fn since(self, earlier: ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            cpu_ns: self.cpu_ns - earlier.cpu_ns,
            voluntary: self.voluntary - earlier.voluntary,
            involuntary: self.involuntary - earlier.involuntary,
        }
    }

    fn plus(self, other: ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            cpu_ns: self.cpu_ns + other.cpu_ns,
            voluntary: self.voluntary + other.voluntary,
            involuntary: self.involuntary + other.involuntary,
        }
    }
}

/// The byte the initiator sends during warm-up, and once timing has begun.
const WARM_UP: u8 = b'w';
const TIMED: u8 = b't';

/// Untimed round trips before each sample: long enough to let both threads
/// reach their CPUs and the caches settle, short next to the sample.
fn warm_up_round_trips(round_trips: u32) -> u32 {
    (round_trips / 10).clamp(10, 1000)
}

/// Read one byte; `None` at end of file.
fn recv(rx: &mut PipeReader) -> io::Result<Option<u8>> {
    let mut b = [0u8; 1];
    loop {
        match rx.read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Time `round_trips` ping-pong round trips between a thread on `initiator`
/// and one on `echoer`.
fn ping_pong(initiator: usize, echoer: usize, round_trips: u32) -> anyhow::Result<Sample> {
    let (to_echo_rx, to_echo_tx) = io::pipe().context("pipe")?;
    let (back_rx, back_tx) = io::pipe().context("pipe")?;
    let warm_up = warm_up_round_trips(round_trips);
    thread::scope(|s| {
        let echo = thread::Builder::new()
            .name("ctxsw-echo".into())
            .spawn_scoped(s, move || echo(echoer, to_echo_rx, back_tx))
            .context("spawning a thread")?;
        let init = thread::Builder::new()
            .name("ctxsw-init".into())
            .spawn_scoped(s, move || initiate(initiator, to_echo_tx, back_rx, warm_up, round_trips))
            .context("spawning a thread")?;
        let init = init.join().map_err(|_| anyhow::anyhow!("the initiating thread panicked"))?;
        let echo = echo.join().map_err(|_| anyhow::anyhow!("the echoing thread panicked"))?;
        // If the echoing thread failed, the initiator only saw it stop: its
        // error is the cause.
        let echo_usage = echo?;
        let (wall_ns, init_usage) = init?;
        Ok(Sample::new(2 * u64::from(round_trips), wall_ns, init_usage.plus(echo_usage)))
    })
}

/// The timing side: returns the wall-clock ns of the timed round trips and
/// this thread's usage over them.
fn initiate(
    cpu: usize,
    mut tx: PipeWriter,
    mut rx: PipeReader,
    warm_up: u32,
    round_trips: u32,
) -> anyhow::Result<(f64, ThreadUsage)> {
    pin(cpu)?;
    let mut round_trip = |byte: u8| -> anyhow::Result<()> {
        tx.write_all(&[byte])?;
        match recv(&mut rx)? {
            Some(_) => Ok(()),
            None => bail!("the echoing thread stopped"),
        }
    };
    for _ in 0..warm_up {
        round_trip(WARM_UP)?;
    }
    let before = ThreadUsage::now()?;
    let start = Instant::now();
    for _ in 0..round_trips {
        round_trip(TIMED)?;
    }
    let wall_ns = start.elapsed().as_nanos() as f64;
    let usage = ThreadUsage::now()?.since(before);
    // Dropping `tx` on return is the echoing thread's end of file.
    Ok((wall_ns, usage))
}

/// The echoing side: sends back every byte until end of file, and returns
/// its usage from the first timed byte on.
fn echo(cpu: usize, mut rx: PipeReader, mut tx: PipeWriter) -> anyhow::Result<ThreadUsage> {
    pin(cpu)?;
    let mut timed_from = None;
    while let Some(byte) = recv(&mut rx)? {
        if byte == TIMED && timed_from.is_none() {
            timed_from = Some(ThreadUsage::now()?);
        }
        tx.write_all(&[byte])?;
    }
    let end = ThreadUsage::now()?;
    Ok(end.since(timed_from.unwrap_or(end)))
}

/// 1-byte writes and reads of a thread's own pipe, on `cpu`: as many pairs
/// as a ping-pong sample has hand-offs.
fn syscall_sample(cpu: usize, round_trips: u32) -> anyhow::Result<Sample> {
    let pairs = 2 * u64::from(round_trips);
    let warm_up = 2 * u64::from(warm_up_round_trips(round_trips));
    thread::scope(|s| {
        let t = thread::Builder::new()
            .name("ctxsw-syscall".into())
            .spawn_scoped(s, move || -> anyhow::Result<Sample> {
                pin(cpu)?;
                let (mut rx, mut tx) = io::pipe().context("pipe")?;
                let mut pair = || -> anyhow::Result<()> {
                    tx.write_all(&[TIMED])?;
                    ensure!(recv(&mut rx)?.is_some(), "own pipe closed");
                    Ok(())
                };
                for _ in 0..warm_up {
                    pair()?;
                }
                let before = ThreadUsage::now()?;
                let start = Instant::now();
                for _ in 0..pairs {
                    pair()?;
                }
                let wall_ns = start.elapsed().as_nanos() as f64;
                Ok(Sample::new(pairs, wall_ns, ThreadUsage::now()?.since(before)))
            })
            .context("spawning a thread")?;
        t.join().map_err(|_| anyhow::anyhow!("the measuring thread panicked"))?
    })
}

impl fmt::Display for Calibration {
    /// The human-readable report `ringside-loadgen ctxsw` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.cpus;
        let row = |f: &mut fmt::Formatter<'_>, group: &str, what: &str, s: Spread| {
            writeln!(f, "  {group:<35} {what:<18} {:>8.0} {:>8.0} {:>8.0}", s.median, s.min, s.max)
        };
        writeln!(f, "context switches: {}", self.method)?;
        writeln!(
            f,
            "CPUs {a} and {b}; samples: {}, round trips per sample: {}",
            self.samples, self.round_trips
        )?;
        writeln!(f)?;
        writeln!(f, "  {:<35} {:<18} {:>8} {:>8} {:>8}", "ns", "", "median", "min", "max")?;
        let group = format!("write + read, no switch (CPU {a})");
        row(f, &group, "CPU time", self.syscall.cpu_ns)?;
        row(f, "", "wall clock", self.syscall.wall_ns)?;
        let group = format!("same CPU ({a}), per hand-off");
        row(f, &group, "CPU time", self.same_cpu.cpu_ns)?;
        row(f, "", "wall clock", self.same_cpu.wall_ns)?;
        row(f, "  net: one switch", "CPU - write+read", self.same_cpu_net_ns)?;
        let group = format!("cross CPU ({a} and {b}), per hand-off");
        row(f, &group, "wall clock", self.cross_cpu.wall_ns)?;
        row(f, "", "CPU time", self.cross_cpu.cpu_ns)?;
        row(f, "  net: one wake-up", "wall - write+read", self.cross_cpu_net_ns)?;
        writeln!(f)?;
        writeln!(
            f,
            "switches per hand-off (about 1 if each hand-off is one switch): same CPU {:.2} \
             ({:.2} involuntary), cross CPU {:.2} ({:.2} involuntary); per write + read: {:.2}",
            self.same_cpu.switches,
            self.same_cpu.involuntary,
            self.cross_cpu.switches,
            self.cross_cpu.involuntary,
            self.syscall.switches,
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "same_cpu_switch_ns  = {:.0}  (CPU time of a switch: multiply by a server's voluntary switches)",
            self.same_cpu_switch_ns
        )?;
        write!(
            f,
            "cross_cpu_wakeup_ns = {:.0}  (latency of waking a thread asleep on the other CPU; \
             see its CPU time above)",
            self.cross_cpu_wakeup_ns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall_ns: f64, cpu_ns: f64) -> Sample {
        Sample { wall_ns, cpu_ns, switches: 1.0, involuntary: 0.0 }
    }

    /// A calibration whose same-CPU switch is `switch_ns` of CPU time, with
    /// a 500 ns write + read and a 30 µs cross-CPU wake-up.
    fn calibration(switch_ns: f64) -> Calibration {
        let syscall = [Sample { switches: 0.0, ..sample(500.0, 500.0) }];
        let same = [sample(switch_ns + 600.0, switch_ns + 500.0)];
        let cross = [sample(30_500.0, 20_000.0)];
        assemble(&Options::default(), &syscall, &same, &cross)
    }

    #[test]
    fn switch_share() {
        // The README's blocking servers: one switch and 7.4 µs of CPU per
        // request; at 1 µs a switch, 13.5 % of it is switching.
        let cal = calibration(1000.0);
        assert!((switch_share_pct(1.0, 7.4, cal.same_cpu_switch_ns) - 13.513_513_5).abs() < 1e-6);
        assert!((switch_share_pct(0.5, 2.0, cal.same_cpu_switch_ns) - 25.0).abs() < 1e-12);
        // The event loops: almost no switches, almost no share.
        assert!((switch_share_pct(0.02, 4.0, cal.same_cpu_switch_ns) - 0.5).abs() < 1e-12);
        assert_eq!(switch_share_pct(0.0, 4.0, cal.same_cpu_switch_ns), 0.0);
        // Not clamped: a calibration that does not fit shows.
        assert!((switch_share_pct(2.0, 1.0, cal.same_cpu_switch_ns) - 200.0).abs() < 1e-12);
        // No CPU, no share.
        assert!(switch_share_pct(1.0, 0.0, cal.same_cpu_switch_ns).is_nan());
        assert!(switch_share_pct(1.0, -1.0, cal.same_cpu_switch_ns).is_nan());
        assert!(switch_share_pct(1.0, f64::NAN, cal.same_cpu_switch_ns).is_nan());
    }

    #[test]
    fn spread() {
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]), Spread { median: 2.0, min: 1.0, max: 3.0 });
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 10.0]), Spread { median: 3.0, min: 1.0, max: 10.0 });
        assert_eq!(Spread::of(&[7.0]), Spread { median: 7.0, min: 7.0, max: 7.0 });
        assert!(Spread::of(&[]).median.is_nan());
        let s = Spread::of(&[1000.0, 1200.0, 900.0]).minus(400.0);
        assert_eq!(s, Spread { median: 600.0, min: 500.0, max: 800.0 });
    }

    #[test]
    fn per_hand_off_arithmetic() {
        // 100 round trips = 200 hand-offs in 0.4 ms, 300 µs of CPU, 200
        // voluntary and 10 involuntary switches between the two threads.
        let usage = ThreadUsage { cpu_ns: 300_000, voluntary: 200, involuntary: 10 };
        let s = Sample::new(200, 400_000.0, usage);
        assert_eq!(s, Sample { wall_ns: 2000.0, cpu_ns: 1500.0, switches: 1.05, involuntary: 0.05 });

        let a = ThreadUsage { cpu_ns: 10, voluntary: 5, involuntary: 1 };
        let b = ThreadUsage { cpu_ns: 25, voluntary: 9, involuntary: 1 };
        assert_eq!(b.since(a), ThreadUsage { cpu_ns: 15, voluntary: 4, involuntary: 0 });
        assert_eq!(a.plus(b), ThreadUsage { cpu_ns: 35, voluntary: 14, involuntary: 2 });

        let samples = [
            Sample { wall_ns: 3000.0, cpu_ns: 2900.0, switches: 1.0, involuntary: 0.0 },
            Sample { wall_ns: 2000.0, cpu_ns: 2000.0, switches: 1.0, involuntary: 0.0 },
            Sample { wall_ns: 2500.0, cpu_ns: 2400.0, switches: 1.2, involuntary: 0.2 },
        ];
        let m = Measured::of(&samples);
        assert_eq!(m.wall_ns, Spread { median: 2500.0, min: 2000.0, max: 3000.0 });
        assert_eq!(m.cpu_ns, Spread { median: 2400.0, min: 2000.0, max: 2900.0 });
        assert_eq!(m.switches, 1.0);
        assert_eq!(m.involuntary, 0.0);
        assert_eq!(m.wall_samples_ns, vec![3000.0, 2000.0, 2500.0]);
        assert_eq!(m.cpu_samples_ns, vec![2900.0, 2000.0, 2400.0]);
    }

    /// The same-CPU switch is CPU time net of the syscalls' CPU time; the
    /// cross-CPU wake-up is wall clock net of the same.
    #[test]
    fn net_figures() {
        let syscall = [sample(900.0, 400.0), sample(450.0, 420.0), sample(500.0, 380.0)];
        let same = [sample(1500.0, 1100.0), sample(1200.0, 1150.0), sample(2000.0, 1000.0)];
        let cross = [sample(30_000.0, 9000.0), sample(40_000.0, 9000.0), sample(35_000.0, 9000.0)];
        let opts = Options { cpus: [1, 0], round_trips: 10, samples: 3 };
        let cal = assemble(&opts, &syscall, &same, &cross);
        assert_eq!(cal.same_cpu_net_ns, Spread { median: 700.0, min: 600.0, max: 750.0 });
        assert_eq!(cal.same_cpu_switch_ns, 700.0);
        assert_eq!(cal.cross_cpu_net_ns, Spread { median: 34_600.0, min: 29_600.0, max: 39_600.0 });
        assert_eq!(cal.cross_cpu_wakeup_ns, 34_600.0);
        assert_eq!(cal.syscall.wall_ns.median, 500.0);
        assert_eq!((cal.cpus, cal.round_trips, cal.samples), ([1, 0], 10, 3));

        let cal = calibration(1000.0);
        assert_eq!((cal.same_cpu_switch_ns, cal.cross_cpu_wakeup_ns), (1000.0, 30_000.0));
    }

    #[test]
    fn warm_up_is_bounded() {
        assert_eq!(warm_up_round_trips(1), 10);
        assert_eq!(warm_up_round_trips(5000), 500);
        assert_eq!(warm_up_round_trips(1_000_000), 1000);
    }

    #[test]
    fn cpu_pairs() {
        assert_eq!(parse_cpu_pair("0,1"), Ok([0, 1]));
        assert_eq!(parse_cpu_pair("1,0"), Ok([1, 0]));
        assert_eq!(parse_cpu_pair(" 3 , 12 "), Ok([3, 12]));
        for bad in ["", "0", "1,1", "0,1,2", "a,1", "0,-1", "0-1", ","] {
            let err = parse_cpu_pair(bad).unwrap_err();
            assert!(err.contains("two different CPU numbers"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn options() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            options: Options,
        }
        let parse = |args: &[&str]| Cli::try_parse_from(["t"].iter().chain(args)).map(|c| c.options);
        assert_eq!(parse(&[]).unwrap(), Options::default());
        assert_eq!(
            parse(&["--cpus", "1,0", "--round-trips", "50", "--samples", "3"]).unwrap(),
            Options { cpus: [1, 0], round_trips: 50, samples: 3 }
        );
        assert!(parse(&["--cpus", "0,0"]).is_err());
        assert!(parse(&["--cpus", "0"]).is_err());
        assert!(parse(&["--round-trips", "0"]).is_err());
        assert!(parse(&["--samples", "0"]).is_err());
        assert!(parse(&["--samples", "-1"]).is_err());
    }

    #[test]
    fn refuses_bad_options() {
        let opts = |cpus, round_trips, samples| Options { cpus, round_trips, samples };
        let err = calibrate(&opts([0, 1_000_000], 10, 1)).unwrap_err().to_string();
        assert!(err.contains("CPU 1000000 is not available to this process"), "{err}");
        let err = calibrate(&opts([1, 1], 10, 1)).unwrap_err().to_string();
        assert!(err.contains("two different CPUs"), "{err}");
        assert!(calibrate(&opts([0, 1], 0, 1)).is_err());
        assert!(calibrate(&opts([0, 1], 10, 0)).is_err());
    }

    #[test]
    fn report_names_every_figure() {
        let report = calibration(1234.0).to_string();
        for needle in
            ["CPUs 0 and 1", "same_cpu_switch_ns  = 1234", "cross_cpu_wakeup_ns = 30000", "no switch"]
        {
            assert!(report.contains(needle), "{needle:?} missing from:\n{report}");
        }
    }

    #[test]
    fn json_round_trips() {
        let cal = calibration(1000.0);
        let json = serde_json::to_string(&cal).unwrap();
        assert!(json.contains("\"same_cpu_switch_ns\":1000.0"), "{json}");
        assert_eq!(serde_json::from_str::<Calibration>(&json).unwrap(), cal);
    }

    /// Runs the real measurement, briefly, and checks only that the figures
    /// are sane: on a shared machine any timing threshold would be flaky.
    #[test]
    fn calibrate_gives_sane_figures() {
        let cpus: Vec<usize> =
            core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
        if cpus.len() < 2 {
            eprintln!("SKIPPED calibrate_gives_sane_figures: needs 2 CPUs, this process may use {cpus:?}");
            return;
        }
        let opts = Options { cpus: [cpus[0], cpus[1]], round_trips: 200, samples: 3 };
        let cal = calibrate(&opts).unwrap();
        for (what, v) in [
            ("syscall wall", cal.syscall.wall_ns.median),
            ("syscall CPU", cal.syscall.cpu_ns.median),
            ("same wall", cal.same_cpu.wall_ns.median),
            ("same CPU", cal.same_cpu.cpu_ns.median),
            ("cross wall", cal.cross_cpu.wall_ns.median),
            ("same switches", cal.same_cpu.switches),
            ("cross switches", cal.cross_cpu.switches),
        ] {
            assert!(v.is_finite() && v > 0.0, "{what}: {v}\n{cal:#?}");
        }
        assert!(cal.cross_cpu.cpu_ns.median >= 0.0, "{cal:#?}");
        assert!(cal.same_cpu_switch_ns.is_finite(), "{cal:#?}");
        assert!(cal.cross_cpu_wakeup_ns.is_finite() && cal.cross_cpu_wakeup_ns >= 0.0, "{cal:#?}");
        assert_eq!(cal.syscall.wall_samples_ns.len(), 3);
        assert_eq!(cal.same_cpu.cpu_samples_ns.len(), 3);
        assert_eq!(cal.cross_cpu.wall_samples_ns.len(), 3);
        assert_eq!(cal.cpus, opts.cpus);
    }
}
