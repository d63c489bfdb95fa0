//! `--stats-listen`: the counters as JSON over HTTP on a port of their own,
//! served by one thread outside the backend under test.
//!
//! rr and http carry the counters in-band (STATS, `GET /stats`); echo cannot,
//! so this is how a client reads an echo server's counters, and how anyone
//! reads them without going through the backend being measured. Every
//! request, whatever it says, gets the counters and the connection closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::counters::Counters;

/// Listen on `addr` and serve the counters from a thread of their own;
/// return the address actually bound.
pub fn spawn(addr: SocketAddr, counters: Arc<Counters>) -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("--stats-listen: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    // One slow or broken client must not stop the others for long.
                    Ok(stream) => _ = answer(stream, &counters),
                    // Out of descriptors: the serving threads report it; this
                    // one just must not spin.
                    Err(_) => std::thread::sleep(crate::backends::ACCEPT_PAUSE),
                }
            }
        })
        .context("cannot start the stats thread")?;
    Ok(local)
}

/// Longest a client may take to send its request and read the answer.
const DEADLINE: Duration = Duration::from_secs(1);

fn answer(mut stream: TcpStream, counters: &Counters) -> std::io::Result<()> {
    // Read the request head (up to 8 KiB, ended by an empty line with CRLF
    // or bare LF line ends) so that closing does not reset it; a client that
    // trickles bytes gets one second in all, not one per byte.
    let deadline = Instant::now() + DEADLINE;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !ends_head(&head) && head.len() < 8192 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            // Out of time, or the client stopped sending: answer anyway.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => return Err(e),
        }
    }
    stream.set_write_timeout(Some(DEADLINE))?;
    let json = counters.snapshot().to_json();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        json.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&json)?;
    stream.shutdown(std::net::Shutdown::Write)
}

fn ends_head(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}
