//! `epoll`: one edge-triggered epoll event loop per thread, no runtime.
//!
//! **Threads and listeners.** `--threads` loops (default: one per CPU in
//! `--cores`, or one), each pinned to its CPU, each with its own epoll
//! instance and its own `SO_REUSEPORT` listener on the shared port. The
//! kernel spreads new connections over the listeners by a hash of the
//! connection's addresses, and a connection stays on the loop that accepted
//! it: shared-nothing, no lock, no cross-CPU wake-up on the request path.
//! (One listener with `EPOLLEXCLUSIVE` would balance better when loops are
//! unevenly busy, but it wakes a loop on another CPU for every accept and
//! makes all loops share one accept queue; for a comparison of I/O models,
//! shared-nothing is the cleaner baseline.)
//!
//! **Triggering.** Connections are registered once, edge-triggered, for
//! `EPOLLIN | EPOLLOUT | EPOLLRDHUP`, so serving a request costs no
//! `epoll_ctl`: read, process, write, and `epoll_wait` once per batch of
//! ready connections. The listener and the shutdown socket are
//! level-triggered.
//!
//! **Reads.** A read shorter than the buffer means the socket was drained
//! at that moment; more data arriving later raises a new edge, so the loop
//! skips the `read` that would only return `EAGAIN`. That shortcut is not
//! taken when the event also said the peer closed its side (`EPOLLRDHUP`,
//! `EPOLLHUP`), since no later edge would report the end of the stream. A
//! connection that keeps the buffer full gets at most [`READ_BUDGET`] reads
//! per turn; then it goes to the back of an "again" queue and the loop serves
//! the others first, so one busy connection cannot starve them.
//!
//! **Writes.** Answers are written as soon as the session produces them. If
//! the socket cannot take them all, the rest — and the input the session
//! has not consumed yet — is kept with the connection (the only per-
//! connection buffer, allocated only then and freed once drained), the loop
//! stops reading that connection, and resumes on the `EPOLLOUT` edge. A slow
//! reader therefore never loses or reorders bytes, and never makes the server
//! buffer without bound.
//!
//! **Blocking work.** An rr `sleep` runs on the loop's thread and stalls
//! every connection of that loop for its duration: this is the cost the
//! event-loop model pays for a blocking handler.
//!
//! **Closing.** After an error or a requested close the loop flushes what is
//! left, shuts down the write side and drains input for [`LINGER`] before
//! closing; lingering connections wait in a FIFO of deadlines, which sets the
//! `epoll_wait` timeout.
//!
//! All system calls go through rustix's safe wrappers: this module has no
//! `unsafe`.

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use protocol::{CloseReason, Next, Session};
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use crate::backend::{Backend, Context, LINGER, Registration, ServerHost};
use crate::config::{Config, no_args};
use crate::counters::{Closed, Recorder};

pub const REGISTRATION: Registration = Registration {
    name: "epoll",
    summary: "one edge-triggered epoll loop per thread, each with its own SO_REUSEPORT listener",
    args: no_args,
    build,
};

/// Bytes per read; also the size of the output buffer each `process` call
/// fills.
const BUF_SIZE: usize = 16 * 1024;
/// Reads from one connection per turn before the others are served.
const READ_BUDGET: usize = 4;
/// Events fetched per `epoll_wait`.
const EVENTS: usize = 256;
/// Connections accepted per listener wake-up before the loop serves others.
const ACCEPT_BUDGET: usize = 64;
/// Most loops a typo can ask for.
const MAX_THREADS: usize = 1024;

const LISTENER: u64 = u64::MAX;
const WAKE: u64 = u64::MAX - 1;

fn build(_: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let threads = config.threads.unwrap_or(config.cores.len().max(1));
    if threads > MAX_THREADS {
        bail!("epoll: --threads must be at most {MAX_THREADS}");
    }
    Ok(Box::new(Epoll { threads }))
}

