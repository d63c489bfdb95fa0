//! The loop of one io_uring: its connections, the operations in flight for
//! them, and what each completion means. See the module doc of
//! [`super`] for the design and the ownership rule.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use nix::libc;
use platform::Unsupported;
use platform::bufring::BufRing;
use protocol::{CloseReason, Next, Session};

use super::{Options, new_ring, probe};
use crate::backend::{Context, LINGER, ServerHost};
use crate::counters::{Closed, Recorder};

/// Bytes of output per send.
const SEND_BUF: usize = 16 * 1024;
/// Input kept for a connection (while its send is in flight) beyond which
/// its multishot recv is cancelled until it catches up.
const STASH_LIMIT: usize = SEND_BUF;
/// The buffer group of every loop's buffer ring (one ring per `IoUring`).
const BUF_GROUP: u16 = 0;

/// What an operation was, in the low byte of its `user_data`; the slot is
/// in the next 32 bits and the slot's generation in the top 24.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Accept = 1,
    Recv,
    Send,
    Shutdown,
    Close,
    Cancel,
    Wake,
    AcceptCancel,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        [Op::Accept, Op::Recv, Op::Send, Op::Shutdown, Op::Close, Op::Cancel, Op::Wake, Op::AcceptCancel]
            .into_iter()
            .find(|op| *op as u8 == v)
    }
}

fn token(op: Op, slot: u32, generation: u32) -> u64 {
    op as u64 | (u64::from(slot) << 8) | (u64::from(generation & 0xFF_FFFF) << 40)
}

/// A connection's socket: a file descriptor, or a direct descriptor with
/// `--fixed-files`.
#[derive(Clone, Copy)]
enum Target {
    Fd(i32),
    Fixed(u32),
}

/// Build an operation on `target`, whichever kind of descriptor it is.
macro_rules! on {
    ($target:expr, |$fd:ident| $build:expr) => {
        match $target {
            Target::Fd(fd) => {
                let $fd = types::Fd(fd);
                $build
            }
            Target::Fixed(index) => {
                let $fd = types::Fixed(index);
                $build
            }
        }
    };
}

/// The loop's accept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AcceptState {
    Idle,
    /// A multishot accept is armed.
    Multi,
    /// A one-shot accept is armed.
    Single,
    /// A multishot accept is being cancelled; its last completion is due.
    Cancelling,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RecvState {
    Idle,
    Armed,
    /// A cancel is on its way; the recv's last completion is still due.
    Cancelling,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// The session asked to close: send what is left, then shut down.
    Flushing(CloseReason),
    /// Write side shut down (or being shut); input is drained and counted.
    Lingering,
    /// Done: waiting for the last operations, then the close.
    Dead,
}

/// A send and its buffer, which the kernel owns while `pending` and while
/// zero-copy notifications are due for it.
struct SendOp {
    buf: Box<[u8]>,
    len: usize,
    sent: usize,
    /// The completion of the send in flight is due.
    pending: bool,
    /// Zero-copy notifications still due for this buffer (one per part of
    /// it sent with SEND_ZC whose completion said one follows).
    notifs_due: u8,
}

/// Input received but not yet given to the session: consumed from the
/// front through an offset, compacted once half of it is consumed, so a
/// long backlog is copied a bounded number of times, not once per send.
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    start: usize,
}

impl Held {
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.bytes.len() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.bytes.clear();
        if self.bytes.capacity() > 4 * STASH_LIMIT {
            self.bytes = Vec::new();
        }
    }
}

struct Conn {
    generation: u32,
    target: Target,
    session: Session,
    send: Option<SendOp>,
    /// Buffers of zero-copy sends that completed but whose notifications are
    /// still due, oldest first (the kernel notifies in order), with how many.
    zc_waiting: VecDeque<(Box<[u8]>, u8)>,
    /// Input not yet given to the session (received while a send was in
    /// flight, or left over when the output filled up).
    held: Held,
    /// The receive buffer with `--no-buf-ring`; the kernel owns it while a
    /// recv is armed.
    own_buf: Option<Box<[u8]>>,
    recv: RecvState,
    phase: Phase,
    /// The peer closed its side.
    eof: bool,
    /// How the connection ends, once that is decided; counted when its
    /// close completes (until then it is open: draining, or waiting for
    /// operations in flight, whose bytes still count).
    ending: Option<Closed>,
    /// Operations whose completion has not arrived yet. The slot is freed
    /// only after all of them, then the close, have completed.
    in_flight: u32,
    close_submitted: bool,
}

