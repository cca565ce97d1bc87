//! Redis's own figures, from `INFO` over a plain socket: the memory it uses for data
//! (`used_memory`) and its PID (for its RSS and CPU time from /proc). One command and one
//! bulk reply: not worth a Redis client crate in the bench.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::proc_stats;

/// The figures read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisInfo {
    /// Bytes Redis's allocator holds for data (`used_memory`).
    pub used_memory: Option<u64>,
    /// `process_id`.
    pub pid: Option<u32>,
}

impl RedisInfo {
    /// The RSS of Redis's process now, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(proc_stats::rss_kib)
    }

    /// The fields of an `INFO` reply.
    fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        Self {
            used_memory: field("used_memory").and_then(|v| v.parse().ok()),
            pid: field("process_id").and_then(|v| v.parse().ok()),
        }
    }
}

/// Asks the Redis at `addr` for `INFO`.
///
/// # Errors
/// Redis cannot be reached in 5 s, or answered something else than a bulk string.
pub async fn read(addr: SocketAddr) -> Result<RedisInfo, String> {
    tokio::time::timeout(Duration::from_secs(5), ask(addr))
        .await
        .map_err(|_| format!("Redis at {addr} did not answer INFO within 5 s"))?
        .map_err(|e| format!("Redis at {addr}: {e}"))
}

async fn ask(addr: SocketAddr) -> Result<RedisInfo, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"*1\r\n$4\r\nINFO\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    reader
        .read_line(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.trim().parse().ok())
        .filter(|&n| n <= 1 << 20)
        .ok_or_else(|| format!("not an INFO reply: {head:?}"))?;
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(RedisInfo::parse(&String::from_utf8_lossy(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_read() {
        let info = RedisInfo::parse(
            "# Server\r\nredis_version:7.0.15\r\nprocess_id:4242\r\n# Memory\r\n\
             used_memory:1048576\r\nused_memory_human:1.00M\r\n",
        );
        assert_eq!(info.used_memory, Some(1_048_576));
        assert_eq!(info.pid, Some(4242));
        assert_eq!(RedisInfo::parse("nothing"), RedisInfo::default());
    }
}