struct Epoll {
    threads: usize,
}

impl Backend for Epoll {
    fn options(&self) -> String {
        format!("threads={} trigger=edge listeners=reuseport", self.threads)
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        let listeners = ctx.listen_group(self.threads)?;
        let addr = listeners[0].local_addr()?;
        for (index, listener) in listeners.into_iter().enumerate() {
            // Set up here, before the server is announced: an epoll instance
            // is a descriptor, and once connections arrive there may be none
            // left for a loop that was slow to start.
            let event_loop =
                EventLoop::new(listener, ctx.clone()).with_context(|| format!("epoll loop {index}"))?;
            thread::Builder::new()
                .name(format!("epoll-{index}"))
                .spawn(move || {
                    let ctx = event_loop.ctx.clone();
                    if let Err(e) = ctx.pin(index).and_then(|()| event_loop.run()) {
                        ctx.shutdown().fail(e.context(format!("epoll loop {index}")));
                    }
                })
                .with_context(|| format!("cannot start epoll loop {index}"))?;
        }
        ctx.ready(addr);
        ctx.shutdown().wait()
    }
}

/// One connection of a loop.
struct Conn {
    fd: OwnedFd,
    session: Session,
    /// Output the socket has not taken yet and input the session has not
    /// consumed yet; `Some` only while the connection waits for `EPOLLOUT`.
    stash: Option<Box<Stash>>,
    state: State,
    /// An event said the peer closed its side: read until `EAGAIN` or EOF.
    peer_closed: bool,
    /// Lingering, and its deadline is queued.
    linger_queued: bool,
    /// Waiting in the "again" queue (once at most: every entry is a turn).
    in_again: bool,
}

#[derive(Default)]
struct Stash {
    output: Vec<u8>,
    sent: usize,
    input: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Close once the stash is flushed.
    Closing(CloseReason),
    /// Write side shut; draining input until EOF or the deadline.
    Lingering(CloseReason),
}

/// What the loop must do with a connection after handling it.
enum Outcome {
    Keep,
    Again,
    Close(Closed),
}

/// Connections by token: index in the low 32 bits, generation in the high
/// 32, so an event for a closed connection never reaches the one that reused
/// its slot in the same batch.
struct Slab {
    slots: Vec<(u32, Option<Conn>)>,
    free: Vec<u32>,
}

impl Slab {
    fn insert(&mut self, conn: Conn) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push((0, None));
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(conn);
        (u64::from(slot.0) << 32) | u64::from(index)
    }

    fn get(&mut self, token: u64) -> Option<&mut Conn> {
        let (index, generation) = (token as u32, (token >> 32) as u32);
        match self.slots.get_mut(index as usize) {
            Some((g, Some(conn))) if *g == generation => Some(conn),
            _ => None,
        }
    }

    fn remove(&mut self, token: u64) -> Option<Conn> {
        let (index, generation) = (token as u32, (token >> 32) as u32);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.0 != generation {
            return None;
        }
        let conn = slot.1.take()?;
        slot.0 = slot.0.wrapping_add(1);
        self.free.push(index);
        Some(conn)
    }
}

struct EventLoop {
    ctx: Context,
    epoll: OwnedFd,
    listener: TcpListener,
    conns: Slab,
    host: ServerHost,
    recorder: Recorder,
    input: Box<[u8]>,
    output: Box<[u8]>,
    /// Connections that used up their read budget with more to read.
    again: VecDeque<u64>,
    /// Lingering connections and when to give up on them, oldest first.
    lingering: VecDeque<(Instant, u64)>,
    /// Accepting stopped (out of descriptors) until then.
    accept_paused_until: Option<Instant>,
}