enum Flow {
    Continue,
    Exit,
}

pub(crate) struct EventLoop<'a> {
    // Dropping a ring does not wait for its operations (teardown is
    // asynchronous): a loop ends only when its process exits, with receives
    // still armed, so the buffer ring is never unregistered and, dropped
    // still registered, keeps its memory (see `platform::bufring`).
    ring: IoUring,
    bufs: Option<BufRing>,
    ctx: &'a Context,
    options: &'a Options,
    listener: TcpListener,
    host: ServerHost,
    recorder: Recorder,
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    next_generation: u32,
    send_pool: Vec<Box<[u8]>>,
    cqes: Vec<(u64, i32, u32)>,
    /// Connections whose recv ended for lack of buffers, to re-arm after
    /// this batch has recycled some.
    rearm: Vec<(u32, u32)>,
    accept: AcceptState,
    /// Counts the accepts armed; in their user_data, so a completion of
    /// an older accept is told from the current one's.
    accept_generation: u32,
    accept_paused_until: Option<Instant>,
    /// With --fixed-files: slots in the direct-descriptor table, and how
    /// many hold a connection.
    fixed_capacity: u32,
    fixed_in_use: u32,
    /// Lingering connections and their deadlines, oldest first.
    lingering: VecDeque<(Instant, u32, u32)>,
    overflow_seen: u32,
}

impl<'a> EventLoop<'a> {
    /// Create the ring and everything it needs on the calling thread (its
    /// single issuer). The thread is pinned already.
    pub(crate) fn new(
        index: usize,
        listener: TcpListener,
        ctx: &'a Context,
        options: &'a Options,
    ) -> anyhow::Result<Self> {
        let cpu =
            (!ctx.config().cores.is_empty()).then(|| ctx.config().cores[index % ctx.config().cores.len()]);
        let (ring, _taskrun) = new_ring(options, cpu)?;
        probe(&ring, options)?;
        let mut fixed_capacity = 0;
        if options.fixed_files {
            // The kernel refuses a table larger than RLIMIT_NOFILE.
            let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(1024, |(soft, _)| soft);
            let slots = super::FIXED_FILES.min(u32::try_from(limit).unwrap_or(u32::MAX));
            ring.submitter().register_files_sparse(slots).map_err(|e| match e.raw_os_error() {
                Some(libc::EINVAL) => anyhow::Error::new(Unsupported(format!(
                    "io_uring: cannot register a direct-descriptor table ({e}; needs Linux 5.19); drop --fixed-files"
                ))),
                _ => anyhow::Error::new(e)
                    .context(format!("io_uring: cannot register a {slots}-slot direct-descriptor table")),
            })?;
            fixed_capacity = slots;
        }
        let bufs = if options.buf_ring {
            Some(BufRing::new(&ring, options.buf_ring_entries, options.buf_size, BUF_GROUP).map_err(|e| {
                match e.raw_os_error() {
                    Some(libc::EINVAL) => anyhow::Error::new(Unsupported(format!(
                        "io_uring: cannot register a buffer ring ({e}; needs Linux 5.19); pass --no-buf-ring"
                    ))),
                    Some(libc::ENOMEM) => anyhow::Error::new(e).context(
                        "io_uring: out of memory for the buffer ring; pass a smaller --buf-ring-entries or --buf-size",
                    ),
                    _ => anyhow::Error::new(e).context(
                        "io_uring: cannot register the buffer ring; --no-buf-ring receives into per-connection buffers",
                    ),
                }
            })?)
        } else {
            None
        };
        Ok(EventLoop {
            ring,
            bufs,
            ctx,
            options,
            listener,
            host: ctx.host(),
            recorder: ctx.counters().recorder(),
            slots: Vec::new(),
            free: Vec::new(),
            next_generation: 0,
            send_pool: Vec::new(),
            cqes: Vec::with_capacity(256),
            rearm: Vec::new(),
            accept: AcceptState::Idle,
            accept_generation: 0,
            accept_paused_until: None,
            fixed_capacity,
            fixed_in_use: 0,
            lingering: VecDeque::new(),
            overflow_seen: 0,
        })
    }

