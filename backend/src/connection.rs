//! One WebSocket connection, served by one task: it reads frames and hands them to the hub,
//! writes what the hub queued for it (`outbox.rs`), pings, and closes.
//!
//! One task and one future per connection, not a reader and a writer: an idle connection
//! holds little more than its socket (docs/BENCHMARKS.md, *One task per connection*). The
//! future waits on everything at once ([`Conn::poll_event`]): the queue and close requests,
//! the socket both ways, a frame's slow work, and one timer for the hello deadline and the
//! pings. Writing comes first at every wake-up, so a frame's answer goes out before the next
//! frame is read. If writing fails (the client hung up), what the client sent before it went
//! is still read and handled. Every wait on the network is bounded: a write by the ping ticks,
//! the close by `CLOSE_GRACE`.

use std::future::poll_fn;
use std::net::IpAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use shared::ErrorCode;
use shared::limits::close;

use crate::hub::{Done, Hub, Slow};
use crate::metrics::Metrics;
use crate::outbox::{self, ConnHandle, ConnId, Frame, Outbox};
use crate::throttle::{FrameLimiter, FrameRates};

/// Frames taken from the queue for one flush at most.
const MAX_BURST: usize = 64;

/// Bursts written in one wake-up at most, so one busy connection cannot hold a worker thread.
const MAX_BURSTS: usize = 4;

/// How long a connection that is closing waits for its close frame to go out and for the
/// client's own close frame.
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

/// Runs a connection from its upgrade to its end.
///
/// Not itself async: the future returned is the connection's whole state, made once, so that
/// it holds one copy of the stream (an async function keeps its arguments too).
pub fn serve<S>(
    ws: WebSocketStream<S>,
    id: ConnId,
    addr: Option<IpAddr>,
    hub: Arc<Hub>,
    settings: Settings,
    shutdown: &CancellationToken,
) -> impl Future<Output = ()> + Send + use<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Metrics::inc(&hub.metrics().connections_opened);
    let (handle, outbox) = outbox::channel(id, addr, settings.queue);
    hub.connect(handle.clone());
    // Shutdown closes every connection the hub knows (`Hub::close_all`); one that joins the
    // hub after that sees the token.
    if shutdown.is_cancelled() {
        outbox.close(close::GOING_AWAY);
    }
    let mut conn = Conn::new(ws, hub, handle, outbox, settings);
    // Run in place: an async function would keep its `self` argument and a copy of it.
    async move { conn.run().await }
}

/// What woke the connection. Made and carried out at once, never held across a wait.
enum Event {
    /// A frame, or the end of the stream (`None`), or a read error.
    Read(Option<Result<Message, WsError>>),
    /// A frame's slow work is done.
    Slow(Box<Done>),
    /// The timer: a ping is due, or the hello deadline has passed.
    Tick,
    /// A close was asked for (by the hub, a full queue, or shutdown).
    Closed,
    /// Writing to the socket failed.
    WriteFailed(WsError),
}

/// How the connection ended: the close code to send, if there is a reason to give one.
type Ended = Option<u16>;

/// A frame's slow work (a password to check, a read), boxed: it is large and rare, and kept
/// inline it would make every idle connection's future that much bigger.
type SlowWork = Pin<Box<dyn Future<Output = Done> + Send>>;

struct Conn<S> {
    ws: WebSocketStream<S>,
    hub: Arc<Hub>,
    handle: ConnHandle,
    outbox: Outbox,
    ping_interval: Duration,
    ping_timeout: Duration,
    /// This connection's rate buckets: here, in its own task, so counting takes no lock.
    limiter: FrameLimiter,
    welcomed: bool,
    hello_deadline: Instant,
    next_ping: Instant,
    ping_due: bool,
    /// Frames taken from the queue for this flush; the first `fed` are with tungstenite.
    burst: Vec<Frame>,
    fed: usize,
    burst_bytes: usize,
    /// Something was handed to tungstenite and not flushed yet.
    unflushed: bool,
    /// When the write now under way began: a write that does not finish is bounded by the
    /// ping ticks, not by a timer of its own (a timer per burst cost latency and CPU).
    writing_since: Option<Instant>,
    /// The slow work of the frame being handled; no frame is read until it is done.
    slow: Option<SlowWork>,
    /// Writing failed: nothing more is written (no close frame either), but what the client
    /// sent is still read.
    broken: bool,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn new(
        ws: WebSocketStream<S>,
        hub: Arc<Hub>,
        handle: ConnHandle,
        outbox: Outbox,
        settings: Settings,
    ) -> Self {
        let now = Instant::now();
        Conn {
            ws,
            hub,
            handle,
            outbox,
            ping_interval: settings.ping_interval,
            ping_timeout: settings.ping_timeout,
            limiter: FrameLimiter::new(settings.rates),
            welcomed: false,
            hello_deadline: now + settings.hello_timeout,
            next_ping: now + settings.ping_interval,
            ping_due: false,
            burst: Vec::new(),
            fed: 0,
            burst_bytes: 0,
            unflushed: false,
            writing_since: None,
            slow: None,
            broken: false,
        }
    }

