//! The one interface every server design implements, and what the runtime
//! gives it.
//!
//! A backend is a [`Backend`] value built from the command line by its
//! [`Registration`]. Adding a backend means writing its module and adding
//! one line to [`crate::backends::ALL`]; nothing else in the crate knows
//! backends by name.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use protocol::{Host, Stats, Work};

use crate::config::Config;
use crate::counters::Counters;

/// A server design: how connections are accepted, how their bytes move, and
/// on which threads.
///
/// # Contract
///
/// `run` must:
/// 1. Listen with [`Context::listen`] (one listener) or
///    [`Context::listen_group`] (one `SO_REUSEPORT` listener per thread),
///    create everything its threads need that takes a descriptor or may
///    fail (epoll instances, rings, runtimes), then call [`Context::ready`]
///    once, when it accepts connections. Setting up after `ready` races the
///    first connections for descriptors: a loop that cannot start then takes
///    the server down.
///    Nothing else prints to stdout; messages to stderr start with
///    `ringside-server:`.
/// 2. Serve every accepted connection with its own [`protocol::Session`]
///    (from [`Context::session`]): offer it every received byte in order,
///    send every byte it writes in order, and follow its [`protocol::Next`].
///    After `Next::Write`, keep the input it did not consume with the
///    connection until the output is sent, then offer it again. Never read
///    more from a connection while output for it is unsent beyond one output
///    buffer (that is the backpressure a slow reader relies on). Accept only
///    from listeners made by the `Context`: they set `TCP_NODELAY`, which
///    accepted connections inherit, so answers never wait for Nagle's
///    algorithm.
/// 3. On `Next::Close`: send what was written, shut down the write side, then
///    read and discard until the peer closes or [`LINGER`] passes, so the
///    peer gets the last response rather than a reset.
/// 4. Perform a request's [`Work`] on the thread that serves the connection,
///    through the [`Context::host`] it was given (a blocking sleep blocks
///    whatever else that thread serves; that is what is being measured).
/// 5. Count: [`Counters::accepted`] per accepted connection,
///    [`Counters::closed`] when its socket is finally closed (after any
///    lingering), saying how ([`Closed`](crate::counters::Closed)): a
///    connection still draining is open, and its drained bytes count, [`Counters::waiting`] /
///    [`Counters::stopped_waiting`] around any queue a connection sits in
///    before a thread serves it, and per-thread [`crate::counters::Recorder`]
///    for requests and bytes. Count a request before its answer is sent
///    (whoever holds an answer must see it counted), bytes once the kernel
///    has taken them.
/// 6. Pin every thread it creates with [`Context::pin`].
/// 7. Return once [`Shutdown`] triggers (promptly: the process exits after
///    `run` returns, closing whatever is still open), or with an error if it
///    cannot go on.
pub trait Backend: Send {
    /// This instance's effective options, `key=value` separated by spaces,
    /// as reported in the counters (and so in every CSV row).
    fn options(&self) -> String;

    /// Serve until shutdown; see the trait's contract.
    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()>;
}

/// How a backend appears on the command line.
pub struct Registration {
    /// The `--backend` value.
    pub name: &'static str,
    /// One line for `--help`: what the design does.
    pub summary: &'static str,
    /// Adds the backend's own flags (`<Args as clap::Args>::augment_args`,
    /// or the identity when it has none).
    pub args: fn(clap::Command) -> clap::Command,
    /// Builds the backend from parsed flags.
    pub build: fn(&clap::ArgMatches, &Config) -> anyhow::Result<Box<dyn Backend>>,
}

/// How long a closing connection is drained (contract point 3).
pub const LINGER: Duration = Duration::from_secs(1);

/// Listen backlog requested; the kernel caps it at `net.core.somaxconn`.
pub(crate) const BACKLOG: i32 = 4096;

/// What the runtime gives a backend. Cheap to clone; give each thread one.
#[derive(Clone)]
pub struct Context {
    config: Arc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    ready: Arc<Once>,
}

