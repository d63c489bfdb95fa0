//! `thread-pool`: a fixed pool of `--threads` blocking workers fed by an
//! acceptor through a bounded queue.
//!
//! The acceptor accepts connections and pushes them onto a queue of
//! `--queue` slots; each worker takes one, serves it until it closes, then
//! takes the next. This is the classic pooled blocking server (a servlet
//! container's connector, a `ThreadPoolExecutor` with a bounded queue).
//!
//! Its defining behaviour, shown rather than hidden: **a connection is held
//! by a worker for its whole life**, so when more connections are open than
//! there are workers, the extra ones wait in the queue, accepted but unserved,
//! until a worker's connection closes. The counters show it:
//! `conns_waiting` (now) and `conns_waiting_max`. When the queue is full too,
//! the acceptor blocks and new connections wait in the kernel's listen
//! backlog, where no counter sees them (clients see them connected but
//! unanswered). A load generator with more keep-alive connections than
//! workers therefore sees some connections starve: size `--threads` to the
//! connection count to compare designs at equal concurrency, or keep it small
//! to measure the queueing.
//!
//! Blocking work (the rr sleep) blocks one worker and therefore every
//! connection queued behind the ones the pool is serving.
//!
//! Default: 64 workers (a pool sized for blocking handlers, not for CPUs)
//! and a 1024-slot queue. Workers and the acceptor are pinned round robin to
//! `--cores`.

use std::net::{TcpListener, TcpStream};
use std::thread;

use anyhow::{Context as _, bail};
use clap::Args;
use crossbeam_channel::{Receiver, Sender};

use super::blocking::{self, Buffers, STACK_SIZE};
use crate::backend::{Backend, Context, Registration};
use crate::config::{Config, backend_args};

pub const REGISTRATION: Registration = Registration {
    name: "thread-pool",
    summary: "a fixed pool of blocking workers fed through a bounded queue",
    args: <PoolArgs as clap::Args>::augment_args,
    build,
};

/// Workers when `--threads` is not given.
const DEFAULT_THREADS: usize = 64;

#[derive(Args, Debug)]
#[command(next_help_heading = "thread-pool options")]
struct PoolArgs {
    /// Connections accepted but not yet taken by a worker that the queue
    /// holds; beyond it the acceptor blocks and connections wait in the
    /// kernel's listen backlog.
    #[arg(long, default_value_t = 1024, value_name = "SLOTS")]
    queue: usize,
}

/// Bounds that keep a typo from exhausting memory or threads.
const MAX_THREADS: usize = 10_000;
const MAX_QUEUE: usize = 1 << 20;

fn build(matches: &clap::ArgMatches, config: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let args: PoolArgs = backend_args(matches)?;
    if args.queue == 0 || args.queue > MAX_QUEUE {
        bail!("--queue must be between 1 and {MAX_QUEUE}");
    }
    if config.threads.is_some_and(|t| t > MAX_THREADS) {
        bail!("thread-pool: --threads must be at most {MAX_THREADS}");
    }
    Ok(Box::new(ThreadPool { threads: config.threads.unwrap_or(DEFAULT_THREADS), queue: args.queue }))
}

struct ThreadPool {
    threads: usize,
    queue: usize,
}

impl Backend for ThreadPool {
    fn options(&self) -> String {
        format!("threads={} queue={} stack={STACK_SIZE}", self.threads, self.queue)
    }

    fn run(self: Box<Self>, ctx: Context) -> anyhow::Result<()> {
        let listener = ctx.listen()?;
        let addr = listener.local_addr()?;
        let (tx, rx) = crossbeam_channel::bounded::<TcpStream>(self.queue);
        for index in 0..self.threads {
            let (rx, worker) = (rx.clone(), ctx.clone());
            thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    if let Err(e) = work(index, &rx, &worker) {
                        worker.shutdown().fail(e);
                    }
                })
                .with_context(|| format!("cannot start worker {index} of {}", self.threads))?;
        }
        let acceptor = ctx.clone();
        thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || {
                if let Err(e) = accept_loop(&listener, &tx, &acceptor) {
                    acceptor.shutdown().fail(e);
                }
            })
            .context("cannot start the acceptor thread")?;
        ctx.ready(addr);
        ctx.shutdown().wait()
    }
}

fn accept_loop(listener: &TcpListener, tx: &Sender<TcpStream>, ctx: &Context) -> anyhow::Result<()> {
    ctx.pin(0)?;
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
        ctx.counters().waiting();
        // Blocks while the queue is full: that is the pool's back-pressure.
        if tx.send(stream).is_err() {
            bail!("every thread-pool worker has stopped");
        }
    }
}

fn work(index: usize, rx: &Receiver<TcpStream>, ctx: &Context) -> anyhow::Result<()> {
    ctx.pin(index)?;
    let recorder = ctx.counters().recorder();
    let mut host = ctx.host();
    let mut buffers = Buffers::new();
    for stream in rx {
        ctx.counters().stopped_waiting();
        blocking::serve(stream, ctx, &mut host, &recorder, &mut buffers);
    }
    Ok(())
}
