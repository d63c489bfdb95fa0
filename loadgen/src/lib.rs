//! loadgen: the load generator that drives every ringside backend — pinned
//! threads, closed and open loop, latency from the intended send time in HDR
//! histograms, and the server's and its own CPU and context switches per
//! request.
//!
//! `unsafe` is denied here except in [`drive_uring`], whose submissions
//! lend the kernel buffers and which unregisters the buffer ring once
//! nothing is in flight.

#![deny(unsafe_code)]

pub mod args;
pub mod capacity;
pub mod csv_row;
pub mod ctxsw;
pub mod drive_epoll;
#[allow(unsafe_code)]
pub mod drive_uring;
pub mod engine;
pub mod fmt;
pub mod hlog;
pub mod json;
pub mod measured;
mod proc_usage;
pub mod proto;
pub mod report;
pub mod run;
pub mod server_stats;
pub mod sweep;
pub mod syscalls;
