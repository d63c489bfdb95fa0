//! `thread-per-conn`: one OS thread per connection, blocking std sockets.
//!
//! An acceptor thread accepts and spawns a thread (small explicit stack,
//! [`STACK_SIZE`](super::blocking::STACK_SIZE)) for each connection, which
//! serves it until it closes and exits. Threads are pinned round robin to
//! `--cores`.
//!
//! Blocking work (the rr sleep) blocks only the connection it belongs to:
//! the other connections have their own threads. The price is paid elsewhere:
//! a thread, a stack and a kernel task per connection, and a context switch
//! every time a connection waits for data. With many connections on few
//! CPUs, that is most of the CPU time per request.
//!
//! If a thread cannot be created (a thread or memory limit), the connection
//! is closed and counted in `conns_closed_error`; the first such failure is
//! reported on stderr.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::{Context as _, bail};

use super::blocking::{self, Buffers, STACK_SIZE};
use crate::backend::{Backend, Context, Registration};
use crate::config::{Config, no_args};
use crate::counters::Closed;

pub const REGISTRATION: Registration = Registration {
    name: "thread-per-conn",
    summary: "one blocking thread per connection",
    args: no_args,
    build,
};

fn build(_: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    if config.threads.is_some() {
        bail!("--threads does not apply to thread-per-conn: it runs one thread per connection");
    }
    Ok(Box::new(ThreadPerConn))
}

struct ThreadPerConn;

impl Backend for ThreadPerConn {
    fn options(&self) -> String {
        format!("stack={STACK_SIZE}")
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        let listener = ctx.listen()?;
        let addr = listener.local_addr()?;
        let acceptor = ctx.clone();
        thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || {
                if let Err(e) = accept_loop(&listener, &acceptor) {
                    acceptor.shutdown().fail(e);
                }
            })
            .context("cannot start the acceptor thread")?;
        ctx.ready(addr);
        ctx.shutdown().wait()
    }
}

fn accept_loop(listener: &TcpListener, ctx: &Context) -> anyhow::Result<()> {
    ctx.pin(0)?;
    let spawn_failed = AtomicBool::new(false);
    let mut next = 0usize;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                if let Some(pause) = super::accept_error(e)? {
                    std::thread::sleep(pause);
                }
                continue;
            }
        };
        if ctx.shutdown().is_triggered() {
            return Ok(());
        }
        ctx.counters().accepted();
        let conn = ctx.clone();
        let index = next;
        next = next.wrapping_add(1);
        // Named, or it would show as `acceptor` (the name a thread inherits)
        // in `top -H`, `ps -L` and perf's per-thread reports.
        let spawned =
            thread::Builder::new().name(format!("conn-{index}")).stack_size(STACK_SIZE).spawn(move || {
                if let Err(e) = conn.pin(index) {
                    conn.counters().closed(Closed::Error);
                    conn.shutdown().fail(e);
                    return;
                }
                let recorder = conn.counters().recorder();
                let mut host = conn.host();
                let mut buffers = Buffers::new();
                blocking::serve(stream, &conn, &mut host, &recorder, &mut buffers);
            });
        if let Err(e) = spawned {
            // The stream moved into the closure that was never run and has
            // been dropped (closed) with it.
            ctx.counters().closed(Closed::Error);
            if !spawn_failed.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "ringside-server: thread-per-conn: cannot start a thread for a new connection ({e}); closing it. \
                     Later failures are only counted in conns_closed_error. Raise the thread limit \
                     (ulimit -u, kernel.threads-max) or memory."
                );
            }
        }
    }
}
