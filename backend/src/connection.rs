//! One WebSocket connection: a reader that turns frames into hub calls, and a writer that
//! drains the connection's queue onto the socket, pings, and closes.
//!
//! The two halves run as two tasks (measured cheaper per delivery than one task woken on every
//! write). They end together: whichever stops first asks the other to, through the
//! connection's close request, and every wait on the network is bounded.

use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use shared::ErrorCode;
use shared::limits::close;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::outbox::{self, ConnHandle, ConnId, Next, Outbox};
use crate::throttle::{FrameLimiter, FrameRates};

/// Frames written to the socket in one flush at most, so one busy connection cannot hold its
/// writer forever.
const MAX_BURST: usize = 64;

/// How long a connection that is closing waits for the client's own close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The timings and bounds of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub queue: outbox::QueueLimits,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub hello_timeout: Duration,
    /// How fast the client may send frames (`--msg-rate`, `--typing-rate`).
    pub rates: FrameRates,
}

/// Runs a connection from its upgrade to its end. Returns when both halves have finished.
///
/// The stream is split before the future is made, so that the future (which every idle
/// connection holds for its whole life) does not keep room for the whole stream too.
pub fn serve<S>(
    ws: WebSocketStream<S>,
    id: ConnId,
    addr: Option<IpAddr>,
    hub: Arc<Hub>,
    settings: Settings,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    serve_halves(sink, stream, (id, addr), hub, settings, shutdown)
}

async fn serve_halves<S>(
    sink: SplitSink<WebSocketStream<S>, Message>,
    mut stream: SplitStream<WebSocketStream<S>>,
    (id, addr): (ConnId, Option<IpAddr>),
    hub: Arc<Hub>,
    settings: Settings,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let metrics = hub.metrics();
    Metrics::inc(&metrics.connections_opened);
    let (handle, outbox) = outbox::channel(id, addr, settings.queue);
    let own = handle.clone();
    hub.connect(handle);

    // Shutdown closes every connection the hub knows (`Hub::close_all`); one that joins the
    // hub after that sees the token.
    if shutdown.is_cancelled() {
        outbox.close(close::GOING_AWAY);
    }
    let writer = tokio::spawn(write_loop(sink, outbox.clone(), settings, hub.clone()));
    let ended = read_loop(&mut stream, &own, &hub, &outbox, settings).await;
    drop(own);
    outbox.close(ended.unwrap_or(close::NORMAL));
    hub.disconnect(id);
    // Give the client a moment to answer the close frame, unless it is gone already.
    let _ = timeout(CLOSE_GRACE, async {
        while stream.next().await.is_some() {}
    })
    .await;
    if let Err(e) = writer.await {
        tracing::error!(conn = id, "connection writer failed: {e}");
    }
    Metrics::inc(&hub.metrics().connections_closed);
    tracing::debug!(conn = id, "connection ended");
}

/// Reads frames until the client goes, the connection is asked to close, or a frame breaks the
/// rules badly enough to end it. Returns the close code to send, if one should be.
async fn read_loop<S>(
    stream: &mut SplitStream<WebSocketStream<S>>,
    handle: &ConnHandle,
    hub: &Hub,
    outbox: &Outbox,
    settings: Settings,
) -> Option<u16>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let id = handle.id;
    let hello_deadline = Instant::now() + settings.hello_timeout;
    let mut welcomed = false;
    // This connection's rate buckets: here, in its own task, so counting takes no lock.
    let mut limiter = FrameLimiter::new(settings.rates);
    // Made once, not per frame: each `closed()` registers with the outbox's `Notify`, and doing
    // that on every wake-up was a tenth of the relay's instructions (docs/BENCHMARKS.md).
    let mut closed = pin!(outbox.closed());
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut closed => return None,
            _ = tokio::time::sleep_until(hello_deadline), if !welcomed => {
                welcomed = hub.is_welcomed(id);
                if welcomed {
                    continue;
                }
                Metrics::inc(&hub.metrics().closed_hello_timeout);
                tracing::debug!(conn = id, "no hello in time");
                return Some(close::POLICY);
            }
            next = stream.next() => next,
        };
        let Some(result) = next else {
            return None; // the client closed the TCP connection
        };
        outbox.heard();
        match result {
            Ok(Message::Text(text)) => {
                // Work off the hub's lock (a password to check or hash, a read): this
                // connection's next frame waits for it.
                let mut slow = hub.handle(handle, &text, &mut limiter);
                while let Some(work) = slow {
                    // Boxed: the work's state is large and rare, and kept inline it would make
                    // every idle connection's task that much bigger.
                    let done = Box::pin(hub.work_out(work)).await;
                    slow = hub.finish(handle, done);
                }
                if !welcomed {
                    welcomed = hub.is_welcomed(id);
                }
            }
            Ok(Message::Binary(_)) if !limiter.admit(false) => hub.rate_limited(handle, None),
            Ok(Message::Binary(_)) => hub.refuse(
                id,
                ErrorCode::Unsupported,
                "binary frames are not supported; send JSON in text frames",
            ),
            // tungstenite answers pings itself; a close from the client is answered likewise,
            // and the stream then ends.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Close(_)) => {}
            Err(WsError::Capacity(e)) => {
                Metrics::inc(&hub.metrics().closed_too_big);
                tracing::debug!(conn = id, "closing: {e}");
                return Some(close::TOO_BIG);
            }
            Err(WsError::Utf8(_)) => return Some(close::INVALID_DATA),
            Err(WsError::Protocol(e)) => {
                tracing::debug!(conn = id, "closing on a protocol error: {e}");
                return Some(close::PROTOCOL);
            }
            Err(e) => {
                tracing::debug!(conn = id, "read ended: {e}");
                return None;
            }
        }
    }
}

