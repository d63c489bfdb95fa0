//! `io-uring`: one io_uring per thread, completion-based, raw (the
//! `io-uring` crate, no runtime).
//!
//! **Threads and listeners.** `--threads` loops (default: one per CPU in
//! `--cores`, or one), each pinned, each with its own ring and its own
//! `SO_REUSEPORT` listener: shared-nothing, as in `epoll`.
//!
//! **The default is the modern fast path**; each part has a flag that turns
//! it off, so its worth can be measured:
//! - one multishot accept per listener (`--no-multishot-accept`: a one-shot
//!   accept re-armed after each connection);
//! - one multishot recv per connection taking buffers from a registered
//!   buffer ring shared by every connection of the loop
//!   (`--no-multishot-recv`: one-shot recvs, still from the ring;
//!   `--no-buf-ring`: one-shot recvs into a buffer per connection);
//! - `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN`, falling back to
//!   `COOP_TASKRUN | TASKRUN_FLAG` where the kernel refuses it
//!   (`--no-defer-taskrun` asks for the fallback);
//! - one `io_uring_enter` per loop iteration, submitting everything queued
//!   and waiting for at least one completion (`--no-batching`: one enter per
//!   operation).
//!
//! The completion queue is sized for the buffer ring, the listen backlog and
//! twice the submission queue ([`cq_entries`]); should more complete between
//! two reaps, the kernel keeps them and the loop says so.
//!
//! Beyond the default: `--sqpoll[=IDLE_MS]` (a kernel thread polls the
//! submission queue, pinned to the loop's CPU; DEFER_TASKRUN cannot be
//! combined with it), `--fixed-files` (accepted connections become direct
//! descriptors, never entering the process's file table), `--zc-send[=BYTES]`
//! (zero-copy sends from that size up), and the ring and buffer-ring sizes.
//!
//! **Ownership rule.** Whoever submits an operation owns its buffers until
//! its completion arrives — for a zero-copy send, until its notification —
//! even if the connection closes meanwhile. A connection's slot (and with it
//! its send buffer) is therefore freed only by the completion of its last
//! operation, the close; recv buffers belong to the loop's buffer ring,
//! which lives as long as the process (it is never unregistered, so never
//! freed: see `platform::bufring`).
//!
//! **Backpressure.** One send in flight per connection. Input that arrives
//! meanwhile is kept with the connection; once more than one buffer's worth
//! is waiting, the multishot recv is cancelled, and re-armed when the
//! connection has caught up, so a slow reader never makes the server buffer
//! without bound. The input held is what arrives before the cancel takes
//! effect: a buffer or two with DEFER_TASKRUN, whose cancel runs in the next
//! `io_uring_enter`; more with SQPOLL when its kernel thread is short of CPU. `ENOBUFS` (the buffer ring ran dry) ends a multishot recv
//! without losing data: the buffers are recycled and the recv re-armed.
//!
//! **Blocking work.** An rr `sleep` runs on the loop's thread and stalls
//! every connection of that ring, as in `epoll`.
//!
//! `TCP_NODELAY` is inherited from the listener, which is how direct
//! descriptors get it.

// Submissions and the buffers they lend the kernel: the crate's only `unsafe`.
#[allow(unsafe_code)]
mod event_loop;

use std::io;
use std::thread;

use anyhow::{Context as _, bail};
use clap::Args;
use io_uring::{IoUring, Probe, opcode};

use crate::backend::{Backend, Context, Registration};
use crate::config::{Config, backend_args};
use platform::Unsupported;

pub const REGISTRATION: Registration = Registration {
    name: "io-uring",
    summary: "one io_uring per thread: multishot accept and recv, buffer ring, DEFER_TASKRUN",
    args: <IoUringArgs as clap::Args>::augment_args,
    build,
};

#[derive(Args, Debug)]
#[command(next_help_heading = "io-uring options")]
struct IoUringArgs {
    /// Accept with a one-shot accept re-armed after each connection instead
    /// of one multishot accept.
    #[arg(long)]
    no_multishot_accept: bool,

    /// Receive with one-shot recvs instead of one multishot recv per
    /// connection (buffers still come from the buffer ring).
    #[arg(long)]
    no_multishot_recv: bool,

    /// Receive into a buffer per connection instead of a registered buffer
    /// ring shared by all (implies --no-multishot-recv).
    #[arg(long)]
    no_buf_ring: bool,

    /// Do not ask for IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN; use
    /// COOP_TASKRUN | TASKRUN_FLAG.
    #[arg(long)]
    no_defer_taskrun: bool,

    /// Enter the kernel once per operation instead of once per loop
    /// iteration.
    #[arg(long)]
    no_batching: bool,