    pub(crate) fn run(mut self) -> anyhow::Result<()> {
        self.refresh_accept();
        let wake = opcode::PollAdd::new(
            types::Fd(self.ctx.shutdown().wake_socket().as_raw_fd()),
            libc::POLLIN as u32,
        )
        .build()
        .user_data(token(Op::Wake, 0, 0));
        // SAFETY: a poll has no buffer; the wake socket lives as long as the
        // server's Shutdown, which outlives this loop.
        unsafe { self.push(wake) };
        loop {
            if let Some(bufs) = &self.bufs {
                bufs.publish();
            }
            self.enter()?;
            let mut cqes = std::mem::take(&mut self.cqes);
            cqes.clear();
            cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            for &(user_data, result, flags) in &cqes {
                if let Flow::Exit = self.complete(user_data, result, flags)? {
                    self.release_listener();
                    return Ok(());
                }
            }
            self.cqes = cqes;
            self.after_batch();
        }
    }

    /// Submit what is queued and wait for a completion, or until the next
    /// deadline.
    fn enter(&mut self) -> anyhow::Result<()> {
        let deadline =
            [self.lingering.front().map(|d| d.0), self.accept_paused_until].into_iter().flatten().min();
        let result = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
                let ts = types::Timespec::new().sec(left.as_secs()).nsec(left.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("io_uring_enter"),
        }
    }