impl EventLoop {
    fn new(listener: TcpListener, ctx: Context) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).context("epoll_create1")?;
        epoll::add(&epoll, &listener, EventData::new_u64(LISTENER), EventFlags::IN)
            .context("epoll_ctl: add the listener")?;
        epoll::add(&epoll, ctx.shutdown().wake_socket(), EventData::new_u64(WAKE), EventFlags::IN)
            .context("epoll_ctl: add the shutdown socket")?;
        Ok(EventLoop {
            host: ctx.host(),
            recorder: ctx.counters().recorder(),
            ctx,
            epoll,
            listener,
            conns: Slab { slots: Vec::new(), free: Vec::new() },
            input: vec![0; BUF_SIZE].into(),
            output: vec![0; BUF_SIZE].into(),
            again: VecDeque::new(),
            lingering: VecDeque::new(),
            accept_paused_until: None,
        })
    }

    fn run(mut self) -> anyhow::Result<()> {
        let mut events = Vec::with_capacity(EVENTS);
        loop {
            let timeout = self.timeout();
            events.clear();
            match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut events), timeout.as_ref()) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e)).context("epoll_wait"),
            }
            for event in &events {
                match event.data.u64() {
                    WAKE => return Ok(()),
                    LISTENER => self.accept()?,
                    token => self.on_event(token, event.flags),
                }
            }
            for _ in 0..self.again.len() {
                let Some(token) = self.again.pop_front() else { break };
                self.serve(token, |l, c| {
                    c.in_again = false;
                    l.read(c, false)
                });
            }
            self.expire_lingering();
            if self.accept_paused_until.is_some_and(|t| t <= Instant::now()) {
                self.accept_paused_until = None;
                epoll::add(&self.epoll, &self.listener, EventData::new_u64(LISTENER), EventFlags::IN)
                    .context("epoll_ctl: resume the listener")?;
            }
        }
    }

    /// How long `epoll_wait` may block: not at all with connections waiting
    /// for another turn, until the next lingering deadline or the end of an
    /// accept pause, or for ever.
    fn timeout(&self) -> Option<rustix::time::Timespec> {
        if !self.again.is_empty() {
            return Some(rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 });
        }
        let deadline =
            self.lingering.front().map(|(d, _)| *d).into_iter().chain(self.accept_paused_until).min()?;
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
        Some(rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        })
    }

    fn accept(&mut self) -> anyhow::Result<()> {
        for _ in 0..ACCEPT_BUDGET {
            let fd = match rustix::net::accept_with(
                &self.listener,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok(fd) => fd,
                Err(Errno::AGAIN) => return Ok(()),
                Err(e) => {
                    if let Some(pause) = super::accept_error(io::Error::from(e))? {
                        // Out of descriptors: stop watching the listener (it
                        // stays readable) for a while, not the loop.
                        epoll::delete(&self.epoll, &self.listener)
                            .context("epoll_ctl: pause the listener")?;
                        self.accept_paused_until = Some(Instant::now() + pause);
                    }
                    return Ok(());
                }
            };
            self.ctx.counters().accepted();
            let conn = Conn {
                fd,
                session: self.ctx.session(),
                stash: None,
                state: State::Open,
                peer_closed: false,
                linger_queued: false,
                in_again: false,
            };
            let token = self.conns.insert(conn);
            let fd = self.conns.get(token).map(|c| c.fd.as_fd()).expect("just inserted");
            let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
            if let Err(e) = epoll::add(&self.epoll, fd, EventData::new_u64(token), flags) {
                // Out of memory for epoll entries: this connection cannot be
                // served; the loop can go on.
                eprintln!("ringside-server: epoll_ctl: cannot watch a new connection: {e}");
                self.conns.remove(token);
                self.ctx.counters().closed(Closed::Reset);
            }
        }
        Ok(())
    }

    fn on_event(&mut self, token: u64, flags: EventFlags) {
        let hangup = flags.intersects(EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR);
        self.serve(token, |l, c| {
            c.peer_closed |= hangup;
            if c.stash.is_some() {
                // Waiting to write: only EPOLLOUT (or an error) matters.
                if flags.intersects(EventFlags::OUT | EventFlags::ERR | EventFlags::HUP) {
                    return l.flush(c);
                }
                return Outcome::Keep;
            }
            match c.state {
                State::Open | State::Lingering(_)
                    if flags.intersects(
                        EventFlags::IN | EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR,
                    ) =>
                {
                    l.read(c, !c.peer_closed)
                }
                _ => Outcome::Keep,
            }
        });
    }

    /// Run `f` on the connection `token` (if it still exists) and act on the
    /// outcome.
    fn serve(&mut self, token: u64, f: impl FnOnce(&mut Self, &mut Conn) -> Outcome) {
        let Some(mut conn) = self.conns.remove_for_use(token) else { return };
        let outcome = f(self, &mut conn);
        if let Outcome::Close(how) = outcome {
            // A lingering connection ends as its close was decided, whatever
            // ended the draining.
            let how = match conn.state {
                State::Lingering(reason) => closed_by(reason),
                _ => how,
            };
            drop(conn);
            self.conns.forget(token);
            self.ctx.counters().closed(how);
            return;
        }
        if matches!(conn.state, State::Lingering(_)) && !conn.linger_queued {
            conn.linger_queued = true;
            self.lingering.push_back((Instant::now() + LINGER, token));
        }
        let again = matches!(outcome, Outcome::Again) && !conn.in_again;
        conn.in_again |= again;
        self.conns.put_back(token, conn);
        if again {
            self.again.push_back(token);
        }
    }

    /// Read and process until the socket is drained, the budget is spent,
    /// output blocks, or the connection ends. With `short_read_drains`, a
    /// short read ends the turn without the `read` that would say `EAGAIN`.
    fn read(&mut self, c: &mut Conn, short_read_drains: bool) -> Outcome {
        if c.stash.is_some() {
            // Unsent output: no reading until EPOLLOUT (backpressure).
            return Outcome::Keep;
        }
        for _ in 0..READ_BUDGET {
            let n = match rustix::io::read(&c.fd, &mut self.input[..]) {
                Ok(0) => return self.end_of_stream(c),
                Ok(n) => n,
                Err(Errno::AGAIN) => return Outcome::Keep,
                Err(Errno::INTR) => continue,
                Err(_) => return Outcome::Close(Closed::Reset),
            };
            self.recorder.record(0, n, 0);
            if let State::Lingering(_) = c.state {
                // Draining: the input is discarded.
                if n < self.input.len() && short_read_drains {
                    return Outcome::Keep;
                }
                continue;
            }
            let input = std::mem::take(&mut self.input);
            let outcome = self.process(c, &input[..n]);
            self.input = input;
            match outcome {
                Some(outcome) => return outcome,
                None if n < BUF_SIZE && short_read_drains => return Outcome::Keep,
                None => {}
            }
        }
        Outcome::Again
    }

    /// Feed `input` to the session and write what it produces. `None` means
    /// keep reading; `Some` ends this turn.
    fn process(&mut self, c: &mut Conn, mut input: &[u8]) -> Option<Outcome> {
        loop {
            let p = c.session.process(input, &mut self.output, &mut self.host);
            input = &input[p.consumed..];
            self.recorder.record(p.requests, 0, 0);
            if p.written > 0 {
                match write_some(&c.fd, &self.output[..p.written]) {
                    Ok(sent) => {
                        self.recorder.record(0, 0, sent);
                        if sent < p.written {
                            // The socket is full: keep the rest, and wait for
                            // EPOLLOUT before reading any more.
                            c.stash = Some(Box::new(Stash {
                                output: self.output[sent..p.written].to_vec(),
                                sent: 0,
                                input: input.to_vec(),
                            }));
                            if p.next == Next::Close {
                                c.state = State::Closing(close_reason(&c.session));
                            }
                            return Some(Outcome::Keep);
                        }
                    }
                    Err(_) => return Some(Outcome::Close(Closed::Reset)),
                }
            }
            match p.next {
                Next::Read => return None,
                Next::Write => {}
                Next::Close => return self.start_closing(c, close_reason(&c.session)),
            }
        }
    }

    /// `EPOLLOUT`: send the stash; once it is out, process the input kept
    /// with it and go back to reading.
    fn flush(&mut self, c: &mut Conn) -> Outcome {
        let stash = c.stash.as_mut().expect("flush without a stash");
        match write_some(&c.fd, &stash.output[stash.sent..]) {
            Ok(n) => {
                stash.sent += n;
                self.recorder.record(0, 0, n);
                if stash.sent < stash.output.len() {
                    // Still full: the next EPOLLOUT edge brings it back.
                    return Outcome::Keep;
                }
            }
            Err(_) => return Outcome::Close(Closed::Reset),
        }
        let stash = c.stash.take().expect("checked above");
        if let State::Closing(reason) = c.state {
            if let Some(outcome) = self.start_closing(c, reason) {
                return outcome;
            }
        } else if let Some(outcome) = self.process(c, &stash.input) {
            // Even with no input kept, the session may have more of a long
            // answer to write.
            return outcome;
        }
        // Input may have arrived while the connection was not being read;
        // its edge has passed, so read until EAGAIN.
        self.read(c, false)
    }

    /// The session asked to close: shut the write side and start lingering;
    /// the caller's read loop then drains the input. `Some` if the
    /// connection must close at once.
    fn start_closing(&mut self, c: &mut Conn, reason: CloseReason) -> Option<Outcome> {
        if rustix::net::shutdown(&c.fd, rustix::net::Shutdown::Write).is_err() {
            return Some(Outcome::Close(closed_by(reason)));
        }
        // Still open (and counted so) until the draining ends.
        c.state = State::Lingering(reason);
        None
    }

    fn end_of_stream(&mut self, c: &mut Conn) -> Outcome {
        match c.state {
            State::Lingering(_) => Outcome::Close(Closed::Clean),
            _ if c.session.mid_request() => Outcome::Close(Closed::Error),
            _ => Outcome::Close(Closed::Clean),
        }
    }

    fn expire_lingering(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, token)) = self.lingering.front() {
            if deadline > now {
                break;
            }
            self.lingering.pop_front();
            if let Some(conn) = self.conns.get(token)
                && let State::Lingering(reason) = conn.state
            {
                self.conns.remove(token);
                self.ctx.counters().closed(closed_by(reason));
            }
        }
    }
}