/// Writes queued frames in bursts, pings, and sends the close frame when one is asked for.
async fn write_loop<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    outbox: Outbox,
    settings: Settings,
    hub: Arc<Hub>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let write_timeout = settings.ping_timeout;
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut burst = Vec::with_capacity(0);
    // Polled only while a write is pending: a close request must not wait for a stuck socket.
    let mut closed = pin!(outbox.closed());
    let code = loop {
        tokio::select! {
            biased;
            next = outbox.next(&mut burst, MAX_BURST) => {
                if let Next::Close(code) = next {
                    break code;
                }
                let in_burst = burst.len();
                let burst_bytes: usize = burst.iter().map(|f| f.len()).sum();
                let mut write = pin!(async {
                    for frame in burst.drain(..) {
                        sink.feed(Message::Text(frame)).await?;
                    }
                    sink.flush().await
                });
                // A write that does not finish is bounded by the ping ticks, not by a timer of
                // its own: registering a timer for every burst cost latency and CPU.
                let started = Instant::now();
                let written = loop {
                    tokio::select! {
                        biased;
                        result = &mut write => break Ok(result),
                        code = &mut closed => break Err(code),
                        _ = ping.tick() => {
                            if started.elapsed() > write_timeout {
                                break Err(close::GOING_AWAY);
                            }
                        }
                    }
                };
                match written {
                    Ok(Ok(())) => outbox.flushed(in_burst, burst_bytes),
                    Ok(Err(e)) => {
                        tracing::debug!("write failed: {e}");
                        outbox.close(close::INTERNAL);
                        return;
                    }
                    Err(code) => {
                        tracing::debug!("gave up a write that did not finish");
                        if code == close::GOING_AWAY {
                            Metrics::inc(&hub.metrics().closed_ping_timeout);
                        }
                        outbox.close(code);
                        break code;
                    }
                }
            }
            _ = ping.tick() => {
                if outbox.silent_for() > settings.ping_interval + settings.ping_timeout {
                    Metrics::inc(&hub.metrics().closed_ping_timeout);
                    tracing::debug!("client stopped answering pings");
                    outbox.close(close::GOING_AWAY);
                    continue;
                }
                let ping = sink.send(Message::Ping(Default::default()));
                if !matches!(timeout(write_timeout, ping).await, Ok(Ok(()))) {
                    outbox.close(close::GOING_AWAY);
                    return;
                }
            }
        }
    };
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: close_reason(code).into(),
    };
    let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
}

/// The reason sent with each close code the relay uses.
fn close_reason(code: u16) -> &'static str {
    match code {
        close::NORMAL => "session ended",
        close::GOING_AWAY => "going away",
        close::PROTOCOL => "protocol error",
        close::INVALID_DATA => "text frame is not valid UTF-8",
        close::POLICY => "no hello in time",
        close::TOO_BIG => "message over 64 KiB",
        close::TRY_AGAIN_LATER => "too slow reading messages",
        _ => "closing",
    }
}
