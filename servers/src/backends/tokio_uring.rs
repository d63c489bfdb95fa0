//! `tokio-uring`: one tokio-uring runtime, and so one io_uring, per thread;
//! completion-based I/O with owned buffers.
//!
//! `--threads` runtime threads (default: one per CPU of `--cores`, or 1
//! without `--cores`), each pinned with [`Context::pin`], each with its own
//! `SO_REUSEPORT` listener from [`Context::listen_group`]: the kernel spreads
//! connections among them and the threads share nothing but the counters. A
//! thread accepts with an io_uring accept and spawns a task per connection on
//! its own runtime; that task reads, hands the bytes to the session, and
//! writes everything the session produced before it reads again (the
//! backpressure of contract point 2).
//!
//! **The model.** I/O is submitted, not attempted: a read or write is an
//! entry on the submission queue, and the task sleeps until its completion
//! arrives. The submitter hands its buffer to the kernel with the operation
//! and owns it again only when the completion arrives, even if the
//! connection is closed or the waiting future dropped meanwhile
//! (tokio-uring enforces this: buffers are passed by value and a dropped
//! operation's buffer is kept by the driver until its completion). Underneath
//! is a tokio current-thread runtime: when no task is ready it submits the
//! queued entries with one `io_uring_enter` and sleeps in `epoll_wait` on the
//! ring's descriptor. There is no thread per connection and no context switch
//! per request; the syscalls per request depend on how many completions
//! arrive per wake-up.
//!
//! A socket read that finds no data is finished later by kernel task work
//! on the serving thread. By default the ring is set up with
//! `IORING_SETUP_COOP_TASKRUN`, so that work waits for the thread's next
//! system call instead of interrupting it with an IPI; on a 2-CPU VM with wrk
//! on the other CPU, that cut the server's CPU time per request by about a
//! third (`--uring-coop-taskrun false` to compare).
//!
//! **A blocking handler stalls the whole runtime thread.** rr `sleep` work
//! runs inline, through the [`Host`](protocol::Host), on the thread that runs
//! the session: for its duration every other connection of that thread waits,
//! completions pile up in the ring, and nothing is accepted on its listener.
//! `spin` work does the same for its (short) duration. That is what the rr
//! work is there to show.
//!
//! **Memory: an idle connection holds a read buffer.** A read is submitted
//! with a buffer the kernel owns until the read completes, and a connection
//! waiting for its next request has a read in flight, so every idle
//! connection holds one read buffer (`--uring-read-buf`, default 16 KiB),
//! unlike a readiness-based loop that reads into a shared buffer only once a
//! socket is readable. The buffer is allocated and never zeroed, so only the
//! pages the kernel has written to are resident. Output buffers do not have
//! this cost: they come from a per-thread pool for as long as a response is
//! being written and go back before the next read. The pool grows to the
//! most connections that were answering at once (every connection whose
//! request arrived in the same wake-up) and keeps them, so steady load
//! allocates nothing.
//!
//! Defaults: `--threads` as above, 256 submission queue entries
//! (`--uring-entries`, tokio-uring's default; the completion queue is twice
//! that), cooperative task running (Linux 5.19; `--uring-coop-taskrun`),
//! 16 KiB read buffers (`--uring-read-buf`) and 16 KiB output buffers. 16 KiB
//! is the blocking backends' size, so every design moves the same bytes per
//! call; it holds hundreds of pipelined HTTP requests or a good part of a
//! large rr frame per read, and it is what an idle connection reserves.
//!
//! After a lingering close (contract point 3) times out, its read is still in
//! flight and tokio-uring does not cancel a dropped operation; the read keeps
//! the socket open until it completes. Shutting the socket down for reading
//! completes it at once, so the socket closes when [`LINGER`] ends, as it
//! does in the other backends.

use std::cell::RefCell;
use std::net::{Shutdown, TcpListener as StdListener};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::mpsc;
use std::{io, thread};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use protocol::{CloseReason, Next, Session};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

use crate::backend::{Backend, Context, LINGER, Registration, ServerHost};
use crate::config::{Config, backend_args};
use crate::counters::{Closed, Recorder};

