//! `tokio`: one tokio task per connection on tokio's epoll reactor, in one of
//! two runtime layouts chosen with `--runtime`.
//!
//! **The model.** Each connection is a task that awaits readiness
//! (`readable`/`writable`; the reactor is mio's edge-triggered epoll), then
//! reads with a non-blocking `read` into its thread's 16 KiB input buffer,
//! feeds the session, and writes the answers straight from its thread's
//! 16 KiB output buffer with a non-blocking `write`. Only when the socket does
//! not take all of the output does the connection copy the unsent output and
//! the input the session has not consumed into storage of its own, and await
//! writability until that output is sent, reading nothing meanwhile (the
//! backpressure of contract point 2); the storage is freed once drained. An
//! idle connection therefore costs its task (session, socket registration)
//! and no buffer: about 1.2 KiB of memory in all.
//!
//! **The two runtimes.**
//! - `current-thread` (default): `--threads` OS threads, each pinned with
//!   [`Context::pin`], each running its own current-thread runtime with a
//!   `LocalSet` and accepting on its own `SO_REUSEPORT` listener from
//!   [`Context::listen_group`]. The kernel spreads new connections over the
//!   threads and a connection stays on its thread for life: shared nothing,
//!   no work stealing, no wake-ups across threads.
//! - `multi-thread`: one work-stealing runtime with `--threads` workers,
//!   pinned round robin as they start, one listener from [`Context::listen`]
//!   and one accept task spawning a task per connection onto any worker;
//!   idle workers steal queued tasks from busy ones.
//!
//! **A blocking handler** (rr `sleep` work) runs inline, through the
//! connection's [`Host`](protocol::Host), on the thread polling the task
//! (contract point 4), as a blocking call in an async handler would. On a
//! current-thread runtime it stalls every connection of that thread, and its
//! accept loop, for the whole sleep: with `--threads 1`, the whole server. On
//! the multi-thread runtime it stalls one worker, and the others carry on
//! only if they are awake: an idle worker sleeps on a condition variable, not
//! in epoll, and nobody polls the reactor while the one that last did runs
//! the sleep. So at low traffic every connection can wait for the sleep (with
//! `--threads 2`, a lone round trip beside a 300 ms sleep waited ~300 ms);
//! with a third connection busy, the other worker usually kept serving (three
//! runs in four; in the fourth the round trip still waited ~300 ms).
//! (Tokio's remedy, `spawn_blocking`, is deliberately not used: where the
//! work runs is what is measured.) After an accept error for lack of
//! descriptors or memory, only the accepting task pauses (`accept_error`'s
//! pause is awaited).
//!
//! **Defaults.** `--runtime current-thread`; `--threads` is the number of
//! CPUs in `--cores`, or 1 without `--cores`.
//!
//! **What it must never do:** block its threads in anything but the host's
//! work (every socket is non-blocking and every wait is an `.await`); hold the
//! thread's buffers across an `.await` (another task of the thread would find
//! them borrowed); read from a connection while output for it is unsent;
//! keep a buffer with an idle connection. No `unsafe`.

use std::cell::RefCell;
use std::io::{self, Read as _};
use std::net::Shutdown as Both;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use ::tokio::io::Interest;
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::runtime::Builder;
use ::tokio::task::LocalSet;
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use protocol::{CloseReason, Next, Session};
use socket2::SockRef;

use crate::backend::{Backend, Context, LINGER, Registration, ServerHost};
use crate::config::{Config, backend_args};
use crate::counters::{Closed, Counters, Recorder};

pub const REGISTRATION: Registration = Registration {
    name: "tokio",
    summary: "a tokio task per connection, on a current-thread runtime per pinned thread or one \
              multi-thread runtime (--runtime)",
    args: <TokioArgs as clap::Args>::augment_args,
    build,
};