impl Context {
    pub(crate) fn new(config: Arc<Config>, counters: Arc<Counters>, shutdown: Shutdown) -> Self {
        Context { config, counters, shutdown, ready: Arc::new(Once::new()) }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// A fresh protocol session for a newly accepted connection.
    pub fn session(&self) -> protocol::Session {
        protocol::Session::new(&self.config.protocol)
    }

    /// The protocol host for one serving thread.
    pub fn host(&self) -> ServerHost {
        ServerHost { counters: Arc::clone(&self.counters) }
    }

    /// Bind and listen on `--listen`.
    pub fn listen(&self) -> anyhow::Result<TcpListener> {
        let addr = self.config.listen;
        listen(addr, false).with_context(|| in_use(addr))
    }

    /// `n` listeners on `--listen` sharing the address with `SO_REUSEPORT`:
    /// the kernel spreads new connections among them, so each thread can
    /// accept on its own. The group must never share its port with another
    /// process, which `SO_REUSEPORT` would silently allow (same user):
    /// - port 0: the first listener is bound to port 0 itself; the kernel
    ///   never hands out a port another socket holds, even with
    ///   `SO_REUSEPORT`. (Picking a port with a throwaway socket and binding
    ///   the group to it afterwards would let a server started meanwhile get
    ///   the same port and join the group.)
    /// - an explicit port: it is first bound without the option, so a port
    ///   another process holds, even with `SO_REUSEPORT`, is an error.
    pub fn listen_group(&self, n: usize) -> anyhow::Result<Vec<TcpListener>> {
        let configured = self.config.listen;
        if configured.port() != 0 {
            drop(listen(configured, false).with_context(|| in_use(configured))?);
        }
        let first = listen(configured, true).with_context(|| in_use(configured))?;
        let addr = first.local_addr()?;
        let mut group = vec![first];
        for _ in 1..n {
            group.push(listen(addr, true).with_context(|| in_use(addr))?);
        }
        Ok(group)
    }

    /// Whether [`ready`](Self::ready) has been called.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.is_completed()
    }

    /// Announce that the server accepts connections: prints the one line
    /// `listening on <addr>` that scripts and tests wait for. Later calls do
    /// nothing.
    pub fn ready(&self, addr: SocketAddr) {
        self.ready.call_once(|| {
            // A closed stdout is not an error: the server keeps serving.
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{}{addr}", platform::server::LISTENING_ON);
            let _ = out.flush();
        });
    }

    /// Pin the calling thread to the `index`-th CPU of `--cores` (round
    /// robin); without `--cores`, leave it to the scheduler.
    pub fn pin(&self, index: usize) -> anyhow::Result<()> {
        let cores = &self.config.cores;
        if cores.is_empty() {
            return Ok(());
        }
        Ok(platform::cpus::pin(cores[index % cores.len()])?)
    }
}

fn in_use(addr: SocketAddr) -> String {
    format!("cannot listen on {addr}: is another server using it? (--listen 127.0.0.1:0 picks a free port)")
}

fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    // Accepted connections inherit it (Linux), so no backend pays a
    // setsockopt per connection, and direct descriptors get it too.
    socket.set_tcp_nodelay(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The [`protocol::Host`] of a serving thread: performs work on the calling
/// thread and reads the counters.
pub struct ServerHost {
    counters: Arc<Counters>,
}

impl Host for ServerHost {
    fn work(&mut self, work: Work) {
        match work {
            Work::Spin { ns } => {
                let until = Duration::from_nanos(u64::from(ns));
                let start = Instant::now();
                while start.elapsed() < until {
                    std::hint::spin_loop();
                }
            }
            Work::Sleep { us } => std::thread::sleep(Duration::from_micros(u64::from(us))),
        }
    }

    fn stats(&mut self) -> Stats {
        self.counters.snapshot()
    }
}

/// The server-wide stop signal: triggered by SIGINT/SIGTERM or by a backend
/// that cannot go on.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<ShutdownInner>,
}

struct ShutdownInner {
    triggered: AtomicBool,
    lock: Mutex<Option<anyhow::Error>>,
    cond: Condvar,
    /// Readable once triggered, for event loops to poll beside their sockets.
    wake_rx: UnixStream,
    wake_tx: UnixStream,
}

impl Shutdown {
    pub(crate) fn new() -> io::Result<Self> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        Ok(Shutdown {
            inner: Arc::new(ShutdownInner {
                triggered: AtomicBool::new(false),
                lock: Mutex::new(None),
                cond: Condvar::new(),
                wake_rx,
                wake_tx,
            }),
        })
    }

    /// Stop the server.
    pub fn trigger(&self) {
        let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.inner.triggered.swap(true, Ordering::SeqCst) {
            // One byte makes the wake socket readable for good (nobody reads
            // it); if it cannot be written the flag still stops everyone.
            let _ = (&self.inner.wake_tx).write(&[1]);
        }
        self.inner.cond.notify_all();
    }

    /// Stop the server because of `error`; the first error is what `run`
    /// reports.
    pub fn fail(&self, error: anyhow::Error) {
        {
            let mut slot = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(error);
        }
        self.trigger();
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Relaxed)
    }

    /// Block until triggered; return the error that triggered it, if any.
    /// Call it once (the backend's `run`): the error goes to the first caller.
    pub fn wait(&self) -> anyhow::Result<()> {
        let mut slot = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.inner.triggered.load(Ordering::SeqCst) {
            slot = self.inner.cond.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
        slot.take().map_or(Ok(()), Err)
    }

    /// A socket that becomes readable when the server stops.
    pub fn wake_socket(&self) -> &UnixStream {
        &self.inner.wake_rx
    }
}