    async fn run(&mut self) {
        let mut timer = pin!(tokio::time::sleep_until(self.next_deadline()));
        let ended = loop {
            let event = poll_fn(|cx| self.poll_event(cx, timer.as_mut())).await;
            let was_slow = matches!(event, Event::Slow(_));
            if let Some(ended) = self.on_event(event, timer.as_mut()) {
                break ended;
            }
            // Taking turns: frames come out of tungstenite's buffer without touching the
            // socket, so a client that sends hundreds at once would otherwise keep a worker
            // to itself, and a slow frame's work (a page read and encoded) is worth a turn.
            if was_slow {
                tokio::task::yield_now().await;
            } else {
                tokio::task::consume_budget().await;
            }
        };
        // Within `CLOSE_GRACE`: the close frame goes out, and the client's comes back.
        let mut closing = self.begin_close(ended);
        timer.as_mut().reset(Instant::now() + CLOSE_GRACE);
        poll_fn(|cx| self.poll_close(cx, timer.as_mut(), &mut closing)).await;
        Metrics::inc(&self.hub.metrics().connections_closed);
        tracing::debug!(conn = self.id(), "connection ended");
    }

    fn id(&self) -> ConnId {
        self.handle.id
    }

    /// When the timer should next fire.
    fn next_deadline(&self) -> Instant {
        // A hello's slow work (a password check, a claim) runs to its end first.
        if self.welcomed || self.slow.is_some() {
            self.next_ping
        } else {
            self.next_ping.min(self.hello_deadline)
        }
    }

