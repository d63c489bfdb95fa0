//! The io_uring driver of a load thread: one ring, `SINGLE_ISSUER |
//! DEFER_TASKRUN` where the kernel has it; one multishot recv per connection
//! taking buffers from a provided-buffer ring shared by the thread's
//! connections; sends submitted from a per-connection buffer; everything
//! queued in a turn submitted, and completions awaited, in one
//! `io_uring_enter` with the engine's next deadline as its timeout.
//!
//! **Ownership rule.** Whoever submits an operation owns its buffers until
//! its completion arrives. A connection's send buffer is the kernel's while a
//! send is in flight (the engine's output is copied into it, so the engine
//! may keep writing requests); a socket is closed only when no operation is
//! in flight on it; and before this driver returns it cancels every recv and
//! waits for their last completions. Receive buffers belong to the buffer
//! ring, which is unregistered, and so freed when dropped, only once every
//! operation's last completion has arrived; if the driver gives up waiting
//! (or fails first), the ring stays registered and its memory is kept for
//! good, as are the send buffers. `sweep` runs this driver hundreds of
//! times in one process, so the normal end must free.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::time::Duration;

use anyhow::Context as _;
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use nix::libc;
use platform::bufring::BufRing;

use crate::engine::{Engine, Failure, Interval};

const RING_ENTRIES: u32 = 1024;
const BUF_ENTRIES: u16 = 1024;
const BUF_SIZE: usize = 4096;
const BUF_GROUP: u16 = 0;

const SEND: u64 = 1;
const RECV: u64 = 2;
const CANCEL: u64 = 3;

fn token(kind: u64, conn: usize) -> u64 {
    kind | ((conn as u64) << 8)
}

struct Conn {
    stream: Option<TcpStream>,
    /// The bytes of the send in flight, and how many of them went out.
    send_buf: Vec<u8>,
    send_done: usize,
    sending: bool,
    recv_armed: bool,
    cancelling: bool,
    /// Operations whose completion is still due.
    in_flight: u32,
}

