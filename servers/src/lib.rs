//! servers: the server designs ringside compares, each behind the one
//! [`Backend`](backend::Backend) trait, all serving the same `protocol` core.
//!
//! [`serve`] is the runtime around a backend: counters, signals, the
//! `listening on` line and the final report. Backends live in [`backends`];
//! the command line in [`config`].
//!
//! `unsafe` is denied here except in the io_uring backend's event loop
//! (`backends::uring`), whose submissions hand the kernel buffers that
//! must outlive them.

#![deny(unsafe_code)]

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub mod backend;
pub mod backends;
pub mod config;
pub mod counters;
pub mod stats_listener;

use backend::{Backend, Context, Shutdown};
use config::Config;
use counters::{Counters, RunInfo};

/// Run `backend` until SIGINT or SIGTERM (or until it fails), then print
/// `stopped: <counters as JSON>` on stdout. A second signal exits at once.
pub fn serve(config: Config, backend: Box<dyn Backend>) -> anyhow::Result<()> {
    let mut options = backend.options();
    // Added work is the runtime's, not the backend's, but it changes what
    // is measured, so a results row must show it.
    if let Some(work) = config.protocol.request_work {
        options = format!("{options} request_work={work}").trim_start().to_string();
    }
    let info = RunInfo { backend: config.backend.to_string(), options, protocol: config.protocol.protocol };
    let counters = Counters::new(info);
    let shutdown = Shutdown::new().context("cannot create the shutdown socket")?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let on_signal = shutdown.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            if signals.next().is_some() {
                on_signal.trigger();
            }
            if signals.next().is_some() {
                eprintln!("ringside-server: second signal, exiting without waiting");
                std::process::exit(130);
            }
        })
        .context("cannot start the signal thread")?;
    if let Some(addr) = config.stats_listen {
        let bound = stats_listener::spawn(addr, Arc::clone(&counters))?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}{bound}", platform::server::STATS_ON);
        let _ = out.flush();
    }
    let ctx = Context::new(Arc::new(config), Arc::clone(&counters), shutdown);
    let result = backend.run(ctx.clone());
    if !ctx.is_ready() {
        // It never served: there are no counters worth reporting.
        return result;
    }
    let json = counters.snapshot().to_json();
    let mut out = std::io::stdout().lock();
    // A closed stdout is not an error worth failing the run for.
    let _ = out.write_all(platform::server::STOPPED.as_bytes());
    let _ = out.write_all(&json);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    result
}
