//! Reading a server's counters from outside it, so that a load generator on
//! another host can still report the server's CPU time and context switches
//! per request: an rr STATS request, `GET /stats`, or any HTTP request to the
//! server's `--stats-listen` port (the only way for echo). Each read uses a
//! connection of its own, never one of the load's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context as _, bail};
use protocol::rr::{RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader, ResponseKind};
use protocol::{Protocol, Stats};

/// Where a server's counters are read.
#[derive(Clone, Debug)]
pub enum Source {
    /// In band, on the load's address and protocol.
    InBand { addr: SocketAddr, protocol: Protocol },
    /// The server's `--stats-listen` address.
    Side(SocketAddr),
}

impl Source {
    /// `side` if given, else in band; echo has no in-band counters.
    pub fn new(addr: SocketAddr, protocol: Protocol, side: Option<SocketAddr>) -> Option<Source> {
        match (side, protocol) {
            (Some(side), _) => Some(Source::Side(side)),
            (None, Protocol::Echo) => None,
            (None, protocol) => Some(Source::InBand { addr, protocol }),
        }
    }

    pub fn read(&self) -> anyhow::Result<Stats> {
        let (addr, what) = match self {
            Source::InBand { addr, protocol } => (*addr, format!("{protocol} counters from {addr}")),
            Source::Side(addr) => (*addr, format!("counters from the stats port {addr}")),
        };
        read(self, addr).with_context(|| format!("cannot read the server's {what}"))
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn read(source: &Source, addr: SocketAddr) -> anyhow::Result<Stats> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let json = match source {
        Source::InBand { protocol: Protocol::Rr, .. } => {
            s.write_all(&RequestHeader::stats(u64::MAX).encode())?;
            let mut head = [0u8; RESPONSE_HEADER_LEN];
            s.read_exact(&mut head).context("no rr answer (is the server speaking rr?)")?;
            let h = ResponseHeader::decode(&head)
                .map_err(|e| anyhow::anyhow!("not an rr server ({e}); check --protocol"))?;
            if h.kind != ResponseKind::Stats {
                bail!("the server answered STATS with a {:?} frame", h.kind);
            }
            let mut json = vec![0; h.payload_len as usize];
            s.read_exact(&mut json)?;
            json
        }
        Source::InBand { protocol: Protocol::Http, .. } | Source::Side(_) => {
            s.write_all(b"GET /stats HTTP/1.1\r\nHost: ringside\r\nConnection: close\r\n\r\n")?;
            http_body(&mut BufReader::new(s))?
        }
        Source::InBand { protocol: Protocol::Echo, .. } => {
            bail!("echo carries no counters; pass --stats with the server's --stats-listen address")
        }
    };
    Stats::from_json(&json).map_err(|e| match source {
        Source::InBand { protocol: Protocol::Http, .. } => {
            NotRingside(format!("its GET /stats answer is not ringside's counters ({e})")).into()
        }
        _ => anyhow::anyhow!("{e}"),
    })
}

/// An http server that answers, but not with ringside's counters: a
/// server that is not ringside's.
#[derive(Debug)]
pub struct NotRingside(pub String);

impl std::fmt::Display for NotRingside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for NotRingside {}

fn http_body(r: &mut impl BufRead) -> anyhow::Result<Vec<u8>> {
    let mut status = String::new();
    r.read_line(&mut status).context("no http answer (is the server speaking http?)")?;
    if !status.starts_with("HTTP/1.") {
        bail!("not an http answer: {:?}; check --protocol", status.trim_end());
    }
    if status.get(9..12) != Some("200") {
        return Err(NotRingside(format!("it answered GET /stats with {:?}", status.trim_end())).into());
    }
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            bail!("the connection closed inside the http head");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = Some(value.trim().parse::<usize>().context("bad Content-Length")?);
        }
    }
    let mut body = vec![0; length.context("no Content-Length")?];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// What changed between two readings, per request the server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PerRequest {
    pub requests: u64,
    pub cpu_user_us: f64,
    pub cpu_sys_us: f64,
    pub vcs: f64,
    pub ics: f64,
}

impl PerRequest {
    /// Per request of `requests` (the server's own count when it has one;
    /// the load generator's for echo).
    pub fn between(before: &Stats, after: &Stats, requests: u64) -> PerRequest {
        let n = requests.max(1) as f64;
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64 / n;
        PerRequest {
            requests,
            cpu_user_us: d(before.cpu_user_us, after.cpu_user_us),
            cpu_sys_us: d(before.cpu_sys_us, after.cpu_sys_us),
            vcs: d(before.ctx_voluntary, after.ctx_voluntary),
            ics: d(before.ctx_involuntary, after.ctx_involuntary),
        }
    }

    pub fn cpu_us(&self) -> f64 {
        self.cpu_user_us + self.cpu_sys_us
    }
}

/// The load generator's own CPU time and switches, as `Stats` fields.
pub fn own_usage() -> Stats {
    let mut s = Stats::default();
    if let Ok(u) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
        s.cpu_user_us = us(u.user_time());
        s.cpu_sys_us = us(u.system_time());
        s.ctx_voluntary = u.voluntary_context_switches() as u64;
        s.ctx_involuntary = u.involuntary_context_switches() as u64;
    }
    s
}