pub const REGISTRATION: Registration = Registration {
    name: "tokio-uring",
    summary: "one tokio-uring runtime (one io_uring) per thread, completion-based I/O",
    args: <UringArgs as clap::Args>::augment_args,
    build,
};

#[derive(Args, Debug)]
#[command(next_help_heading = "tokio-uring options")]
struct UringArgs {
    /// Submission queue entries of each thread's ring (a power of two; the
    /// completion queue gets twice as many). Operations beyond it are
    /// submitted early, in more `io_uring_enter` calls.
    #[arg(long, default_value_t = 256, value_name = "ENTRIES")]
    uring_entries: u32,

    /// Read buffer per connection, in bytes. Every connection, idle or not,
    /// holds one: a read in flight owns its buffer.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES")]
    uring_read_buf: usize,

    /// Set up each ring with IORING_SETUP_COOP_TASKRUN (Linux 5.19): a
    /// completion found on another CPU does not interrupt the serving thread
    /// with an IPI; the thread picks it up at its next system call, which an
    /// event loop makes soon anyway. `false` shows what the IPIs cost.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    uring_coop_taskrun: bool,
}

/// Bytes of output space per `Session::process` call, as in the blocking
/// backends: what one write sends at most, and so the bound on unsent output
/// while the connection is not read (contract point 2).
const OUT_BUF: usize = 16 * 1024;

/// Bounds that keep a typo from exhausting memory or threads.
const MAX_THREADS: usize = 1024;
/// The kernel's `IORING_MAX_ENTRIES`.
const MAX_ENTRIES: u32 = 32 * 1024;
const MAX_READ_BUF: usize = 16 << 20;

fn build(matches: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let args: UringArgs = backend_args(matches)?;
    if !args.uring_entries.is_power_of_two() || args.uring_entries > MAX_ENTRIES {
        bail!("--uring-entries must be a power of two between 1 and {MAX_ENTRIES}");
    }
    if args.uring_read_buf == 0 || args.uring_read_buf > MAX_READ_BUF {
        bail!("--uring-read-buf must be between 1 and {MAX_READ_BUF} bytes");
    }
    let threads = config.threads.unwrap_or(config.cores.len().max(1));
    if threads > MAX_THREADS {
        bail!("tokio-uring: --threads must be at most {MAX_THREADS}");
    }
    Ok(Box::new(TokioUring {
        threads,
        ring: Ring { entries: args.uring_entries, coop_taskrun: args.uring_coop_taskrun },
        read_buf: args.uring_read_buf,
    }))
}

struct TokioUring {
    threads: usize,
    ring: Ring,
    read_buf: usize,
}

/// How each thread's ring is set up.
#[derive(Clone, Copy, Debug)]
struct Ring {
    entries: u32,
    coop_taskrun: bool,
}

impl Ring {
    /// This thread's tokio-uring runtime, on a ring set up as asked.
    fn runtime(self) -> anyhow::Result<tokio_uring::Runtime> {
        let mut setup = tokio_uring::uring_builder();
        if self.coop_taskrun {
            setup.setup_coop_taskrun();
        }
        let mut builder = tokio_uring::builder();
        builder.entries(self.entries).uring_builder(&setup);
        tokio_uring::Runtime::new(&builder).map_err(|e| self.error(e))
    }

    /// Say why a ring or its runtime could not be created, and what to do.
    fn error(self, e: io::Error) -> anyhow::Error {
        let entries = self.entries;
        let hint = match e.raw_os_error() {
            Some(nix::libc::ENOSYS) => "this kernel has no io_uring (built without CONFIG_IO_URING), or a \
                seccomp filter (a container runtime's default profile) blocks io_uring_setup; allow it, or run \
                another backend"
                .to_string(),
            Some(nix::libc::EPERM) => "io_uring is disabled for this process: sysctl kernel.io_uring_disabled \
                is 2, or 1 and this user is not in kernel.io_uring_group, or a seccomp/container policy forbids \
                it; set kernel.io_uring_disabled=0 (or join the group), or run another backend"
                .to_string(),
            Some(nix::libc::ENOMEM) => format!(
                "not enough memory for the ring (before Linux 5.12 rings count against RLIMIT_MEMLOCK: raise \
                 `ulimit -l`); or pass a smaller --uring-entries than {entries}"
            ),
            Some(nix::libc::EINVAL) if self.coop_taskrun => {
                "IORING_SETUP_COOP_TASKRUN needs Linux 5.19 or later: pass --uring-coop-taskrun false".to_string()
            }
            Some(nix::libc::EMFILE | nix::libc::ENFILE) => "out of file descriptors: raise `ulimit -n`".to_string(),
            _ => format!(
                "check that io_uring is enabled (sysctl kernel.io_uring_disabled) or pass a smaller \
                 --uring-entries than {entries}"
            ),
        };
        anyhow!("cannot create an io_uring with {entries} entries ({e}): {hint}")
    }
}

