//! What a run measured: [`Report`], and the open-loop judgements made of
//! it (achieved, offered and sent rates, the shortfall, the send-lag
//! warning). Written by `run`, read by `report` (the summary), `csv_row`
//! (the results row), `capacity` and `sweep`.

use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use protocol::Stats;

use crate::args::{RunArgs, SwitchCost};
use crate::engine::Errors;
use crate::proto::Shape;
use crate::server_stats::PerRequest;

/// Everything a run measured.
pub struct Report {
    pub args: RunArgs,
    pub addr: SocketAddr,
    pub threads: usize,
    pub server_before: Option<Stats>,
    pub server_after: Option<Stats>,
    /// The server's figures per request, over the window (counters read at
    /// its start and its end).
    pub server: Option<PerRequest>,
    /// The load generator's own figures per request, over the window.
    pub client: PerRequest,
    /// The server's system calls per answer received in the window, if
    /// counted.
    pub server_syscalls: Option<crate::syscalls::PerRequest>,
    /// The load threads' system calls per answer, if counted.
    pub client_syscalls: Option<crate::syscalls::PerRequest>,
    /// Corrected latencies of the window's requests, ns.
    pub corrected: Histogram<u64>,
    /// Their raw latencies, ns.
    pub raw: Histogram<u64>,
    /// Send lag of the window's requests (open loop), ns.
    pub lag: Histogram<u64>,
    /// The window's requests answered in time, in the window or after it.
    pub completed: u64,
    /// Of `completed`, answered after the window (in the drain).
    pub late: u64,
    /// Answers received during the window, to any request.
    pub answered_in_window: u64,
    /// Requests the schedule put in the window (closed loop: sent in it).
    pub scheduled: u64,
    /// Requests written during the window.
    pub sent_in_window: u64,
    pub errors: Errors,
    /// Connections opened again after the server closed them.
    pub reconnects: u64,
    /// Answers received during the window by each connection that had a
    /// request outstanding in it or was answered in it, ascending.
    pub answers_per_conn: Vec<u64>,
    /// Connections that had a request outstanding during the window and no
    /// answer from its start to the end of the run.
    pub conns_unanswered: usize,
    /// The measured window, as it ran.
    pub window: Duration,
    /// How long the run went on after the window, waiting for its answers.
    pub drain: Duration,
    pub window_started: std::time::SystemTime,
    /// Why the run is incomplete, if it is.
    pub incomplete: Option<String>,
    pub notes: Vec<String>,
    pub shape: Shape,
    /// The context-switch calibration, if measured or given.
    pub switch_cost: Option<SwitchCost>,
}

/// Open loop falls short when it achieves less than this share of the
/// offered rate.
pub const SHORTFALL_BELOW: f64 = 0.98;

/// The send lag's p99 is worth a warning above this share of the corrected
/// p99: the corrected figure then says as much about the load generator as
/// about the server.
pub const LAG_WARNING_SHARE: f64 = 0.2;

impl Report {
    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Answers received in the window ÷ the window: what the server did.
    pub fn achieved_rate(&self) -> f64 {
        self.per_second(self.answered_in_window)
    }

    /// The window's requests ÷ the window: the schedule (closed loop: what
    /// was sent).
    pub fn offered_rate(&self) -> f64 {
        self.per_second(self.scheduled)
    }

    /// Requests written in the window ÷ the window.
    pub fn sent_rate(&self) -> f64 {
        self.per_second(self.sent_in_window)
    }

    /// Open loop achieved less than [`SHORTFALL_BELOW`] of what it offered.
    pub fn rate_shortfall(&self) -> bool {
        self.args.rate.is_some() && self.achieved_rate() < SHORTFALL_BELOW * self.offered_rate()
    }

    /// Open loop whose send lag p99 is more than [`LAG_WARNING_SHARE`] of
    /// the corrected p99.
    pub fn lag_warning(&self) -> bool {
        self.args.rate.is_some()
            && !self.lag.is_empty()
            && !self.corrected.is_empty()
            && self.lag.value_at_quantile(0.99) as f64
                > LAG_WARNING_SHARE * self.corrected.value_at_quantile(0.99) as f64
    }
}