pub fn drive(
    engine: &mut Engine,
    addr: SocketAddr,
    streams: Vec<TcpStream>,
    stop: &AtomicBool,
    intervals: &Sender<Interval>,
) -> anyhow::Result<()> {
    let mut ring = new_ring()?;
    let mut bufs = BufRing::new(&ring, BUF_ENTRIES, BUF_SIZE, BUF_GROUP)
        .context("io_uring: cannot register a buffer ring (Linux 5.19); use --io epoll")?;
    let mut conns: Vec<Conn> = streams
        .into_iter()
        .map(|s| Conn {
            stream: Some(s),
            send_buf: Vec::new(),
            send_done: 0,
            sending: false,
            recv_armed: false,
            cancelling: false,
            in_flight: 0,
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        arm_recv(&mut ring, c, i);
    }
    let mut dirty = Vec::new();
    let mut rearm = Vec::new();
    let mut reconnecting: Vec<usize> = Vec::new();
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(1024);
    engine.start();
    loop {
        engine.take_dirty(&mut dirty);
        for i in dirty.drain(..) {
            if !engine.alive(i) {
                close(&mut ring, &mut conns[i], i);
            } else {
                send(&mut ring, engine, &mut conns[i], i);
            }
        }
        if engine.end_turn(stop, intervals) {
            break;
        }
        bufs.publish();
        let wait_ns = engine.wait_ns();
        enter(&mut ring, Some(wait_ns))?;
        cqes.clear();
        cqes.extend(ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        for &(user_data, result, flags) in &cqes {
            let i = (user_data >> 8) as usize;
            let c = &mut conns[i];
            match user_data & 0xFF {
                RECV => {
                    if !cqueue::more(flags) {
                        c.recv_armed = false;
                        c.in_flight -= 1;
                    }
                    if result > 0 {
                        let id = cqueue::buffer_select(flags).expect("a multishot recv names its buffer");
                        if engine.alive(i) {
                            let now = engine.clock().raw();
                            let _ = engine.on_data(i, bufs.get(id, result as usize), now);
                        }
                        bufs.recycle(id);
                    } else if result == 0 {
                        let now = engine.clock().raw();
                        engine.on_eof(i, now);
                    } else if -result == libc::ENOBUFS {
                        // The ring ran dry; nothing was lost. Re-arm once
                        // this batch has recycled buffers.
                        rearm.push(i);
                    } else if -result != libc::ECANCELED {
                        engine.on_failed(i, Failure::Reset);
                    }
                }
                SEND => {
                    c.in_flight -= 1;
                    if result < 0 {
                        c.sending = false;
                        engine.on_failed(i, Failure::Reset);
                    } else {
                        c.send_done += result as usize;
                        if c.send_done < c.send_buf.len() {
                            // A short send: the rest next, in order.
                            submit_send(&mut ring, c, i);
                        } else {
                            c.sending = false;
                            if !engine.output(i).is_empty() {
                                dirty.push(i);
                            }
                        }
                    }
                }
                CANCEL => c.in_flight -= 1,
                _ => anyhow::bail!("io_uring: completion with unknown user_data {user_data:#x}"),
            }
            if !engine.alive(i) {
                dirty.push(i);
            }
            if engine.wants_reconnect(i) && !reconnecting.contains(&i) {
                reconnecting.push(i);
            }
        }
        reconnect(&mut ring, engine, addr, &mut conns, &mut reconnecting);
        for i in rearm.drain(..) {
            if engine.alive(i) && !conns[i].recv_armed {
                arm_recv(&mut ring, &mut conns[i], i);
            }
        }
        engine.tick();
    }
    // Nothing may be in flight when the buffers go: cancel every recv and
    // wait for the last completions.
    for (i, c) in conns.iter_mut().enumerate() {
        close(&mut ring, c, i);
    }
    let mut waited = 0;
    while conns.iter().any(|c| c.in_flight > 0) && waited < 100 {
        enter(&mut ring, Some(10_000_000))?;
        waited += 1;
        let done: Vec<(u64, u32)> = ring.completion().map(|c| (c.user_data(), c.flags())).collect();
        for (user_data, flags) in done {
            let c = &mut conns[(user_data >> 8) as usize];
            let last = match user_data & 0xFF {
                RECV => !cqueue::more(flags),
                _ => true,
            };
            if last {
                c.in_flight -= 1;
                if user_data & 0xFF == RECV {
                    c.recv_armed = false;
                }
            }
        }
        for c in conns.iter_mut().filter(|c| c.in_flight == 0) {
            c.stream = None;
        }
    }
    if conns.iter().any(|c| c.in_flight > 0) {
        // The kernel still owns some buffers: keep them for good rather than
        // free memory it may write. `bufs`, still registered, keeps its
        // memory when dropped.
        std::mem::forget(conns);
        return Ok(());
    }
    // Should the kernel refuse, the ring stays registered and keeps its
    // memory: a leak, as before this driver unregistered, not a failed run.
    // SAFETY: every operation's last completion has been reaped (nothing is
    // in flight on any connection) and nothing is submitted from here on,
    // so no operation can take or write a buffer.
    let _ = unsafe { bufs.unregister(&ring) };
    Ok(())
}

/// Connections the server closed after an answer: once nothing is in
/// flight on one (its recv cancelled, its sends completed), close it and
/// open a new one in its slot. The connect blocks the load thread (at most
/// a second), which the send lag shows.
fn reconnect(
    ring: &mut IoUring,
    engine: &mut Engine,
    addr: SocketAddr,
    conns: &mut [Conn],
    waiting: &mut Vec<usize>,
) {
    let mut k = 0;
    while k < waiting.len() {
        let i = waiting[k];
        let c = &mut conns[i];
        if !engine.wants_reconnect(i) {
            waiting.swap_remove(k);
            continue;
        }
        if c.in_flight > 0 {
            // Cancels the recv once; the completions come back here.
            close(ring, c, i);
            k += 1;
            continue;
        }
        waiting.swap_remove(k);
        c.stream = None;
        (c.sending, c.recv_armed, c.cancelling, c.send_done) = (false, false, false, 0);
        let opened = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).and_then(|s| {
            s.set_nodelay(true)?;
            Ok(s)
        });
        match opened {
            Ok(s) => {
                c.stream = Some(s);
                arm_recv(ring, c, i);
                let now = engine.clock().raw();
                engine.reconnected(i, now);
            }
            Err(_) => engine.reconnect_failed(i),
        }
    }
}

fn new_ring() -> anyhow::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_cqsize(RING_ENTRIES * 4 + u32::from(BUF_ENTRIES)).setup_submit_all().setup_clamp();
    let mut modern = builder.clone();
    modern.setup_single_issuer().setup_defer_taskrun();
    match modern.build(RING_ENTRIES) {
        Ok(ring) => Ok(ring),
        Err(_) => {
            builder.setup_coop_taskrun().setup_taskrun_flag();
            builder.build(RING_ENTRIES).context("io_uring_setup: cannot create a ring; use --io epoll")
        }
    }
}