#[derive(Args, Debug)]
#[command(next_help_heading = "tokio options")]
struct TokioArgs {
    /// Which tokio runtime serves the connections (`--threads` sets how many
    /// threads; default: one per CPU of `--cores`, or 1).
    #[arg(long, value_enum, default_value_t = Runtime::CurrentThread)]
    runtime: Runtime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// One current-thread runtime per thread, each with its own
    /// SO_REUSEPORT listener; a connection never leaves its thread.
    CurrentThread,
    /// One work-stealing runtime with --threads workers and one listener.
    MultiThread,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::CurrentThread => "current-thread",
            Runtime::MultiThread => "multi-thread",
        }
    }
}

/// A bound that keeps a typo from starting thousands of runtimes.
const MAX_THREADS: usize = 1024;

fn build(matches: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let args: TokioArgs = backend_args(matches)?;
    let threads = config.threads.unwrap_or(config.cores.len().max(1));
    if threads > MAX_THREADS {
        bail!("tokio: --threads must be at most {MAX_THREADS}");
    }
    Ok(Box::new(Tokio { runtime: args.runtime, threads }))
}

struct Tokio {
    runtime: Runtime,
    threads: usize,
}

impl Backend for Tokio {
    fn options(&self) -> String {
        format!("runtime={} threads={}", self.runtime.name(), self.threads)
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        match self.runtime {
            Runtime::CurrentThread => run_current_thread(self.threads, ctx),
            Runtime::MultiThread => run_multi_thread(self.threads, ctx),
        }
    }
}

/// `threads` detached threads, each with its own listener and runtime; this
/// thread only waits for the shutdown (the process exits after `run`).
fn run_current_thread(threads: usize, ctx: Context) -> anyhow::Result<()> {
    let listeners = ctx.listen_group(threads)?;
    let addr = listeners[0].local_addr()?;
    for (index, listener) in listeners.into_iter().enumerate() {
        listener.set_nonblocking(true)?;
        // Built here, before the server is announced: a runtime needs
        // descriptors of its own, and once connections arrive they may be
        // gone (out of descriptors must not take a thread down).
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .with_context(|| format!("cannot build tokio runtime {index} of {threads}"))?;
        let thread_ctx = ctx.clone();
        thread::Builder::new()
            .name(format!("tokio-{index}"))
            .spawn(move || {
                if let Err(e) = current_thread(index, runtime, listener, &thread_ctx) {
                    thread_ctx.shutdown().fail(e);
                }
            })
            .with_context(|| format!("cannot start tokio thread {index} of {threads}"))?;
    }
    ctx.ready(addr);
    ctx.shutdown().wait()
}

fn current_thread(
    index: usize,
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    ctx: &Context,
) -> anyhow::Result<()> {
    ctx.pin(index)?;
    LocalSet::new().block_on(&runtime, accept_loop(listener, ctx, Spawn::Local))
}

/// One runtime with `threads` workers; this thread only waits for the
/// shutdown, then leaves the runtime to die with the process.
fn run_multi_thread(threads: usize, ctx: Context) -> anyhow::Result<()> {
    let listener = ctx.listen()?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    // Every thread the runtime starts is pinned as it starts. Only workers
    // are started: nothing here uses the blocking pool, so the counter
    // numbers the workers 0..threads.
    let started = AtomicUsize::new(0);
    let pinning = ctx.clone();
    let runtime = Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("tokio-worker")
        .enable_all()
        .on_thread_start(move || {
            if let Err(e) = pinning.pin(started.fetch_add(1, Ordering::Relaxed)) {
                pinning.shutdown().fail(e);
            }
        })
        .build()
        .context("cannot build the tokio runtime")?;
    let acceptor = ctx.clone();
    runtime.spawn(async move {
        if let Err(e) = accept_loop(listener, &acceptor, Spawn::Shared).await {
            acceptor.shutdown().fail(e);
        }
    });
    ctx.ready(addr);
    let result = ctx.shutdown().wait();
    // Dropping the runtime would wait for its workers to drop every task;
    // the process is about to exit anyway.
    runtime.shutdown_background();
    result
}