impl Backend for TokioUring {
    fn options(&self) -> String {
        format!(
            "threads={} entries={} coop_taskrun={} read_buf={} out_buf={OUT_BUF}",
            self.threads, self.ring.entries, self.ring.coop_taskrun as u8, self.read_buf
        )
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        let listeners = ctx.listen_group(self.threads)?;
        let addr = listeners[0].local_addr()?;
        // Each thread reports whether its ring and runtime came up; only then
        // does the server announce itself, so a kernel that refuses io_uring
        // is an error message, not a server that accepts and never answers.
        let (started_tx, started) = mpsc::channel::<anyhow::Result<()>>();
        for (index, listener) in listeners.into_iter().enumerate() {
            let (ctx, started_tx) = (ctx.clone(), started_tx.clone());
            let (ring, read_buf) = (self.ring, self.read_buf);
            // Detached: the process exits once `run` returns, and with it the
            // threads; they are never joined.
            thread::Builder::new()
                .name(format!("uring-{index}"))
                .spawn(move || {
                    let body = AssertUnwindSafe(|| {
                        runtime_thread(index, listener, ring, read_buf, &ctx, &started_tx)
                    });
                    if panic::catch_unwind(body).is_err() {
                        // Its listener would take connections nobody serves:
                        // stop the server (during startup `run` reports it).
                        let e = || anyhow!("tokio-uring runtime thread {index} panicked");
                        let _ = started_tx.send(Err(e()));
                        ctx.shutdown().fail(e());
                    }
                })
                .with_context(|| format!("cannot start tokio-uring thread {index} of {}", self.threads))?;
        }
        drop(started_tx);
        for _ in 0..self.threads {
            match started.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => bail!("a tokio-uring runtime thread ended before it started serving"),
            }
        }
        ctx.ready(addr);
        ctx.shutdown().wait()
    }
}

/// One runtime thread: pin, build the ring and runtime, report, then accept
/// and serve until the process exits.
fn runtime_thread(
    index: usize,
    listener: StdListener,
    ring: Ring,
    read_buf: usize,
    ctx: &Context,
    started: &mpsc::Sender<anyhow::Result<()>>,
) {
    let runtime = ctx.pin(index).and_then(|()| ring.runtime());
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(e.context(format!("tokio-uring thread {index}"))));
            return;
        }
    };
    let worker = Rc::new(Worker {
        ctx: ctx.clone(),
        recorder: ctx.counters().recorder(),
        pool: OutPool::default(),
        read_buf,
    });
    let result = runtime.block_on(async {
        let listener = TcpListener::from_std(listener);
        let _ = started.send(Ok(()));
        accept_loop(&listener, &worker).await
    });
    if let Err(e) = result {
        ctx.shutdown().fail(e.context(format!("tokio-uring thread {index}")));
    }
}

/// What every connection task of one runtime thread shares.
struct Worker {
    ctx: Context,
    /// The thread's counter shard. Tasks of one runtime never run at the same
    /// time, so they share it through the `Rc`: one writer, as it requires.
    /// One per connection would lock the shard list twice per connection
    /// and leave a shard per concurrently open connection for every
    /// snapshot to sum.
    recorder: Recorder,
    pool: OutPool,
    read_buf: usize,
}

/// Output buffers of one runtime thread, reused across requests and
/// connections. A connection holds one only while it answers: its writes
/// may wait for the peer, so the thread cannot share a single buffer.
#[derive(Default)]
struct OutPool {
    free: RefCell<Vec<Vec<u8>>>,
}

