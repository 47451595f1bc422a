//! Kept-alive connections: opened with a timeout and `TCP_NODELAY`, kept
//! idle per `host:port` (most recent last, at most [`IDLE_PER_HOST`], for
//! [`IDLE_FOR`]), and checked still open before reuse.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::wire::Failure;

/// Idle connections kept per host.
const IDLE_PER_HOST: usize = 64;
/// How long an idle connection is kept.
const IDLE_FOR: Duration = Duration::from_secs(30);

/// Open a connection to `host:port` within `timeout`.
pub(crate) async fn open(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, Failure> {
    let connect = TcpStream::connect((host, port));
    let conn = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| Failure::Connect(io::ErrorKind::TimedOut.into()))?
        .map_err(Failure::Connect)?;
    conn.set_nodelay(true).map_err(Failure::Connect)?;
    Ok(conn)
}

/// Kept-alive connections by `host:port`, most recent last.
#[derive(Debug, Default)]
pub(crate) struct Idle(Mutex<HashMap<String, Vec<(TcpStream, Instant)>>>);

impl Idle {
    /// The most recently used idle connection to `key` that is still open.
    pub(crate) fn checkout(&self, key: &str) -> Option<TcpStream> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(key)?;
        while let Some((conn, since)) = conns.pop() {
            if since.elapsed() < IDLE_FOR && still_open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    pub(crate) fn checkin(&self, key: String, conn: TcpStream) {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(key).or_default();
        conns.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        if conns.len() < IDLE_PER_HOST {
            conns.push((conn, Instant::now()));
        }
    }
}

/// True when nothing (no data, no end of stream) is waiting on an idle
/// connection: a server that closed it, or wrote out of turn, disqualifies it.
fn still_open(conn: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local.
    let n = unsafe {
        libc::recv(
            conn.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}