    /// Waits for the next thing to do. Writes make progress on every call; a frame is read
    /// only when no slow work is under way.
    fn poll_event(&mut self, cx: &mut Context<'_>, timer: Pin<&mut Sleep>) -> Poll<Event> {
        self.outbox.watch(cx.waker());
        if self.broken {
            // Nothing more to write; the frames the client sent before it went are read on.
        } else if self.outbox.requested().is_some() {
            return Poll::Ready(Event::Closed);
        } else if let Poll::Ready(Err(e)) = self.poll_write(cx) {
            return Poll::Ready(Event::WriteFailed(e));
        }
        // Before reading: a client that never stops sending still meets its deadlines.
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::Tick);
        }
        if let Some(slow) = &mut self.slow {
            if let Poll::Ready(done) = slow.as_mut().poll(cx) {
                self.slow = None;
                return Poll::Ready(Event::Slow(Box::new(done)));
            }
        } else if let Poll::Ready(next) = Pin::new(&mut self.ws).poll_next(cx) {
            return Poll::Ready(Event::Read(next));
        }
        Poll::Pending
    }

    /// Writes a due ping and the queued frames, a burst at a time, each burst flushed before
    /// the next is taken. Ready once the queue is empty and everything is flushed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        for _ in 0..MAX_BURSTS {
            if self.ping_due {
                ready!(Pin::new(&mut self.ws).poll_ready(cx))?;
                Pin::new(&mut self.ws).start_send(Message::Ping(Default::default()))?;
                self.ping_due = false;
                self.unflushed = true;
                self.writing_since.get_or_insert_with(Instant::now);
            }
            while self.fed < self.burst.len() {
                ready!(Pin::new(&mut self.ws).poll_ready(cx))?;
                let frame = std::mem::take(&mut self.burst[self.fed]);
                Pin::new(&mut self.ws).start_send(Message::Text(frame))?;
                self.fed += 1;
                self.unflushed = true;
            }
            if self.unflushed {
                ready!(Pin::new(&mut self.ws).poll_flush(cx))?;
                self.unflushed = false;
                self.writing_since = None;
                if !self.burst.is_empty() {
                    self.outbox.flushed(self.burst.len(), self.burst_bytes);
                    self.burst.clear();
                    self.fed = 0;
                }
            }
            if !self.outbox.take(&mut self.burst, MAX_BURST) {
                return Poll::Ready(Ok(()));
            }
            self.burst_bytes = self.burst.iter().map(|f| f.len()).sum();
            self.writing_since = Some(Instant::now());
        }
        // More is queued: let the other connections have the thread, and go on after.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Carries out what woke the connection; `Some` when the connection is to end.
    fn on_event(&mut self, event: Event, timer: Pin<&mut Sleep>) -> Option<Ended> {
        match event {
            Event::Read(None) => Some(None), // the client closed the TCP connection
            Event::Read(Some(result)) => {
                self.outbox.heard();
                self.on_read(result)
            }
            Event::Slow(done) => {
                let more = self.hub.finish(&self.handle, *done);
                self.start(more);
                if !self.welcomed {
                    timer.reset(self.next_deadline());
                }
                None
            }
            Event::Tick => self.on_tick(timer),
            Event::Closed => Some(None),
            Event::WriteFailed(e) => {
                // Most often the client hung up with frames still to read (a last `say`,
                // say): the connection ends once they are read, when the read fails or ends
                // too. Nothing more is queued for it; a write under way bounds the wait.
                tracing::debug!(conn = self.id(), "write failed: {e}");
                self.broken = true;
                self.outbox.close(close::INTERNAL);
                self.burst = Vec::new();
                self.writing_since.get_or_insert_with(Instant::now);
                None
            }
        }
    }

    fn on_read(&mut self, result: Result<Message, WsError>) -> Option<Ended> {
        let id = self.id();
        let metrics = self.hub.metrics();
        match result {
            Ok(Message::Text(text)) => {
                let slow = self.hub.handle(&self.handle, &text, &mut self.limiter);
                self.start(slow);
            }
            Ok(Message::Binary(_)) if !self.limiter.admit(false) => {
                self.hub.rate_limited(&self.handle, None);
            }
            Ok(Message::Binary(_)) => self.hub.refuse(
                id,
                ErrorCode::Unsupported,
                "binary frames are not supported; send JSON in text frames",
            ),
            // tungstenite answers pings itself; a close from the client is answered likewise,
            // and the stream then ends.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_)) => {}
            Err(WsError::Capacity(e)) => {
                Metrics::inc(&metrics.closed_too_big);
                tracing::debug!(conn = id, "closing: {e}");
                return Some(Some(close::TOO_BIG));
            }
            Err(WsError::Utf8(_)) => return Some(Some(close::INVALID_DATA)),
            Err(WsError::Protocol(e)) => {
                tracing::debug!(conn = id, "closing on a protocol error: {e}");
                return Some(Some(close::PROTOCOL));
            }
            Err(e) => {
                tracing::debug!(conn = id, "read ended: {e}");
                return Some(None);
            }
        }
        None
    }

    /// Starts a frame's slow work, if it left some (off the hub's lock: a password to check
    /// or hash, a read); the next frame is read once it is done.
    fn start(&mut self, slow: Option<Slow>) {
        self.slow = slow.map(|work| {
            let hub = self.hub.clone();
            Box::pin(async move { hub.work_out(work).await }) as SlowWork
        });
        if self.slow.is_none() && !self.welcomed {
            self.welcomed = self.hub.is_welcomed(self.id());
        }
    }

    /// The hello deadline, a stuck write, a silent client, or a ping to send.
    fn on_tick(&mut self, timer: Pin<&mut Sleep>) -> Option<Ended> {
        let now = Instant::now();
        let metrics = self.hub.metrics();
        if !self.welcomed && self.slow.is_none() && now >= self.hello_deadline {
            self.welcomed = self.hub.is_welcomed(self.id());
            if !self.welcomed {
                Metrics::inc(&metrics.closed_hello_timeout);
                tracing::debug!(conn = self.id(), "no hello in time");
                return Some(Some(close::POLICY));
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.ping_interval;
            if self
                .writing_since
                .is_some_and(|since| now - since > self.ping_timeout)
            {
                Metrics::inc(&metrics.closed_ping_timeout);
                tracing::debug!(conn = self.id(), "gave up a write that did not finish");
                return Some(Some(close::GOING_AWAY));
            }
            if self.outbox.silent_for() > self.ping_interval + self.ping_timeout {
                Metrics::inc(&metrics.closed_ping_timeout);
                tracing::debug!(conn = self.id(), "client stopped answering pings");
                return Some(Some(close::GOING_AWAY));
            }
            self.ping_due = true;
        }
        timer.reset(self.next_deadline());
        None
    }

    /// Leaves the hub, and makes the close frame to send (none if writing failed). The first
    /// close asked for gives its code.
    fn begin_close(&mut self, ended: Ended) -> Closing {
        self.outbox.close(ended.unwrap_or(close::NORMAL));
        let code = self.outbox.requested().unwrap_or(close::NORMAL);
        self.hub.disconnect(self.id());
        self.slow = None;
        self.burst = Vec::new();
        Closing {
            frame: (!self.broken).then(|| {
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: close_reason(code).into(),
                }))
            }),
            sent: self.broken,
            read_all: false,
        }
    }

    /// Sends the close frame and reads until the client's close, unless it is gone already;
    /// ready when both are done or the timer fires.
    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        timer: Pin<&mut Sleep>,
        closing: &mut Closing,
    ) -> Poll<()> {
        if timer.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if !closing.sent {
            // Any error means the close cannot go out: nothing to wait for on this side.
            closing.sent = send_close(&mut self.ws, &mut closing.frame, cx).is_ready();
        }
        while !closing.read_all {
            match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => closing.read_all = true,
                Poll::Pending => break,
            }
        }
        if closing.sent && closing.read_all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A connection's last moments: its close frame on the way out, the client's still to come.
struct Closing {
    frame: Option<Message>,
    sent: bool,
    read_all: bool,
}

/// Hands the close frame (once) to tungstenite and flushes it.
fn send_close<S>(
    ws: &mut WebSocketStream<S>,
    frame: &mut Option<Message>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), WsError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if frame.is_some() {
        ready!(Pin::new(&mut *ws).poll_ready(cx))?;
        if let Some(frame) = frame.take() {
            Pin::new(&mut *ws).start_send(frame)?;
        }
    }
    Pin::new(ws).poll_flush(cx)
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