/// Where a connection's task goes.
#[derive(Clone, Copy)]
enum Spawn {
    /// The current thread's `LocalSet`.
    Local,
    /// The multi-thread runtime, any worker.
    Shared,
}

/// Accept until the listener breaks, spawning a task per connection.
async fn accept_loop(listener: std::net::TcpListener, ctx: &Context, spawn: Spawn) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(listener).context("cannot register the listener with tokio")?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if let Some(pause) = super::accept_error(e)? {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        ctx.counters().accepted();
        let task = serve(stream, ctx.session(), ctx.host(), Arc::clone(ctx.counters()));
        match spawn {
            Spawn::Local => drop(::tokio::task::spawn_local(task)),
            Spawn::Shared => drop(::tokio::spawn(task)),
        }
    }
}

/// Bytes read per `read` call and written per `process` call.
const BUF_SIZE: usize = 16 * 1024;

/// What a thread that polls connection tasks owns: its I/O buffers and its
/// share of the counters. Borrowed only between two `.await`s.
struct Local {
    input: Box<[u8]>,
    output: Box<[u8]>,
    /// Per thread rather than per connection: no shard, no lock per
    /// connection, and on the multi-thread runtime a task that moves to
    /// another worker records on that worker's shard (one writer each).
    recorder: Recorder,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Run `f` with the calling thread's buffers and recorder, made on first use.
/// `f` must not (and, being a closure, cannot) await.
fn with_local<R>(counters: &Arc<Counters>, f: impl FnOnce(&mut Local) -> R) -> R {
    LOCAL.with(|cell| {
        let mut slot = cell.borrow_mut();
        // One server per process; the check only keeps a thread that served
        // another `Counters` (a test harness) from counting into it.
        if slot.as_ref().is_some_and(|l| !Arc::ptr_eq(l.recorder.counters(), counters)) {
            *slot = None;
        }
        let local = slot.get_or_insert_with(|| Local {
            input: vec![0; BUF_SIZE].into(),
            output: vec![0; BUF_SIZE].into(),
            recorder: counters.recorder(),
        });
        f(local)
    })
}

/// Serve one connection until it closes, then count its closing.
///
/// Not an `async fn`: that would copy its arguments (the session alone is
/// about 200 bytes) into the task a second time; an `async move` block uses
/// what it captured in place. Every idle connection pays for its task's size.
fn serve(
    stream: TcpStream,
    mut session: Session,
    mut host: ServerHost,
    counters: Arc<Counters>,
) -> impl Future<Output = ()> + Send + 'static {
    // Request/response traffic wants each response on the wire at once.
    let _ = stream.set_nodelay(true);
    async move {
        let how = match pump(&stream, &mut session, &mut host, &counters).await {
            Ok(End::Eof { mid_request: false }) => Closed::Clean,
            Ok(End::Eof { mid_request: true }) => Closed::Error,
            Ok(End::Close(reason)) => {
                // Boxed: its timer would otherwise enlarge every task for
                // its whole life; only a closing connection needs it.
                Box::pin(linger(&stream, &counters)).await;
                if reason == CloseReason::Requested { Closed::Clean } else { Closed::Error }
            }
            Err(_) => Closed::Reset,
        };
        counters.closed(how);
    }
}

enum End {
    /// The peer closed its side; a request may have been cut short.
    Eof { mid_request: bool },
    /// The session asked to close.
    Close(CloseReason),
}

/// Output the socket would not take, and the input the session has not
/// consumed yet, kept with the connection until that output is sent. Exists
/// only while output is unsent.
struct Kept {
    out: Vec<u8>,
    /// How much of `out` has been sent.
    out_sent: usize,
    input: Vec<u8>,
    /// How much of `input` the session has consumed.
    in_used: usize,
    /// What the session said when the output backed up.
    then: Next,
}

