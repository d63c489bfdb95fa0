//! `--stats-listen`: the counters as JSON over HTTP on a port of their own,
//! served by one thread outside the backend under test.
//!
//! rr and http carry the counters in-band (STATS, `GET /stats`); echo cannot,
//! so this is how a client reads an echo server's counters, and how anyone
//! reads them without going through the backend being measured. Every
//! request, whatever it says, gets the counters and the connection closes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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
            for stream in listener.incoming().flatten() {
                // One slow or broken client must not stop the others for long.
                let _ = answer(stream, &counters);
            }
        })
        .context("cannot start the stats thread")?;
    Ok(local)
}

fn answer(mut stream: TcpStream, counters: &Counters) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    // Read the request head (up to 8 KiB) so closing does not reset it.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut buf)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let json = counters.snapshot().to_json();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        json.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&json)?;
    stream.shutdown(std::net::Shutdown::Write)
}