/// Submit what is queued and wait for a completion or `timeout_ns`.
fn enter(ring: &mut IoUring, timeout_ns: Option<u64>) -> anyhow::Result<()> {
    let result = match timeout_ns {
        // Spinning (`--spin`): submit and collect without waiting. An enter
        // must carry GETEVENTS for a DEFER_TASKRUN ring to post what has
        // completed, which `submit_and_wait(0)` leaves out.
        Some(0) => {
            let pending = ring.submission().len() as u32;
            // SAFETY: no argument is passed (a null pointer of size 0 with
            // no EXT_ARG flag); the entries submitted were pushed by `push`,
            // whose callers keep their buffers valid until completion.
            unsafe {
                ring.submitter().enter::<libc::sigset_t>(
                    pending,
                    0,
                    io_uring::EnterFlags::GETEVENTS.bits(),
                    None,
                )
            }
        }
        Some(ns) => {
            let ts = types::Timespec::new().sec(ns / 1_000_000_000).nsec((ns % 1_000_000_000) as u32);
            ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts))
        }
        None => ring.submit_and_wait(1),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)) =>
        {
            Ok(())
        }
        Err(e) => Err(e).context("io_uring_enter"),
    }
}

/// Queue `entry`, handing the queue to the kernel first if it is full.
///
/// # Safety
///
/// Every buffer `entry` refers to must stay valid, and unmoved, until its
/// completion arrives.
unsafe fn push(ring: &mut IoUring, entry: squeue::Entry) {
    loop {
        // SAFETY: the caller keeps the entry's buffers valid until completion.
        if unsafe { ring.submission().push(&entry) }.is_ok() {
            return;
        }
        let _ = ring.submit();
    }
}

fn arm_recv(ring: &mut IoUring, c: &mut Conn, i: usize) {
    let Some(stream) = &c.stream else { return };
    let entry =
        opcode::RecvMulti::new(types::Fd(stream.as_raw_fd()), BUF_GROUP).build().user_data(token(RECV, i));
    c.recv_armed = true;
    c.in_flight += 1;
    // SAFETY: a multishot recv takes its buffers from the buffer ring, which
    // `drive` frees only after the recv's last completion (and otherwise
    // keeps for good); the socket stays open while the recv is in flight.
    unsafe { push(ring, entry) };
}

/// Move the engine's output for connection `i` into its send buffer and
/// submit it, unless a send is already in flight (its completion comes back
/// here).
fn send(ring: &mut IoUring, engine: &mut Engine, c: &mut Conn, i: usize) {
    if c.sending || c.stream.is_none() {
        return;
    }
    let out = engine.output(i);
    if out.is_empty() {
        return;
    }
    c.send_buf.clear();
    c.send_buf.extend_from_slice(out);
    let n = out.len();
    engine.sent(i, n);
    c.send_done = 0;
    c.sending = true;
    submit_send(ring, c, i);
}

fn submit_send(ring: &mut IoUring, c: &mut Conn, i: usize) {
    let Some(stream) = &c.stream else { return };
    let rest = &c.send_buf[c.send_done..];
    let entry = opcode::Send::new(types::Fd(stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
        .build()
        .user_data(token(SEND, i));
    c.in_flight += 1;
    // SAFETY: `send_buf` is neither changed nor freed while `sending` is set
    // (cleared only by this send's completion), and the connection's slot
    // outlives every operation in flight (see the end of `drive`).
    unsafe { push(ring, entry) };
}

/// Stop receiving on a failed or finished connection; the socket is closed
/// once nothing is in flight on it.
fn close(ring: &mut IoUring, c: &mut Conn, i: usize) {
    if c.recv_armed && !c.cancelling {
        c.cancelling = true;
        c.in_flight += 1;
        let entry = opcode::AsyncCancel::new(token(RECV, i)).build().user_data(token(CANCEL, i));
        // SAFETY: a cancel refers to no buffer.
        unsafe { push(ring, entry) };
    }
    if c.in_flight == 0 {
        c.stream = None;
    }
}