/// How a step of a connection ended.
enum Step {
    /// The peer closed its side.
    Eof,
    /// Everything was consumed and sent (or nothing was there): read more.
    Read,
    /// Everything was sent and the session wants to close.
    Close,
    /// The socket took only the output buffer's `..sent` of `..written`;
    /// `consumed` bytes of input were consumed; the session said `then`.
    Backed { consumed: usize, sent: usize, written: usize, then: Next },
}

async fn pump(
    stream: &TcpStream,
    session: &mut Session,
    host: &mut ServerHost,
    counters: &Arc<Counters>,
) -> io::Result<End> {
    // Present only while output is unsent; freed as soon as it is.
    let mut kept: Option<Box<Kept>> = None;
    loop {
        let step = if let Some(mut k) = kept.take() {
            // Backpressure: nothing more is read while output is unsent.
            stream.writable().await?;
            if !send_kept(stream, &mut k, counters)? {
                kept = Some(k);
                continue;
            }
            match k.then {
                Next::Read => Step::Read,
                Next::Close => Step::Close,
                // Offer the session the input it left, now that the output it
                // had to send first is out.
                Next::Write => with_local(counters, |l| {
                    let step =
                        drive(stream, session, host, &l.recorder, &k.input[k.in_used..], &mut l.output)?;
                    if let Step::Backed { consumed, sent, written, then } = step {
                        k.out.clear();
                        k.out.extend_from_slice(&l.output[sent..written]);
                        k.out_sent = 0;
                        k.in_used += consumed;
                        k.then = then;
                        kept = Some(k);
                    }
                    Ok::<_, io::Error>(step)
                })?,
            }
        } else {
            stream.readable().await?;
            with_local(counters, |l| {
                let n = match read(stream, &mut l.input) {
                    Ok(0) => return Ok(Step::Eof),
                    Ok(n) => n,
                    Err(e) if retry(&e) => return Ok(Step::Read),
                    Err(e) => return Err(e),
                };
                l.recorder.record(0, n, 0);
                let step = drive(stream, session, host, &l.recorder, &l.input[..n], &mut l.output)?;
                if let Step::Backed { consumed, sent, written, then } = step {
                    // After `Close` the session discards input; after `Read`
                    // it consumed it all.
                    let input = if then == Next::Write { l.input[consumed..n].to_vec() } else { Vec::new() };
                    let out = l.output[sent..written].to_vec();
                    kept = Some(Box::new(Kept { out, out_sent: 0, input, in_used: 0, then }));
                }
                Ok(step)
            })?
        };
        match step {
            Step::Eof => return Ok(End::Eof { mid_request: session.mid_request() }),
            Step::Close => {
                return Ok(End::Close(session.close_reason().unwrap_or(CloseReason::Requested)));
            }
            Step::Read | Step::Backed { .. } => {}
        }
    }
}