    /// Let a kernel thread poll the submission queue (IORING_SETUP_SQPOLL),
    /// pinned to the loop's CPU, going to sleep after IDLE_MS without work.
    #[arg(long, value_name = "IDLE_MS", num_args = 0..=1, default_missing_value = "1000")]
    sqpoll: Option<u32>,

    /// Make accepted connections direct descriptors (registered files).
    #[arg(long)]
    fixed_files: bool,

    /// Use zero-copy sends (IORING_OP_SEND_ZC) for sends of at least BYTES.
    #[arg(long, value_name = "BYTES", num_args = 0..=1, default_missing_value = "16384")]
    zc_send: Option<usize>,

    /// Submission queue entries per ring (the completion queue is sized from
    /// this, the buffer ring and the listen backlog).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    ring_entries: u32,

    /// Buffers in each loop's buffer ring (a power of two, at most 32768).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    buf_ring_entries: u32,

    /// Bytes per buffer of the buffer ring (and of per-connection receive
    /// buffers with --no-buf-ring).
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    buf_size: u32,
}

/// The effective configuration of every loop.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    threads: usize,
    multishot_accept: bool,
    multishot_recv: bool,
    buf_ring: bool,
    defer_taskrun: bool,
    batching: bool,
    sqpoll: Option<u32>,
    fixed_files: bool,
    zc_send: Option<usize>,
    ring_entries: u32,
    buf_ring_entries: u16,
    buf_size: usize,
}

/// Direct-descriptor table size with --fixed-files (at most RLIMIT_NOFILE,
/// which the kernel requires): the most connections one loop can hold then.
const FIXED_FILES: u32 = 65_536;
const MAX_THREADS: usize = 1024;

fn build(matches: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let a: IoUringArgs = backend_args(matches)?;
    let threads = config.threads.unwrap_or(config.cores.len().max(1));
    if threads > MAX_THREADS {
        bail!("io-uring: --threads must be at most {MAX_THREADS}");
    }
    if !(2..=32_768).contains(&a.ring_entries) {
        bail!("--ring-entries must be between 2 and 32768");
    }
    if !a.buf_ring_entries.is_power_of_two() || a.buf_ring_entries > 32_768 {
        bail!("--buf-ring-entries must be a power of two up to 32768");
    }
    if !(64..=1 << 20).contains(&a.buf_size) {
        bail!("--buf-size must be between 64 and 1048576 bytes");
    }
    if a.sqpoll.is_some() && !a.no_defer_taskrun {
        // Not an error: DEFER_TASKRUN needs the submitting task to reap its
        // own completions, which an SQPOLL thread is not; say what happens.
        eprintln!(
            "ringside-server: io-uring: --sqpoll: the SQPOLL thread does the task work; DEFER_TASKRUN and \
             COOP_TASKRUN are off"
        );
    }
    let buf_ring = !a.no_buf_ring;
    // Report what the kernel will grant, not what was asked: every result
    // row carries these options.
    let defer_taskrun = !a.no_defer_taskrun && a.sqpoll.is_none() && defer_taskrun_available();
    Ok(Box::new(IoUringBackend(Options {
        threads,
        multishot_accept: !a.no_multishot_accept,
        multishot_recv: buf_ring && !a.no_multishot_recv,
        buf_ring,
        defer_taskrun,
        batching: !a.no_batching,
        sqpoll: a.sqpoll,
        fixed_files: a.fixed_files,
        zc_send: a.zc_send,
        ring_entries: a.ring_entries,
        buf_ring_entries: a.buf_ring_entries as u16,
        buf_size: a.buf_size as usize,
    })))
}

struct IoUringBackend(Options);