    /// Queue `entry`, submitting first if the queue is full; without
    /// batching, submit at once.
    ///
    /// # Safety
    ///
    /// Every buffer and descriptor `entry` refers to must stay valid until
    /// its completion (and, for a zero-copy send, its notification) arrives.
    unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the caller guarantees the entry's buffers outlive the
            // operation.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                break;
            }
            // The queue is full: hand what is queued to the kernel.
            let _ = self.ring.submit();
        }
        if !self.options.batching {
            let _ = self.ring.submit();
        }
    }

    /// How the loop should be accepting now, if at all.
    ///
    /// With direct descriptors the kernel takes a connection off the listen
    /// queue before it finds the connection a slot, and closes it if the
    /// table is full; a multishot accept takes the whole queue at once. So
    /// it is kept only while more slots are free than the queue can hold;
    /// below that, one-shot accepts, armed only while a slot is free, make a
    /// full table leave connections waiting in the queue, as a full file
    /// table does.
    fn wanted_accept(&self) -> Option<AcceptState> {
        if self.accept_paused_until.is_some() {
            return None;
        }
        let multi = if self.options.fixed_files {
            let free = self.fixed_capacity - self.fixed_in_use;
            if free == 0 {
                return None;
            }
            self.options.multishot_accept && free > crate::backend::BACKLOG as u32
        } else {
            self.options.multishot_accept
        };
        Some(if multi { AcceptState::Multi } else { AcceptState::Single })
    }

    /// Arm, or cancel, the accept so it matches [`wanted_accept`].
    fn refresh_accept(&mut self) {
        let wanted = self.wanted_accept();
        match self.accept {
            AcceptState::Idle => {
                if let Some(mode) = wanted {
                    self.arm_accept(mode);
                }
            }
            AcceptState::Multi if wanted != Some(AcceptState::Multi) => {
                let entry = opcode::AsyncCancel::new(token(Op::Accept, 0, self.accept_generation)).build();
                // SAFETY: a cancel refers to no buffer.
                unsafe { self.push(entry.user_data(token(Op::AcceptCancel, 0, 0))) };
                self.accept = AcceptState::Cancelling;
            }
            AcceptState::Multi | AcceptState::Single | AcceptState::Cancelling => {}
        }
    }

    fn arm_accept(&mut self, mode: AcceptState) {
        let fd = types::Fd(self.listener.as_raw_fd());
        // A direct descriptor is not in the file table: close-on-exec means
        // nothing for it, and the kernel refuses the flag.
        let flags = if self.options.fixed_files { 0 } else { libc::SOCK_CLOEXEC };
        let entry = if mode == AcceptState::Multi {
            opcode::AcceptMulti::new(fd).allocate_file_index(self.options.fixed_files).flags(flags).build()
        } else {
            let accept = opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut()).flags(flags);
            if self.options.fixed_files {
                accept.file_index(Some(types::DestinationSlot::auto_target())).build()
            } else {
                accept.build()
            }
        };
        self.accept_generation = self.accept_generation.wrapping_add(1) & 0xFF_FFFF;
        // SAFETY: no address buffers are passed (null); the listener lives
        // as long as this loop.
        unsafe { self.push(entry.user_data(token(Op::Accept, 0, self.accept_generation))) };
        self.accept = mode;
    }

    fn complete(&mut self, user_data: u64, result: i32, flags: u32) -> anyhow::Result<Flow> {
        let op = Op::from_u8(user_data as u8);
        let slot = (user_data >> 8) as u32;
        let generation = (user_data >> 40) as u32;
        match op {
            Some(Op::Wake) => return Ok(Flow::Exit),
            Some(Op::Accept) => self.on_accept(result, flags, generation)?,
            // The cancelled accept reports its own end.
            Some(Op::AcceptCancel) => {}
            Some(op) => {
                let live = matches!(self.slots.get(slot as usize), Some(Some(c)) if c.generation & 0xFF_FFFF == generation);
                debug_assert!(live, "{op:?} completion for a freed slot {slot}");
                if live {
                    match op {
                        Op::Recv => self.on_recv(slot, result, flags)?,
                        Op::Send => self.on_send(slot, result, flags),
                        Op::Shutdown => self.on_shutdown(slot, result),
                        Op::Cancel => {
                            self.conn(slot).in_flight -= 1;
                            self.maybe_release(slot);
                        }
                        Op::Close => {
                            let conn = self.slots[slot as usize].take().expect("live");
                            self.ctx.counters().closed(conn.ending.unwrap_or(Closed::Clean));
                            if let Some(send) = conn.send {
                                self.send_pool.push(send.buf);
                            }
                            self.free.push(slot);
                            if let Target::Fixed(_) = conn.target {
                                self.fixed_in_use -= 1;
                                self.refresh_accept();
                            }
                        }
                        Op::Accept | Op::Wake | Op::AcceptCancel => unreachable!(),
                    }
                }
            }
            None => bail!("io_uring: completion with unknown user_data {user_data:#x}"),
        }
        Ok(Flow::Continue)
    }

    fn on_accept(&mut self, result: i32, flags: u32, generation: u32) -> anyhow::Result<()> {
        // Only the current accept's end changes the state: a one-shot's
        // completion, or a multishot's (cancelled or not) without F_MORE.
        // A completion with F_MORE is just a connection, even while the
        // multishot is being cancelled.
        if generation == self.accept_generation {
            let ended = match self.accept {
                AcceptState::Single => true,
                AcceptState::Multi | AcceptState::Cancelling => !cqueue::more(flags),
                AcceptState::Idle => false,
            };
            if ended {
                self.accept = AcceptState::Idle;
            }
        }
        if result < 0 {
            let errno = -result;
            match errno {
                libc::EINVAL => bail!(
                    "io_uring: the kernel refused the accept (EINVAL; multishot accept and direct descriptors \
                     need Linux 5.19: try --no-multishot-accept, or no --fixed-files)"
                ),
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                    super::super::out_of_resources(&std::io::Error::from_raw_os_error(errno));
                    self.accept_paused_until = Some(Instant::now() + super::super::ACCEPT_PAUSE);
                }
                libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::ECANCELED => {}
                _ => bail!("io_uring: accept failed: {}", std::io::Error::from_raw_os_error(errno)),
            }
        } else {
            self.ctx.counters().accepted();
            let target = if self.options.fixed_files {
                self.fixed_in_use += 1;
                Target::Fixed(result as u32)
            } else {
                Target::Fd(result)
            };
            let slot = self.insert(target);
            self.arm_recv(slot);
        }
        self.refresh_accept();
        Ok(())
    }

    fn insert(&mut self, target: Target) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        let conn = Conn {
            generation: self.next_generation,
            target,
            session: self.ctx.session(),
            send: None,
            zc_waiting: VecDeque::new(),
            held: Held::default(),
            own_buf: None,
            recv: RecvState::Idle,
            phase: Phase::Open,
            eof: false,
            ending: None,
            in_flight: 0,
            close_submitted: false,
        };
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(conn);
                slot
            }
            None => {
                self.slots.push(Some(conn));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn conn(&mut self, slot: u32) -> &mut Conn {
        self.slots[slot as usize].as_mut().expect("a live connection")
    }

    fn arm_recv(&mut self, slot: u32) {
        let options = self.options;
        let group = self.bufs.as_ref().map(BufRing::group);
        // The ring is lent out only while a recv's data is being read, and
        // nothing reached from there arms a recv.
        assert!(group.is_some() || !options.buf_ring, "arm_recv while the buffer ring is lent out");
        let c = self.slots[slot as usize].as_mut().expect("a live connection");
        debug_assert!(c.recv == RecvState::Idle);
        let entry = match group {
            Some(group) if options.multishot_recv => {
                on!(c.target, |fd| opcode::RecvMulti::new(fd, group).build())
            }
            Some(group) => {
                on!(c.target, |fd| opcode::Recv::new(fd, std::ptr::null_mut(), options.buf_size as u32)
                    .buf_group(group)
                    .build()
                    .flags(squeue::Flags::BUFFER_SELECT))
            }
            None => {
                let buf = c.own_buf.get_or_insert_with(|| vec![0; options.buf_size].into());
                let (ptr, len) = (buf.as_mut_ptr(), buf.len() as u32);
                on!(c.target, |fd| opcode::Recv::new(fd, ptr, len).build())
            }
        };
        c.recv = RecvState::Armed;
        c.in_flight += 1;
        let user_data = token(Op::Recv, slot, c.generation);
        // SAFETY: ring buffers live as long as the process; a connection's
        // own buffer lives in its slot, which is freed only after this recv's
        // last completion (in_flight counts it).
        unsafe { self.push(entry.user_data(user_data)) };
    }

    fn cancel_recv(&mut self, slot: u32) {
        let c = self.conn(slot);
        if c.recv != RecvState::Armed {
            return;
        }
        c.recv = RecvState::Cancelling;
        c.in_flight += 1;
        let entry = opcode::AsyncCancel::new(token(Op::Recv, slot, c.generation)).build();
        let user_data = token(Op::Cancel, slot, c.generation);
        // SAFETY: a cancel refers to no buffer.
        unsafe { self.push(entry.user_data(user_data)) };
    }

    fn on_recv(&mut self, slot: u32, result: i32, flags: u32) -> anyhow::Result<()> {
        let multishot = self.options.multishot_recv;
        let buffer = cqueue::buffer_select(flags);
        {
            let c = self.conn(slot);
            if !multishot || !cqueue::more(flags) {
                c.recv = RecvState::Idle;
                c.in_flight -= 1;
            }
        }
        if result > 0 {
            let n = result as usize;
            self.recorder.record(0, n, 0);
            // Take the data's owner out of `self` while the session reads it.
            if let Some(id) = buffer {
                let bufs = self.bufs.take().expect("a buffer id implies a buffer ring");
                self.on_data(slot, bufs.get(id, n));
                let mut bufs = bufs;
                bufs.recycle(id);
                self.bufs = Some(bufs);
            } else {
                let own = self.conn(slot).own_buf.take().expect("a recv without a ring buffer has its own");
                self.on_data(slot, &own[..n]);
                self.conn(slot).own_buf = Some(own);
            }
        } else if result == 0 {
            self.conn(slot).eof = true;
            self.on_eof(slot);
        } else {
            match -result {
                // The buffer ring ran dry: nothing was lost; re-arm once this
                // batch has recycled buffers.
                libc::ENOBUFS => {
                    let generation = self.conn(slot).generation;
                    self.rearm.push((slot, generation));
                    self.maybe_release(slot);
                    return Ok(());
                }
                libc::ECANCELED => {}
                libc::EINVAL if multishot => {
                    bail!(
                        "io_uring: the kernel refused multishot recv (needs Linux 6.0); pass --no-multishot-recv"
                    )
                }
                _ => self.finish(slot, Closed::Reset),
            }
        }
        self.maybe_recv(slot);
        self.maybe_release(slot);
        Ok(())
    }

    /// Data arrived for `slot`.
    fn on_data(&mut self, slot: u32, data: &[u8]) {
        let c = self.conn(slot);
        match c.phase {
            Phase::Open => {}
            // After a close was decided, input is only drained.
            Phase::Flushing(_) | Phase::Lingering | Phase::Dead => return,
        }
        if c.send.is_some() || !c.held.is_empty() {
            c.held.push(data);
            if c.held.len() > STASH_LIMIT {
                self.cancel_recv(slot);
            }
            return;
        }
        let consumed = self.pump(slot, data);
        let c = self.conn(slot);
        if c.phase == Phase::Open && consumed < data.len() {
            c.held.push(&data[consumed..]);
        }
    }

    /// Feed `input` to the session and send what it produces (one send at a
    /// time); return how much of `input` it consumed (the caller keeps the
    /// rest).
    fn pump(&mut self, slot: u32, input: &[u8]) -> usize {
        let mut buf = self.send_pool.pop().unwrap_or_else(|| vec![0; SEND_BUF].into());
        let Self { slots, host, recorder, .. } = self;
        let c = slots[slot as usize].as_mut().expect("a live connection");
        // One call fills the buffer as far as the session can: it returns
        // `Write` when the buffer is full or its answers must go out before
        // the next request's work, `Close` when done.
        let p = c.session.process(input, &mut buf, host);
        recorder.record(p.requests, 0, 0);
        if p.next == Next::Close {
            let reason = c.session.close_reason().unwrap_or(CloseReason::Requested);
            c.phase = Phase::Flushing(reason);
            c.held.clear();
        }
        if p.written > 0 {
            self.send(slot, buf, p.written);
        } else {
            self.send_pool.push(buf);
        }
        if let Phase::Flushing(reason) = self.conn(slot).phase
            && self.conn(slot).send.is_none()
        {
            self.start_shutdown(slot, reason);
        }
        p.consumed
    }

    fn send(&mut self, slot: u32, buf: Box<[u8]>, len: usize) {
        let c = self.conn(slot);
        c.send = Some(SendOp { buf, len, sent: 0, pending: false, notifs_due: 0 });
        self.submit_send(slot);
    }

    /// Submit the unsent part of the connection's send buffer.
    fn submit_send(&mut self, slot: u32) {
        let zc_from = self.options.zc_send;
        let c = self.conn(slot);
        let send = c.send.as_mut().expect("a send to submit");
        let (ptr, len) = (send.buf[send.sent..].as_ptr(), (send.len - send.sent) as u32);
        let entry = if zc_from.is_some_and(|from| len as usize >= from) {
            on!(c.target, |fd| opcode::SendZc::new(fd, ptr, len).build())
        } else {
            on!(c.target, |fd| opcode::Send::new(fd, ptr, len).build())
        };
        send.pending = true;
        c.in_flight += 1;
        let user_data = token(Op::Send, slot, c.generation);
        // SAFETY: the buffer is in the connection's SendOp (or, once sent,
        // in zc_waiting until its notifications arrive), and the slot is
        // freed only after every completion for it (in_flight).
        unsafe { self.push(entry.user_data(user_data)) };
    }

    fn on_send(&mut self, slot: u32, result: i32, flags: u32) {
        let c = self.conn(slot);
        c.in_flight -= 1;
        if cqueue::notif(flags) {
            // A zero-copy notification: the oldest buffer still waiting for
            // one (notifications come in order) is one step closer to free.
            if let Some((_, due)) = c.zc_waiting.front_mut() {
                *due -= 1;
                if *due == 0 {
                    let (buf, _) = c.zc_waiting.pop_front().expect("just seen");
                    self.send_pool.push(buf);
                }
            } else if let Some(send) = c.send.as_mut() {
                send.notifs_due -= 1;
            }
            self.maybe_release(slot);
            return;
        }
        let dead = c.phase == Phase::Dead;
        let send = c.send.as_mut().expect("a send completion has its send");
        send.pending = false;
        if cqueue::more(flags) {
            // A zero-copy send: a notification will say when the buffer is
            // free.
            send.notifs_due += 1;
            c.in_flight += 1;
        }
        if result < 0 {
            if !dead {
                self.finish(slot, Closed::Reset);
            }
        } else {
            send.sent += result as usize;
            let short = send.sent < send.len;
            self.recorder.record(0, 0, result as usize);
            if short && !dead {
                // A short send: the rest goes next, in order.
                self.submit_send(slot);
                return;
            }
        }
        // Done with this send. A buffer still awaiting notifications waits
        // aside, so the next send need not wait for the peer's ACK.
        let c = self.conn(slot);
        let done = c.send.take().expect("still there");
        if done.notifs_due > 0 {
            c.zc_waiting.push_back((done.buf, done.notifs_due));
        } else {
            self.send_pool.push(done.buf);
        }
        self.after_send(slot);
    }

    /// The connection has no send in flight any more.
    fn after_send(&mut self, slot: u32) {
        match self.conn(slot).phase {
            Phase::Flushing(reason) => self.start_shutdown(slot, reason),
            Phase::Open => {
                // The session may have more of a long answer, and input may
                // have been kept meanwhile.
                let mut held = std::mem::take(&mut self.conn(slot).held);
                let consumed = self.pump(slot, held.data());
                let c = self.conn(slot);
                if c.phase == Phase::Open {
                    held.consume(consumed);
                    c.held = held;
                }
                if c.eof && c.send.is_none() && c.held.is_empty() && c.phase == Phase::Open {
                    self.on_eof(slot);
                }
                self.maybe_recv(slot);
            }
            Phase::Lingering | Phase::Dead => {}
        }
        self.maybe_release(slot);
    }

    fn on_eof(&mut self, slot: u32) {
        let c = self.conn(slot);
        match c.phase {
            Phase::Lingering => self.finish(slot, Closed::Clean),
            Phase::Open if c.send.is_none() && c.held.is_empty() => {
                let how = if c.session.mid_request() { Closed::Error } else { Closed::Clean };
                self.finish(slot, how);
            }
            // Answers are still going out; `after_send` comes back here.
            Phase::Open | Phase::Flushing(_) | Phase::Dead => {}
        }
    }

    /// Re-arm the recv if the connection wants input and has none armed.
    fn maybe_recv(&mut self, slot: u32) {
        let c = self.conn(slot);
        if c.recv != RecvState::Idle || c.eof {
            return;
        }
        let wants = match c.phase {
            // Receive while the kept input is small, whether a send is in
            // flight or not (one-shot and multishot alike, so the flag that
            // switches them measures only that).
            Phase::Open => c.held.len() <= STASH_LIMIT,
            Phase::Lingering => true,
            Phase::Flushing(_) | Phase::Dead => false,
        };
        if wants {
            self.arm_recv(slot);
        }
    }

    /// Shut down the write side and drain input until EOF or the deadline.
    fn start_shutdown(&mut self, slot: u32, reason: CloseReason) {
        let c = self.conn(slot);
        c.ending.get_or_insert(if reason == CloseReason::Requested { Closed::Clean } else { Closed::Error });
        c.phase = Phase::Lingering;
        let (generation, target) = (c.generation, c.target);
        self.lingering.push_back((Instant::now() + LINGER, slot, generation));
        let c = self.conn(slot);
        match target {
            Target::Fd(fd) => {
                // IORING_OP_SHUTDOWN always runs on an io-wq worker thread
                // (a wake-up and two switches per close); shutdown(2) on a
                // socket does not block, so call it directly.
                // SAFETY: `fd` is this connection's socket, open until its
                // close is submitted, which needs this phase to end first.
                let result = unsafe { libc::shutdown(fd, libc::SHUT_WR) };
                let result = if result == 0 {
                    0
                } else {
                    -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                };
                c.in_flight += 1;
                self.on_shutdown(slot, result);
            }
            Target::Fixed(_) => {
                // A direct descriptor has no fd: the io_uring op (and its
                // worker thread) is the only way.
                c.in_flight += 1;
                let entry = on!(c.target, |fd| opcode::Shutdown::new(fd, libc::SHUT_WR).build());
                let user_data = token(Op::Shutdown, slot, c.generation);
                // SAFETY: a shutdown refers to no buffer.
                unsafe { self.push(entry.user_data(user_data)) };
            }
        }
    }

    fn on_shutdown(&mut self, slot: u32, result: i32) {
        self.conn(slot).in_flight -= 1;
        if result < 0 {
            self.finish(slot, Closed::Reset);
        } else if self.conn(slot).eof {
            // The peer had already closed its side: nothing left to drain.
            self.finish(slot, Closed::Clean);
        } else {
            self.maybe_recv(slot);
        }
        self.maybe_release(slot);
    }

    /// The connection is done: note how (the first reason stands), stop
    /// receiving, and close it once its last operation has completed.
    fn finish(&mut self, slot: u32, how: Closed) {
        let c = self.conn(slot);
        c.ending.get_or_insert(how);
        c.phase = Phase::Dead;
        c.held.clear();
        self.cancel_recv(slot);
        self.maybe_release(slot);
    }

    /// Submit the close once nothing else is in flight.
    fn maybe_release(&mut self, slot: u32) {
        let c = self.conn(slot);
        if c.phase != Phase::Dead || c.in_flight > 0 || c.close_submitted {
            return;
        }
        c.close_submitted = true;
        c.in_flight += 1;
        let entry = on!(c.target, |fd| opcode::Close::new(fd).build());
        let user_data = token(Op::Close, slot, c.generation);
        // SAFETY: a close refers to no buffer; nothing else uses the
        // descriptor any more (no operation in flight).
        unsafe { self.push(entry.user_data(user_data)) };
    }

    /// Before the loop ends: cancel the accept and wait (at most 200 ms)
    /// for its last completion. A pending accept holds the listening socket,
    /// and a ring's operations are cancelled only after the process exits,
    /// so without this the port would stay bound for a moment after the
    /// server is gone, and a server restarted on it would fail.
    fn release_listener(&mut self) {
        if matches!(self.accept, AcceptState::Multi | AcceptState::Single) {
            let entry = opcode::AsyncCancel::new(token(Op::Accept, 0, self.accept_generation)).build();
            // SAFETY: a cancel refers to no buffer.
            unsafe { self.push(entry.user_data(token(Op::AcceptCancel, 0, 0))) };
            self.accept = AcceptState::Cancelling;
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.accept != AcceptState::Idle && Instant::now() < deadline {
            let ts = types::Timespec::new().nsec(10_000_000);
            let _ = self.ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
            let accept_ended: Vec<(u32, u32)> = self
                .ring
                .completion()
                .filter(|c| c.user_data() as u8 == Op::Accept as u8)
                .map(|c| ((c.user_data() >> 40) as u32, c.flags()))
                .collect();
            for (generation, flags) in accept_ended {
                if generation == self.accept_generation && !cqueue::more(flags) {
                    self.accept = AcceptState::Idle;
                }
            }
        }
    }

    /// Work that waits for the end of a batch of completions.
    fn after_batch(&mut self) {
        for (slot, generation) in std::mem::take(&mut self.rearm) {
            if matches!(self.slots.get(slot as usize), Some(Some(c)) if c.generation == generation) {
                self.maybe_recv(slot);
            }
        }
        let now = Instant::now();
        while let Some(&(deadline, slot, generation)) = self.lingering.front() {
            if deadline > now {
                break;
            }
            self.lingering.pop_front();
            if matches!(self.slots.get(slot as usize), Some(Some(c)) if c.generation == generation && c.phase == Phase::Lingering)
            {
                self.finish(slot, Closed::Clean);
            }
        }
        if let Some(until) = self.accept_paused_until
            && until <= now
        {
            self.accept_paused_until = None;
            self.refresh_accept();
        }
        let overflow = self.ring.completion().overflow();
        if overflow > self.overflow_seen {
            eprintln!(
                "ringside-server: io-uring: {} completions overflowed the completion queue (kept by the kernel, \
                 but slowly); raise --ring-entries",
                overflow - self.overflow_seen
            );
            self.overflow_seen = overflow;
        }
    }
}