impl OutPool {
    fn take(&self) -> Vec<u8> {
        self.free.borrow_mut().pop().unwrap_or_else(|| vec![0; OUT_BUF])
    }

    fn put(&self, buf: Vec<u8>) {
        self.free.borrow_mut().push(buf);
    }
}

async fn accept_loop(listener: &TcpListener, worker: &Rc<Worker>) -> anyhow::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Counted here, not in the task, so a connection is counted
                // as soon as it exists.
                worker.ctx.counters().accepted();
                tokio_uring::spawn(serve(stream, Rc::clone(worker)));
            }
            // Out of descriptors or memory: only the accepting task pauses.
            Err(e) => {
                if let Some(pause) = super::accept_error(e)? {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// How a connection's serving loop ended, short of an I/O error.
enum End {
    /// The peer closed its side; a request may have been cut short.
    Eof { mid_request: bool },
    /// The session asked to close.
    Close(CloseReason),
}

/// Serve one connection until it closes, then count its closing.
async fn serve(stream: TcpStream, worker: Rc<Worker>) {
    // Request/response traffic wants each response on the wire at once.
    let _ = stream.set_nodelay(true);
    let mut session = worker.ctx.session();
    let mut host = worker.ctx.host();
    // Capacity, not length: the kernel writes into it, so it is never zeroed
    // and only the pages a read has touched become resident.
    let mut input = Vec::with_capacity(worker.read_buf);
    let how = match pump(&stream, &worker, &mut session, &mut host, &mut input).await {
        Ok(End::Eof { mid_request: false }) => Closed::Clean,
        Ok(End::Eof { mid_request: true }) => Closed::Error,
        Ok(End::Close(reason)) => {
            linger(&stream, input, &worker.recorder).await;
            if reason == CloseReason::Requested { Closed::Clean } else { Closed::Error }
        }
        Err(_) => Closed::Reset,
    };
    worker.ctx.counters().closed(how);
}

/// Read, process, write everything, repeat. `input` is moved into each read
/// and back; it is in `input` again whenever this returns.
async fn pump(
    stream: &TcpStream,
    worker: &Worker,
    session: &mut Session,
    host: &mut ServerHost,
    input: &mut Vec<u8>,
) -> io::Result<End> {
    loop {
        let (res, buf) = stream.read(std::mem::take(input)).await;
        *input = buf;
        let n = match res {
            Ok(0) => return Ok(End::Eof { mid_request: session.mid_request() }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        worker.recorder.record(0, n, 0);
        let (res, out) = answer(stream, worker, session, host, &input[..n], worker.pool.take()).await;
        worker.pool.put(out);
        if let Some(end) = res? {
            return Ok(end);
        }
    }
}

/// Feed `input` to the session and write all it produces, in `out`-sized
/// pieces; return `Some` if the session asked to close. Unconsumed input
/// after `Next::Write` stays in `input` and is offered again once the output
/// is written. `out` is handed back in every case.
async fn answer(
    stream: &TcpStream,
    worker: &Worker,
    session: &mut Session,
    host: &mut ServerHost,
    mut input: &[u8],
    mut out: Vec<u8>,
) -> (io::Result<Option<End>>, Vec<u8>) {
    loop {
        let p = session.process(input, &mut out, host);
        input = &input[p.consumed..];
        // Requests before their answers go out, so whoever holds an answer
        // sees it counted; bytes once the kernel has them.
        worker.recorder.record(p.requests, 0, 0);
        if p.written > 0 {
            let (res, slice) = stream.write_all(out.slice(..p.written)).await;
            out = slice.into_inner();
            if let Err(e) = res {
                return (Err(e), out);
            }
            worker.recorder.record(0, 0, p.written);
        }
        match p.next {
            Next::Read => return (Ok(None), out),
            Next::Write => {}
            Next::Close => {
                let reason = session.close_reason().unwrap_or(CloseReason::Requested);
                return (Ok(Some(End::Close(reason))), out);
            }
        }
    }
}

/// Shut down the write side, then discard input until the peer closes or
/// [`LINGER`] passes: closing with unread input would send a reset that can
/// destroy the last response before the peer reads it.
async fn linger(stream: &TcpStream, mut buf: Vec<u8>, recorder: &Recorder) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let drain = async move {
        loop {
            let (res, b) = stream.read(buf).await;
            buf = b;
            match res {
                Ok(0) | Err(_) => return,
                Ok(n) => recorder.record(0, n, 0),
            }
        }
    };
    if tokio::time::timeout(LINGER, drain).await.is_err() {
        // The dropped read is still in flight, holding its buffer and the
        // socket until it completes (tokio-uring does not cancel it). Shutting
        // down the read side completes it now, so the socket closes now
        // rather than whenever the peer next sends.
        let _ = stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::counters::{Counters, RunInfo};

    fn parse(args: &[&str]) -> anyhow::Result<Box<dyn Backend>> {
        let argv = ["ringside-server", "--backend", "tokio-uring"].into_iter().chain(args.iter().copied());
        let matches = crate::config::command(crate::backends::ALL).try_get_matches_from(argv)?;
        Ok(crate::config::build(crate::backends::ALL, &matches)?.1)
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            parse(&[]).unwrap().options(),
            "threads=1 entries=256 coop_taskrun=1 read_buf=16384 out_buf=16384"
        );
        let args = ["--cores", "0", "-t", "3", "--uring-entries", "64", "--uring-read-buf", "4096"];
        assert_eq!(
            parse(&args).unwrap().options(),
            "threads=3 entries=64 coop_taskrun=1 read_buf=4096 out_buf=16384"
        );
        assert!(parse(&["--uring-coop-taskrun", "false"]).unwrap().options().contains(" coop_taskrun=0 "));
        assert!(parse(&["--cores", "0"]).unwrap().options().starts_with("threads=1 "));
        for (args, error) in [
            (&["--uring-entries", "100"][..], "power of two"),
            (&["--uring-entries", "65536"], "power of two"),
            (&["--uring-read-buf", "0"], "--uring-read-buf must be"),
            (&["-t", "5000"], "at most 1024"),
        ] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} was accepted"));
            assert!(format!("{e:#}").contains(error), "{args:?}: {e:#}");
        }
    }

    #[test]
    fn ring_errors_say_what_to_do() {
        let ring = Ring { entries: 256, coop_taskrun: true };
        let msg = |errno| format!("{:#}", ring.error(io::Error::from_raw_os_error(errno)));
        assert!(msg(nix::libc::EPERM).contains("kernel.io_uring_disabled"));
        assert!(msg(nix::libc::ENOSYS).contains("seccomp"));
        assert!(msg(nix::libc::ENOMEM).contains("ulimit -l"));
        assert!(msg(nix::libc::ENOMEM).contains("--uring-entries"));
        assert!(msg(nix::libc::EINVAL).contains("--uring-coop-taskrun false"));
    }

    /// The lingering close needs tokio's timer inside a tokio-uring runtime
    /// (the `time` feature, which tokio-uring does not enable itself), and a
    /// timed-out linger must release the socket although its read is still
    /// in flight.
    #[test]
    fn linger_times_out_and_releases_the_socket() {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let fd = accepted.as_raw_fd();
        let socket_link = || std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
        let ours = socket_link().unwrap();
        let counters = Counters::new(RunInfo {
            backend: "test".into(),
            options: String::new(),
            protocol: protocol::Protocol::Echo,
        });
        let recorder = counters.recorder();
        tokio_uring::start(async {
            let stream = TcpStream::from_std(accepted);
            // The peer sends a little, then stays silent without closing.
            peer.write_all(b"abc").unwrap();
            let started = Instant::now();
            linger(&stream, Vec::with_capacity(64), &recorder).await;
            let took = started.elapsed();
            assert!(took >= LINGER && took < LINGER * 5, "lingered {took:?}");
            drop(stream);
            // Checked while the runtime still runs: dropping the runtime
            // would cancel the read and close the socket anyway.
            let deadline = Instant::now() + Duration::from_secs(2);
            while socket_link().as_ref() == Some(&ours) {
                assert!(Instant::now() < deadline, "the socket stayed open after the linger");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(counters.snapshot().bytes_in, 3, "drained bytes are counted");
        let mut rest = Vec::new();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the write side was shut down");
    }
}
