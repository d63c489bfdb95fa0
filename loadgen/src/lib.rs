//! loadgen: the load generator that drives every ringside backend — pinned
//! threads, closed and open loop, latency from the intended send time in HDR
//! histograms, and the server's and its own CPU and context switches per
//! request.

pub mod capacity;
pub mod csv_row;
pub mod ctxsw;
pub mod drive_epoll;
pub mod drive_uring;
pub mod engine;
mod proc_usage;
pub mod proto;
pub mod report;
pub mod run;
pub mod server_stats;
pub mod sweep;
