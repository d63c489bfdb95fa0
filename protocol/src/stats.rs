//! The server counters every backend keeps, as carried by an rr STATS
//! response and `GET /stats` (the same JSON document in both), and printed
//! when the server stops. Field meanings are in `docs/PROTOCOL.md`.

use serde::{Deserialize, Serialize};

/// Version of the [`Stats`] document. Raised when a field changes meaning or
/// disappears; adding a field does not raise it (readers ignore unknown
/// fields).
pub const STATS_SCHEMA: u32 = 1;

/// A snapshot of a server's counters. Counts are totals since the server
/// started, so a client reads them before and after a measured window and
/// subtracts. A request is counted before its answer is sent; a STATS
/// request pipelined behind other requests in the same batch of input does
/// not see those yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// [`STATS_SCHEMA`] of the server that wrote it.
    pub schema: u32,
    /// Backend name, as given to `--backend`.
    pub backend: String,
    /// The backend's effective options, `key=value` separated by spaces.
    pub options: String,
    /// `echo`, `rr` or `http`.
    pub protocol: String,
    /// Server process id.
    pub pid: u32,
    /// Microseconds since the server process set up its counters (just
    /// before it starts listening).
    pub uptime_us: u64,
    /// Requests answered successfully (STATS and error responses excluded;
    /// always 0 for echo, which has no request boundaries).
    pub requests: u64,
    /// Bytes received from and sent to clients, over all connections.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Connections accepted since start.
    pub conns_accepted: u64,
    /// Connections accepted and not yet closed (including waiting ones).
    pub conns_open: u64,
    /// Connections closed because the peer broke the protocol (an error
    /// response was sent) or ended its stream in the middle of a request,
    /// and (thread-per-conn) connections closed at once because no thread
    /// could be started for them.
    pub conns_closed_error: u64,
    /// Connections that failed with an I/O error, almost always a reset by
    /// the peer (a load generator that exits with requests in flight resets
    /// its connections; that is counted here, not as a protocol error).
    pub conns_reset: u64,
    /// Connections accepted but not yet given to a thread that serves them
    /// (the thread pool's queue); and the most there have been at once.
    pub conns_waiting: u64,
    pub conns_waiting_max: u64,
    /// Process CPU time, all threads (including exited ones), from
    /// `getrusage(RUSAGE_SELF)`.
    pub cpu_user_us: u64,
    pub cpu_sys_us: u64,
    /// Process context switches, all threads (including exited ones), from
    /// `getrusage(RUSAGE_SELF)`: voluntary (blocked, yielded) and involuntary
    /// (preempted).
    pub ctx_voluntary: u64,
    pub ctx_involuntary: u64,
    /// Threads in the server process now.
    pub threads: u64,
}

impl Stats {
    /// The JSON document, one line, no trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain integers and strings into a Vec cannot fail.
        serde_json::to_vec(self).expect("Stats serialises to JSON")
    }

    /// Parse a document written by [`to_json`](Self::to_json). Unknown fields
    /// are ignored; a missing field or another schema is an error.
    pub fn from_json(json: &[u8]) -> Result<Stats, String> {
        let stats: Stats = serde_json::from_slice(json).map_err(|e| format!("bad stats document: {e}"))?;
        if stats.schema != STATS_SCHEMA {
            return Err(format!("stats schema {} is not the supported {STATS_SCHEMA}", stats.schema));
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_checks_the_schema() {
        let s = Stats {
            schema: STATS_SCHEMA,
            backend: "thread-pool".into(),
            options: "threads=4".into(),
            requests: 7,
            ..Stats::default()
        };
        assert_eq!(Stats::from_json(&s.to_json()), Ok(s.clone()));
        let other = Stats { schema: 99, ..s };
        assert!(Stats::from_json(&other.to_json()).unwrap_err().contains("schema 99"));
        assert!(Stats::from_json(b"{}").is_err());
    }
}
