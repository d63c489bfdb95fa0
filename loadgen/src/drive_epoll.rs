//! The epoll driver of a load thread: non-blocking sockets registered once,
//! edge-triggered, for input, output and hang-up; answers read into one
//! buffer per thread; requests written as soon as the engine produces them;
//! `epoll_wait` (nanosecond timeout, `epoll_pwait2`) until the engine's next
//! deadline. Safe rustix wrappers: no `unsafe`.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::time::Duration;

use anyhow::Context as _;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;

use crate::engine::{Engine, Failure, Interval};

const BUF: usize = 64 * 1024;

pub fn drive(
    engine: &mut Engine,
    addr: SocketAddr,
    streams: Vec<TcpStream>,
    stop: &AtomicBool,
    intervals: &Sender<Interval>,
) -> anyhow::Result<()> {
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).context("epoll_create1")?;
    let mut socks: Vec<Option<TcpStream>> = Vec::with_capacity(streams.len());
    for (i, s) in streams.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        epoll::add(&epoll, &s, EventData::new_u64(i as u64), flags).context("epoll_ctl")?;
        socks.push(Some(s));
    }
    let mut buf = vec![0u8; BUF];
    let mut events = Vec::with_capacity(256);
    let mut dirty = Vec::new();
    let mut reconnect = Vec::new();
    engine.start();
    loop {
        flush(engine, &mut socks, &mut dirty);
        if engine.end_turn(stop, intervals) {
            return Ok(());
        }
        let wait_ns = engine.wait_ns();
        let timeout = rustix::time::Timespec {
            tv_sec: (wait_ns / 1_000_000_000) as i64,
            tv_nsec: (wait_ns % 1_000_000_000) as i64,
        };
        events.clear();
        match epoll::wait(&epoll, rustix::buffer::spare_capacity(&mut events), Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(std::io::Error::from(e)).context("epoll_wait"),
        }
        for event in &events {
            let i = event.data.u64() as usize;
            // A copy: the kernel's epoll_event is packed.
            let flags = event.flags;
            if !engine.alive(i) {
                continue;
            }
            let hangup = flags.intersects(EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR);
            if flags.intersects(EventFlags::IN | EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR) {
                let Some(sock) = socks[i].as_ref() else { continue };
                read(engine, i, sock, &mut buf, !hangup);
                if engine.wants_reconnect(i) && !reconnect.contains(&i) {
                    reconnect.push(i);
                }
            }
            if engine.alive(i) && !engine.output(i).is_empty() {
                dirty.push(i);
            }
        }
        for i in reconnect.drain(..) {
            // Dropping the socket closes it (and takes it out of the set).
            socks[i] = None;
            match open(&epoll, addr, i) {
                Ok(s) => {
                    socks[i] = Some(s);
                    let now = engine.clock().raw();
                    engine.reconnected(i, now);
                }
                Err(_) => engine.reconnect_failed(i),
            }
        }
        engine.tick();
        engine.take_dirty(&mut dirty);
    }
}

/// A new connection for slot `i` after the server closed the old one. It
/// blocks the load thread while it connects (at most a second): a
/// server that closes after every answer costs the load generator too,
/// and the send lag shows it.
fn open(epoll: &rustix::fd::OwnedFd, addr: SocketAddr, i: usize) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
    epoll::add(epoll, &s, EventData::new_u64(i as u64), flags)?;
    Ok(s)
}

/// Read until the socket is drained (a short read drains it, unless the
/// peer has hung up: then until EOF).
fn read(engine: &mut Engine, i: usize, sock: &TcpStream, buf: &mut [u8], short_read_drains: bool) {
    loop {
        match rustix::io::read(sock.as_fd(), &mut *buf) {
            Ok(0) => {
                let now = engine.clock().raw();
                engine.on_eof(i, now);
                return;
            }
            Ok(n) => {
                let now = engine.clock().raw();
                if engine.on_data(i, &buf[..n], now).is_err() {
                    return;
                }
                if n < buf.len() && short_read_drains {
                    return;
                }
            }
            Err(Errno::AGAIN) => return,
            Err(Errno::INTR) => {}
            Err(_) => {
                engine.on_failed(i, Failure::Reset);
                return;
            }
        }
    }
}

/// Send what the engine has for each dirty connection; close failed ones.
fn flush(engine: &mut Engine, socks: &mut [Option<TcpStream>], dirty: &mut Vec<usize>) {
    for i in dirty.drain(..) {
        if !engine.alive(i) {
            // Dropping the socket closes it.
            socks[i] = None;
            continue;
        }
        let Some(sock) = socks[i].as_ref() else { continue };
        let mut sent = 0;
        let out = engine.output(i);
        while sent < out.len() {
            match rustix::io::write(sock.as_fd(), &out[sent..]) {
                Ok(n) => sent += n,
                // Full: the EPOLLOUT edge brings it back.
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => {}
                Err(_) => {
                    engine.on_failed(i, Failure::Reset);
                    socks[i] = None;
                    sent = 0;
                    break;
                }
            }
        }
        if sent > 0 {
            engine.sent(i, sent);
        }
    }
}
