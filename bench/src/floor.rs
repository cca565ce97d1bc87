//! The floor: a minimal broadcast server on tokio-tungstenite, with the relay's socket
//! settings and none of its application logic (no JSON, no sessions, no store).
//!
//! It answers "what does this machine allow?": the same load against the floor and against
//! Courier, in the same run of the same bench, turns Courier's figures into ratios that do
//! not depend on how fast the machine is.
//!
//! Protocol: connect to `/ws?room=NAME`; the floor answers the text frame `joined` once the
//! connection is in the room; from then on every text frame a client sends goes, as the same
//! shared bytes, to every connection of the room, the sender included. Like the relay, each
//! connection has a bounded queue drained by its own writer task in bursts, and a connection
//! whose queue is full is dropped rather than waited for. Unlike the relay, it does not ping.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async_with_config};

use shared::limits::MAX_MESSAGE_BYTES;

/// The frame the floor sends once a connection is in its room.
pub const JOINED: &str = "joined";

/// Frames written in one flush at most (the relay's `MAX_BURST`).
const MAX_BURST: usize = 64;
/// Connections waiting to be accepted (the relay's `listen(1024)`).
const LISTEN_BACKLOG: u32 = 1024;
/// How long the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one burst may take to write (the relay's default ping timeout).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long connections get to close at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The floor's socket settings: the relay's flags of the same names.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    pub read_buffer: usize,
    pub write_buffer: usize,
    pub queue_frames: usize,
}

impl Default for FloorConfig {
    /// The relay's defaults.
    fn default() -> Self {
        Self {
            read_buffer: 4096,
            write_buffer: 4096,
            queue_frames: 256,
        }
    }
}

impl FloorConfig {
    /// The WebSocket settings, built exactly as the relay builds its own (backend/src/server.rs).
    fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(self.write_buffer)
            .max_write_buffer_size(self.write_buffer + 2 * MAX_MESSAGE_BYTES)
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES))
    }
}

type Frame = Utf8Bytes;

/// Each room's members: connection id and queue.
type RoomMap = HashMap<String, Vec<(u64, mpsc::Sender<Frame>)>>;

/// The rooms and their members' queues.
#[derive(Default)]
struct Rooms {
    rooms: Mutex<RoomMap>,
    next_id: AtomicU64,
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, RoomMap> {
        // Nothing panics while holding the lock; if something did, the map is still sound.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, room: &str, tx: mpsc::Sender<Frame>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(room.to_owned())
            .or_default()
            .push((id, tx));
        id
    }

    fn leave(&self, room: &str, id: u64) {
        let mut rooms = self.lock();
        if let Some(members) = rooms.get_mut(room) {
            members.retain(|(member, _)| *member != id);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Queues `frame` on every member of `room` without waiting; a member whose queue is full
    /// is dropped from the room (its writer then ends), as the relay closes a slow reader.
    fn broadcast(&self, room: &str, frame: &Frame) {
        let mut rooms = self.lock();
        if let Some(members) = rooms.get_mut(room) {
            members.retain(|(_, tx)| tx.try_send(frame.clone()).is_ok());
        }
    }

    /// Drops every queue: every writer finishes what it has and closes.
    fn clear(&self) {
        self.lock().clear();
    }
}

/// Binds `addr` (loopback only) as the relay binds its own.
///
/// # Errors
/// A non-loopback address, or the bind error.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    crate::net::check_loopback(addr)?;
    let fail = |e: std::io::Error| format!("bind {addr}: {e}");
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    // Linux passes TCP_NODELAY on to every accepted socket.
    socket.set_nodelay(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    // The relay's backlog. tokio's `TcpListener::bind` uses 128, which a burst of connects
    // overflows, and each connection dropped from the queue then waits a second for a SYN
    // retransmit.
    socket.listen(LISTEN_BACKLOG).map_err(fail)
}

/// Serves until `shutdown` completes, then closes every connection (bounded by a grace).
pub async fn serve(listener: TcpListener, config: FloorConfig, shutdown: impl Future<Output = ()>) {
    let rooms = Arc::new(Rooms::default());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(tcp, config, rooms.clone()));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    rooms.clear();
    let _ = timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}

/// One connection: handshake (which names the room), join, then broadcast what it sends.
// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn connection(tcp: TcpStream, config: FloorConfig, rooms: Arc<Rooms>) {
    let _ = tcp.set_nodelay(true);
    let mut room: Option<String> = None;
    let pick_room = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        room = room_of(request);
        if room.is_some() {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some("connect to /ws?room=NAME".into()));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            Err(refusal)
        }
    };
    let handshake = accept_hdr_async_with_config(tcp, pick_room, Some(config.websocket()));
    let Ok(Ok(ws)) = timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return;
    };
    let Some(room) = room else { return };

    let (tx, rx) = mpsc::channel(config.queue_frames);
    // First in the queue, so it is the first frame the client reads.
    if tx.try_send(Frame::from(JOINED)).is_err() {
        return;
    }
    let id = rooms.join(&room, tx);
    let (sink, mut stream) = ws.split();
    let writer = tokio::spawn(write_loop(sink, rx));
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(text) => rooms.broadcast(&room, &text),
            Message::Close(_) => break,
            _ => {} // pings are answered by tungstenite; binary frames are ignored
        }
    }
    rooms.leave(&room, id);
    // Let the client close the TCP connection first, as the relay does: a server that closes
    // first keeps a TIME_WAIT socket per connection, and the next run's connections that hit
    // one of those port pairs wait a second for a SYN retransmit.
    let _ = timeout(SHUTDOWN_GRACE, async {
        while stream.next().await.is_some() {}
    })
    .await;
    let _ = writer.await;
}

/// The room named by the request's `room` query parameter, if any.
fn room_of(request: &Request) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("room="))
        .filter(|room| !room.is_empty())
        .map(str::to_owned)
}

/// Writes queued frames in bursts of up to [`MAX_BURST`], one flush per burst, like the
/// relay's writer; closes once the queue is dropped (the connection left its room, was too
/// slow, or the floor is stopping).
async fn write_loop(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut rx: mpsc::Receiver<Frame>,
) {
    while let Some(frame) = rx.recv().await {
        let burst = async {
            sink.feed(Message::Text(frame)).await?;
            for _ in 1..MAX_BURST {
                match rx.try_recv() {
                    Ok(frame) => sink.feed(Message::Text(frame)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        if !matches!(timeout(WRITE_TIMEOUT, burst).await, Ok(Ok(()))) {
            return;
        }
    }
    let close = CloseFrame {
        code: CloseCode::Away,
        reason: "going away".into(),
    };
    let _ = timeout(SHUTDOWN_GRACE, sink.send(Message::Close(Some(close)))).await;
}

/// Waits for Ctrl-C, SIGTERM, or `max` to pass, whichever comes first.
pub async fn stop_signal(max: Duration) {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = tokio::time::sleep(max) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_comes_from_the_query() {
        let request = |uri: &str| Request::builder().uri(uri).body(()).unwrap();
        assert_eq!(
            room_of(&request("/ws?room=bench-3")).as_deref(),
            Some("bench-3")
        );
        assert_eq!(room_of(&request("/ws?x=1&room=a")).as_deref(), Some("a"));
        assert_eq!(room_of(&request("/ws?room=")), None);
        assert_eq!(room_of(&request("/ws")), None);
    }
}
