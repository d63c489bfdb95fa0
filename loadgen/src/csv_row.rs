//! A run's report as one row of the results CSV (the `results` crate owns
//! the schema).

use results::hdr::LatencyColumns;

use crate::args::{ArrivalArg, describe_work};
use crate::measured::Report;

/// What a row needs beyond the report.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub run_id: String,
    pub repetition: u32,
    /// The server's CPUs, when the caller started the server.
    pub server_cores: String,
    pub ctxsw_same_cpu_ns: f64,
    pub ctxsw_cross_cpu_ns: f64,
}

/// ringside's revision, as built (`platform`'s build script).
pub use platform::GIT_REV;

pub fn host() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default()
}

pub fn kernel() -> String {
    rustix::system::uname().release().to_string_lossy().into_owned()
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_default()
}

/// Estimated share of the server's CPU per request spent switching (see
/// [`crate::ctxsw::switch_share_pct`]); 0 when it cannot be estimated (no
/// calibration, no CPU time), since the CSV holds no NaN.
pub fn switch_share_pct(vcs: f64, ics: f64, cpu_us: f64, same_cpu_ns: f64) -> f64 {
    let share = crate::ctxsw::switch_share_pct(vcs + ics, cpu_us, same_cpu_ns);
    if share.is_finite() { share } else { 0.0 }
}

pub fn row(r: &Report, ctx: &Context) -> results::Row {
    let a = &r.args;
    let (lat, raw, lag) =
        (LatencyColumns::of(&r.corrected), LatencyColumns::of(&r.raw), LatencyColumns::of(&r.lag));
    let server = r.server.unwrap_or_default();
    let mut notes = r.notes.clone();
    if let Some(why) = &r.incomplete {
        notes.insert(0, format!("incomplete: {why}"));
    }
    if r.rate_shortfall() {
        notes.push(format!(
            "achieved rate more than {:.0}% below the offered",
            100.0 * (1.0 - crate::measured::SHORTFALL_BELOW)
        ));
    }
    let (backend, backend_options) =
        r.server_before.as_ref().map(|s| (s.backend.clone(), s.options.clone())).unwrap_or_default();
    let server_requests = match (&r.server, &r.server_before, &r.server_after) {
        (Some(_), Some(b), Some(a)) => a.requests.saturating_sub(b.requests),
        _ => 0,
    };
    let (request_bytes, response_bytes) = payload_bytes(a.protocol, a.request_bytes, a.response_bytes);
    results::Row {
        schema: results::SCHEMA_VERSION,
        timestamp: results::timestamp_utc(r.window_started),
        run_id: ctx.run_id.clone(),
        repetition: ctx.repetition,
        // A plain run; a sweep's capacity search sets these.
        phase: results::Phase::Run,
        slo: String::new(),
        git_rev: GIT_REV.to_string(),
        host: host(),
        kernel: kernel(),
        cpu_model: cpu_model(),
        backend,
        backend_options,
        protocol: a.protocol,
        server_cores: ctx.server_cores.clone(),
        client_cores: a.cores.as_ref().map(|c| cpu_list(&c.0)).unwrap_or_default(),
        client_threads: r.threads as u32,
        connections: a.connections,
        pipeline: a.pipeline,
        mode: if a.rate.is_some() { results::Mode::Open } else { results::Mode::Closed },
        arrival: match (a.rate, a.arrival) {
            (None, _) => results::Arrival::None,
            (Some(_), ArrivalArg::Poisson) => results::Arrival::Poisson,
            (Some(_), ArrivalArg::Uniform) => results::Arrival::Uniform,
        },
        target_rate: a.rate.unwrap_or(0.0),
        offered_rate: r.offered_rate(),
        sent_rate: r.sent_rate(),
        achieved_rate: r.achieved_rate(),
        rate_shortfall: r.rate_shortfall(),
        request_bytes,
        response_bytes,
        work: describe_work(a.work),
        warmup_s: a.warmup.as_secs_f64(),
        duration_s: r.window.as_secs_f64(),
        requests: r.completed,
        answered_late: r.late,
        drain_s: r.drain.as_secs_f64(),
        errors_connect: r.errors.connect,
        errors_reset: r.errors.reset,
        errors_timeout: r.errors.timeout,
        errors_bad_response: r.errors.bad_response,
        errors_http_3xx: r.errors.http_3xx,
        errors_http_4xx: r.errors.http_4xx,
        errors_http_5xx: r.errors.http_5xx,
        conns_unanswered: r.conns_unanswered as u64,
        conn_answers_min: r.answers_per_conn.first().copied().unwrap_or(0),
        conn_answers_max: r.answers_per_conn.last().copied().unwrap_or(0),
        reconnects: r.reconnects,
        complete: r.incomplete.is_none(),
        note: notes.join("; "),
        lat_p50_us: lat.p50_us,
        lat_p90_us: lat.p90_us,
        lat_p99_us: lat.p99_us,
        lat_p999_us: lat.p999_us,
        lat_p9999_us: lat.p9999_us,
        lat_max_us: lat.max_us,
        lat_mean_us: lat.mean_us,
        raw_p50_us: raw.p50_us,
        raw_p90_us: raw.p90_us,
        raw_p99_us: raw.p99_us,
        raw_p999_us: raw.p999_us,
        raw_p9999_us: raw.p9999_us,
        raw_max_us: raw.max_us,
        raw_mean_us: raw.mean_us,
        send_lag_p50_us: lag.p50_us,
        send_lag_p99_us: lag.p99_us,
        send_lag_max_us: lag.max_us,
        server_cpu_user_us: server.cpu_user_us,
        server_cpu_sys_us: server.cpu_sys_us,
        server_vcs: server.vcs,
        server_ics: server.ics,
        server_requests,
        server_syscalls: r.server_syscalls.as_ref().map(|p| p.total),
        server_syscalls_by_name: by_name(r.server_syscalls.as_ref()),
        client_cpu_user_us: r.client.cpu_user_us,
        client_cpu_sys_us: r.client.cpu_sys_us,
        client_vcs: r.client.vcs,
        client_ics: r.client.ics,
        client_syscalls: r.client_syscalls.as_ref().map(|p| p.total),
        client_syscalls_by_name: by_name(r.client_syscalls.as_ref()),
        ctxsw_same_cpu_ns: ctx.ctxsw_same_cpu_ns,
        ctxsw_cross_cpu_ns: ctx.ctxsw_cross_cpu_ns,
        switch_share_pct: switch_share_pct(server.vcs, server.ics, server.cpu_us(), ctx.ctxsw_same_cpu_ns),
        hlog: a.hlog.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
    }
}