impl Backend for IoUringBackend {
    fn options(&self) -> String {
        let o = &self.0;
        let on = |b: bool| if b { "on" } else { "off" };
        format!(
            "threads={} multishot_accept={} multishot_recv={} buf_ring={} defer_taskrun={} batching={} \
             sqpoll={} fixed_files={} zc_send={} ring_entries={} buf_ring_entries={} buf_size={}",
            o.threads,
            on(o.multishot_accept),
            on(o.multishot_recv),
            on(o.buf_ring),
            on(o.defer_taskrun),
            on(o.batching),
            o.sqpoll.map_or("off".to_string(), |ms| format!("{ms}ms")),
            on(o.fixed_files),
            o.zc_send.map_or("off".to_string(), |b| b.to_string()),
            o.ring_entries,
            o.buf_ring_entries,
            o.buf_size,
        )
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        let listeners = ctx.listen_group(self.0.threads)?;
        let addr = listeners[0].local_addr()?;
        // Build every ring before announcing the server, so that a kernel
        // that cannot run this configuration fails the start, not a request.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        for (index, listener) in listeners.into_iter().enumerate() {
            let (ctx, options, tx, done) = (ctx.clone(), self.0.clone(), tx.clone(), done_tx.clone());
            thread::Builder::new()
                .name(format!("io-uring-{index}"))
                .spawn(move || {
                    let setup = ctx.pin(index).and_then(|()| {
                        event_loop::EventLoop::new(index, listener, &ctx, &options)
                            .with_context(|| format!("io-uring loop {index}"))
                    });
                    match setup {
                        Ok(event_loop) => {
                            let _ = tx.send(Ok(()));
                            drop(tx);
                            if let Err(e) = event_loop.run() {
                                ctx.shutdown().fail(e.context(format!("io-uring loop {index}")));
                            }
                            let _ = done.send(());
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })
                .with_context(|| format!("cannot start io-uring loop {index}"))?;
        }
        drop(tx);
        // One report per loop; a loop that died before reporting closes its
        // sender, which ends the wait too.
        for _ in 0..self.0.threads {
            rx.recv().context("an io-uring loop ended during setup")??;
        }
        ctx.ready(addr);
        let result = ctx.shutdown().wait();
        // Let the loops release their listeners (bounded: the process exits
        // after this either way).
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        for _ in 0..self.0.threads {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        result
    }
}

/// Whether this kernel accepts `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1),
/// tried on a tiny ring; says so once if not.
fn defer_taskrun_available() -> bool {
    let mut b = IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder();
    b.setup_single_issuer().setup_defer_taskrun();
    match b.build(2) {
        Ok(_) => true,
        Err(e) => {
            eprintln!(
                "ringside-server: io-uring: the kernel refused SINGLE_ISSUER | DEFER_TASKRUN ({e}; needs Linux \
                 6.1); using COOP_TASKRUN"
            );
            false
        }
    }
}

/// Create a ring as `options` asks, on the calling thread (which becomes its
/// single issuer). Errors say what the kernel refused and what to do.
pub(crate) fn new_ring(options: &Options, cpu: Option<usize>) -> anyhow::Result<(IoUring, &'static str)> {
    let mut builder = IoUring::builder();
    builder.setup_cqsize(cq_entries(options)).setup_submit_all().setup_clamp();
    if let Some(idle) = options.sqpoll {
        builder.setup_sqpoll(idle);
        if let Some(cpu) = cpu {
            builder.setup_sqpoll_cpu(cpu as u32);
        }
    }
    if options.defer_taskrun {
        let mut modern = builder.clone();
        modern.setup_single_issuer().setup_defer_taskrun();
        match modern.build(options.ring_entries) {
            Ok(ring) => return Ok((ring, "defer_taskrun")),
            Err(e) => return Err(ring_error(e, options)),
        }
    }
    if options.sqpoll.is_some() {
        // The kernel thread submits and reaps task work itself; the flags
        // that spare the application IPIs are refused with SQPOLL.
        let ring = builder.build(options.ring_entries).map_err(|e| ring_error(e, options))?;
        return Ok((ring, "sqpoll"));
    }
    builder.setup_coop_taskrun().setup_taskrun_flag();
    let ring = builder.build(options.ring_entries).map_err(|e| ring_error(e, options))?;
    Ok((ring, "coop_taskrun"))
}

fn ring_error(e: io::Error, options: &Options) -> anyhow::Error {
    let unsupported = |what: &str| anyhow::Error::new(Unsupported(format!("io_uring_setup: {what}: {e}")));
    let what = match e.raw_os_error() {
        Some(nix::libc::ENOMEM) => {
            let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK)
                .map(|(soft, _)| format!("{soft} bytes"))
                .unwrap_or_else(|_| "unknown".into());
            format!(
                "out of memory for a {}-entry ring (RLIMIT_MEMLOCK is {limit}); raise `ulimit -l` or pass \
                 --ring-entries {}",
                options.ring_entries,
                (options.ring_entries / 4).max(2)
            )
        }
        Some(nix::libc::EPERM) => {
            return unsupported(
                "not permitted: io_uring is disabled for this process (sysctl kernel.io_uring_disabled, or a \
                 seccomp policy)",
            );
        }
        Some(nix::libc::ENOSYS) => return unsupported("this kernel has no io_uring"),
        Some(nix::libc::EINVAL) if options.sqpoll.is_some() => {
            return unsupported(
                "the kernel refused this setup (SQPOLL needs Linux 5.11 unprivileged); drop --sqpoll",
            );
        }
        Some(nix::libc::EINVAL) => return unsupported("the kernel refused the ring setup flags"),
        _ => "the kernel refused the ring setup".into(),
    };
    anyhow::Error::new(e).context(format!("io_uring_setup: {what}"))
}

/// Completion queue entries. Receives are bounded by the buffer ring (each
/// data completion holds a buffer until the loop has read it) and a
/// multishot accept by the listen backlog; one-shot operations (a send, a
/// shutdown, a close per connection) by nothing but the connections busy at
/// once, so twice the submission queue is left for them (the sum is
/// rounded up to a power of two). More completions
/// than that between two reaps overflow: the kernel keeps them
/// (IORING_FEAT_NODROP), slower, and the loop reports it; raise
/// `--ring-entries` then.
fn cq_entries(options: &Options) -> u32 {
    let recvs = if options.buf_ring { u32::from(options.buf_ring_entries) } else { 0 };
    let wanted = recvs + crate::backend::BACKLOG as u32 + 2 * options.ring_entries;
    // IORING_MAX_CQ_ENTRIES
    wanted.next_power_of_two().min(65_536)
}

/// Check that the kernel has every operation this configuration uses.
pub(crate) fn probe(ring: &IoUring, options: &Options) -> anyhow::Result<()> {
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).context("io_uring: cannot probe the kernel's operations")?;
    let mut needed = vec![
        (opcode::Accept::CODE, "IORING_OP_ACCEPT", "(none: io-uring needs Linux 5.19 or later)"),
        (opcode::Recv::CODE, "IORING_OP_RECV", "(none)"),
        (opcode::Send::CODE, "IORING_OP_SEND", "(none)"),
        (opcode::Shutdown::CODE, "IORING_OP_SHUTDOWN", "(none)"),
        (opcode::Close::CODE, "IORING_OP_CLOSE", "(none)"),
        (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL", "(none)"),
        (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD", "(none)"),
    ];
    if options.zc_send.is_some() {
        needed.push((opcode::SendZc::CODE, "IORING_OP_SEND_ZC", "drop --zc-send"));
    }
    for (code, name, avoid) in needed {
        if !probe.is_supported(code) {
            return Err(Unsupported(format!(
                "io_uring: the kernel lacks {name}; flag that avoids it: {avoid}"
            ))
            .into());
        }
    }
    // Multishot variants cannot be probed; they came with known versions.
    let version = kernel_version();
    let require = |wanted: bool, at: (u32, u32), what: &str, avoid: &str| -> anyhow::Result<()> {
        match version {
            Some(v) if wanted && v < at => Err(Unsupported(format!(
                "io_uring: {what} needs Linux {}.{} (this is {}.{}); pass {avoid}",
                at.0, at.1, v.0, v.1
            ))
            .into()),
            _ => Ok(()),
        }
    };
    require(options.multishot_accept, (5, 19), "multishot accept", "--no-multishot-accept")?;
    require(options.multishot_recv, (6, 0), "multishot recv", "--no-multishot-recv")?;
    require(options.buf_ring, (5, 19), "a provided-buffer ring", "--no-buf-ring")?;
    require(options.fixed_files, (5, 19), "allocated direct descriptors", "no --fixed-files")?;
    Ok(())
}

/// The running kernel's (major, minor), if `uname` says.
fn kernel_version() -> Option<(u32, u32)> {
    let uname = rustix::system::uname();
    let release = uname.release().to_str().ok()?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            threads: 1,
            multishot_accept: true,
            multishot_recv: true,
            buf_ring: true,
            defer_taskrun: true,
            batching: true,
            sqpoll: None,
            fixed_files: false,
            zc_send: None,
            ring_entries: 64,
            buf_ring_entries: 64,
            buf_size: 4096,
        }
    }