/// Feed `input` to the session and send what it writes straight from `out`,
/// until it wants more input or to close, or until the socket stops taking
/// output ([`Step::Backed`]: the caller keeps the rest). Runs the requests'
/// work inline.
fn drive(
    stream: &TcpStream,
    session: &mut Session,
    host: &mut ServerHost,
    recorder: &Recorder,
    input: &[u8],
    out: &mut [u8],
) -> io::Result<Step> {
    let mut consumed = 0;
    loop {
        let p = session.process(&input[consumed..], out, host);
        consumed += p.consumed;
        // Requests before their answers go out, so whoever holds an answer
        // sees it counted; bytes once the kernel has them.
        recorder.record(p.requests, 0, 0);
        let mut sent = 0;
        while sent < p.written {
            match stream.try_write(&out[sent..p.written]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    recorder.record(0, 0, n);
                    sent += n;
                    if sent < p.written {
                        // A short write means the send buffer is full: a
                        // second try would only fail.
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if sent < p.written {
            return Ok(Step::Backed { consumed, sent, written: p.written, then: p.next });
        }
        match p.next {
            Next::Read => return Ok(Step::Read),
            Next::Write => {}
            Next::Close => return Ok(Step::Close),
        }
    }
}

/// Send as much of the kept output as the socket takes; `true` once all of
/// it is sent.
fn send_kept(stream: &TcpStream, k: &mut Kept, counters: &Arc<Counters>) -> io::Result<bool> {
    while k.out_sent < k.out.len() {
        match stream.try_write(&k.out[k.out_sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                k.out_sent += n;
                with_local(counters, |l| l.recorder.record(0, 0, n));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One non-blocking read. A read that fills less than `buf` has drained the
/// socket (TCP returns all it has, up to `buf`), so it also clears the
/// socket's read readiness, as tokio's own `AsyncRead` for `TcpStream` does:
/// the next `readable()` then waits for epoll instead of a read that fails
/// with `EAGAIN`. It is safe with edge-triggered epoll because data arriving
/// after this read raises a new event, and tokio clears readiness only if no
/// event arrived since it was observed (its tick).
fn read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut drained = None;
    let len = buf.len();
    let result = stream.try_io(Interest::READABLE, || {
        // The read goes around tokio's `TcpStream` methods, which would
        // manage readiness themselves (see `TcpStream::try_io`).
        let n = (&*SockRef::from(stream)).read(buf)?;
        if 0 < n && n < len {
            drained = Some(n);
            // Tells `try_io` to clear readiness; the bytes are in `drained`.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match drained {
        Some(n) => Ok(n),
        None => result,
    }
}

/// Errors after which a non-blocking operation is simply tried again (after
/// the readiness it needs).
fn retry(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Shut down the write side, then discard input until the peer closes or
/// [`LINGER`] passes: closing with unread input would send a reset that can
/// destroy the last response before the peer reads it.
async fn linger(stream: &TcpStream, counters: &Arc<Counters>) {
    if SockRef::from(stream).shutdown(Both::Write).is_err() {
        return;
    }
    let drain = async {
        loop {
            stream.readable().await?;
            let read = with_local(counters, |l| {
                let read = read(stream, &mut l.input);
                if let Ok(n) = read {
                    l.recorder.record(0, n, 0);
                }
                read
            });
            match read {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if retry(&e) => {}
                Err(e) => return Err::<(), io::Error>(e),
            }
        }
    };
    // Whether it ended, failed or timed out, the socket is closed next.
    let _ = ::tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use crate::backend::Backend;
    use crate::config::{build, command};

    fn parse(args: &[&str]) -> anyhow::Result<Box<dyn Backend>> {
        let argv = std::iter::once("ringside-server").chain(args.iter().copied());
        let matches = command(crate::backends::ALL).try_get_matches_from(argv)?;
        Ok(build(crate::backends::ALL, &matches)?.1)
    }

    #[test]
    fn options_and_defaults() {
        for (args, options) in [
            (&["-b", "tokio"][..], "runtime=current-thread threads=1"),
            (&["-b", "tokio", "--cores", "0-1"], "runtime=current-thread threads=2"),
            (&["-b", "tokio", "--runtime", "multi-thread"], "runtime=multi-thread threads=1"),
            (
                &["-b", "tokio", "--runtime", "multi-thread", "-t", "3", "-c", "0"],
                "runtime=multi-thread threads=3",
            ),
        ] {
            assert_eq!(parse(args).unwrap().options(), options, "{args:?}");
        }
    }

    #[test]
    fn refused_command_lines() {
        for (args, error) in [
            (&["-b", "tokio", "--queue", "3"][..], "--queue is a flag of --backend thread-pool"),
            (&["-b", "thread-pool", "--runtime", "multi-thread"], "--runtime is a flag of --backend tokio"),
            (&["-b", "tokio", "--runtime", "green"], "invalid value 'green'"),
            (&["-b", "tokio", "-t", "5000"], "--threads must be at most 1024"),
        ] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} was accepted"));
            assert!(format!("{e:#}").contains(error), "{args:?}: {e:#}");
        }
    }
}