/// A breakdown's cell: empty when the calls were not counted (a counted
/// breakdown always names at least `other`).
fn by_name(p: Option<&crate::syscalls::PerRequest>) -> String {
    p.map(|p| results::syscalls::format(&p.by_name)).unwrap_or_default()
}

/// The `request_bytes` and `response_bytes` columns as the schema defines
/// them: echo answers what it got; an http GET has no body and its answer's
/// body is `Hello, World!`; rr sends and asks for what the run says.
fn payload_bytes(protocol: protocol::Protocol, request: u32, response: u32) -> (u64, u64) {
    match protocol {
        protocol::Protocol::Echo => (u64::from(request), u64::from(request)),
        protocol::Protocol::Rr => (u64::from(request), u64::from(response)),
        protocol::Protocol::Http => (0, protocol::http::HELLO.len() as u64),
    }
}

/// CPUs as `0,2-3`.
pub fn cpu_list(cores: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cores.len() {
        let mut j = i;
        while j + 1 < cores.len() && cores[j + 1] == cores[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cores[i].to_string() } else { format!("{}-{}", cores[i], cores[j]) });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_switch_share() {
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        use protocol::Protocol::{Echo, Http, Rr};
        assert_eq!(payload_bytes(Echo, 64, 128), (64, 64));
        assert_eq!(payload_bytes(Rr, 64, 128), (64, 128));
        assert_eq!(payload_bytes(Http, 64, 128), (0, 13));
        assert_eq!(switch_share_pct(1.0, 0.0, 8.0, 2000.0), 25.0);
        assert_eq!(switch_share_pct(1.0, 0.0, 0.0, 2000.0), 0.0);
    }
}