    #[test]
    fn setup_refusals_are_unsupported_and_say_what_to_do() {
        use nix::libc::{EINVAL, ENOMEM, ENOSYS, EPERM};
        for (errno, unsupported, says) in [
            (EPERM, true, "kernel.io_uring_disabled"),
            (ENOSYS, true, "no io_uring"),
            (EINVAL, true, "refused"),
            (ENOMEM, false, "ulimit -l"),
        ] {
            let e = ring_error(io::Error::from_raw_os_error(errno), &options());
            assert_eq!(e.downcast_ref::<Unsupported>().is_some(), unsupported, "{e:#}");
            assert!(format!("{e:#}").contains(says), "{e:#}");
        }
        let sqpoll = Options { sqpoll: Some(10), ..options() };
        let e = ring_error(io::Error::from_raw_os_error(EINVAL), &sqpoll);
        assert!(format!("{e:#}").contains("drop --sqpoll"), "{e:#}");
    }

    #[test]
    fn this_kernel_runs_the_default_configuration() {
        let (ring, mode) = new_ring(&options(), None).expect("a ring");
        probe(&ring, &options()).expect("every operation the default uses");
        assert_eq!(mode, "defer_taskrun", "Linux 6.1+ accepts DEFER_TASKRUN");
        assert!(kernel_version().is_some_and(|v| v >= (6, 1)));
    }
}