impl Slab {
    /// Take a connection out while it is being served (so the loop can be
    /// borrowed mutably alongside it); its slot keeps its generation.
    fn remove_for_use(&mut self, token: u64) -> Option<Conn> {
        let (index, generation) = (token as u32, (token >> 32) as u32);
        match self.slots.get_mut(index as usize) {
            Some((g, slot)) if *g == generation => slot.take(),
            _ => None,
        }
    }

    fn put_back(&mut self, token: u64, conn: Conn) {
        self.slots[token as u32 as usize].1 = Some(conn);
    }

    /// Free the slot of a connection taken with `remove_for_use`.
    fn forget(&mut self, token: u64) {
        let index = token as u32;
        let slot = &mut self.slots[index as usize];
        slot.0 = slot.0.wrapping_add(1);
        self.free.push(index);
    }
}

/// How a connection whose session asked to close is counted.
fn closed_by(reason: CloseReason) -> Closed {
    if reason == CloseReason::Requested { Closed::Clean } else { Closed::Error }
}

fn close_reason(session: &Session) -> CloseReason {
    session.close_reason().unwrap_or(CloseReason::Requested)
}

/// Write as much of `buf` as the socket takes now (0 if it is full). A
/// short write means the socket is full: no second write to hear EAGAIN.
fn write_some(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::AGAIN) => return Ok(0),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
