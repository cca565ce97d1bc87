//! One simulated chat client: it connects and joins its room, then reads (counting every
//! delivery) until the run stops, and, if it is a sender, sends stamped messages on a fixed
//! schedule.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use shared::{ClientFrame, ClientMsg, ServerMsg};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, Ws};
use crate::tally::{Seen, Stamp, Tally};

/// How long one write may take before the sender gives up (the server is not reading).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long closing a connection may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which server the clients talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The Courier relay (hello, join, say; JSON).
    Courier,
    /// The floor server of [`crate::floor`] (raw text in rooms chosen by URL).
    Floor,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::Courier => "courier",
            Self::Floor => "floor",
        }
    }
}

/// Where a run is. Clients watch it: senders start on `Go`, everyone stops on `Stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Setup,
    Go,
    Stop,
}

/// What every client of a run shares.
pub struct Ctx {
    /// The relay (and more of its cluster): client i connects to the (i mod n)th.
    pub relays: Vec<SocketAddr>,
    /// Courier's private messages: client i writes to client i xor 1 and joins no room.
    pub pairs: bool,
    pub protocol: Protocol,
    pub prefix: String,
    pub tally: Tally,
    pub phase: watch::Receiver<Phase>,
    /// Members of each room that joined; set before `Go`.
    pub members: OnceLock<Vec<u32>>,
    /// When the senders' schedule starts; set before `Go`.
    pub send_start: OnceLock<Instant>,
    /// Seconds between two messages of one sender.
    pub interval: Duration,
    /// Messages each sender sends (warm-up and measured).
    pub per_sender: u32,
    /// Senders that joined, for staggering their schedules.
    pub senders: u32,
    /// Senders still sending; the run drains once this is 0.
    pub senders_running: AtomicU32,
}

impl Ctx {
    /// The relay client `index` connects to.
    pub fn relay_of(&self, index: u32) -> SocketAddr {
        self.relays[index as usize % self.relays.len()]
    }

    fn members_of(&self, room: u32) -> u64 {
        self.members
            .get()
            .and_then(|m| m.get(room as usize))
            .map_or(0, |&n| u64::from(n))
    }
}

/// Who a client is.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub index: u32,
    pub room: u32,
    /// The sender number, for a client that sends.
    pub sender: Option<u32>,
}

/// What a client tells the run once it has joined its room, or failed to.
pub type Ready = Result<Spec, ()>;

/// The room name of room `room`.
pub fn room_name(room: u32) -> String {
    format!("bench-{room}")
}

/// Runs one client from connecting to closing. Setup waits for a `gate` permit (to bound the
/// connections being opened at once) and must end by `setup_deadline`.
pub async fn run(
    spec: Spec,
    ctx: Arc<Ctx>,
    gate: Arc<Semaphore>,
    setup_deadline: Instant,
    ready: mpsc::UnboundedSender<Ready>,
) {
    let opened = async {
        let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
        timeout_at(setup_deadline, open(&ctx, spec))
            .await
            .map_err(|_| "setup timed out".to_owned())?
    };
    let ws = match opened.await {
        Ok(ws) => ws,
        Err(e) => {
            ctx.tally.error(format!("client {}: {e}", spec.index));
            let _ = ready.send(Err(()));
            return;
        }
    };
    let _ = ready.send(Ok(spec));
    let (sink, stream) = ws.split();
    let (mut stream, mut sink) = tokio::join!(read(stream, &ctx, spec), send(sink, &ctx, spec));
    // Close politely: send a close frame, then read until the server's answer ends the
    // stream, and only then drop the socket. Dropping it with frames unread would reset the
    // connection, and leaving the server to close first would leave it a TIME_WAIT socket.
    let _ = timeout(CLOSE_TIMEOUT, async {
        let _ = sink.close().await;
        while stream.next().await.is_some() {}
    })
    .await;
}

/// Connects and joins the client's room, returning once the server says it is in.
async fn open(ctx: &Ctx, spec: Spec) -> Result<Ws, String> {
    let room = room_name(spec.room);
    match ctx.protocol {
        Protocol::Courier => {
            let name = format!("{}-{}", ctx.prefix, spec.index);
            let relay = ctx.relay_of(spec.index);
            let mut ws = net::open_courier(relay, spec.index, &name).await?;
            if ctx.pairs {
                return Ok(ws);
            }
            let join = ClientFrame::new(ClientMsg::Join {
                room: room.clone(),
                after: None,
            });
            net::send_frame(&mut ws, &join).await?;
            loop {
                match net::next_server_msg(&mut ws).await? {
                    ServerMsg::Joined { room: joined, .. } if joined == room => return Ok(ws),
                    ServerMsg::Error { code, message, .. } => {
                        return Err(format!("join {room}: {} ({message})", code.as_str()));
                    }
                    _ => {} // presence of others joining meanwhile
                }
            }
        }
        Protocol::Floor => {
            let relay = ctx.relay_of(spec.index);
            let url = format!("ws://{relay}/ws?room={room}");
            let mut ws = net::connect(relay, spec.index, &url).await?;
            // The floor says "joined" once the connection is in its room.
            while let Some(msg) = ws.next().await {
                match msg.map_err(|e| format!("read: {e}"))? {
                    Message::Text(text) if text.as_str() == crate::floor::JOINED => return Ok(ws),
                    Message::Text(text) => return Err(format!("expected joined, got {text}")),
                    _ => {}
                }
            }
            Err("connection ended before joined".into())
        }
    }
}

/// The fields of a relay frame the bench reads. Borrowed and partial on purpose: the bench
/// shares the machine's two cores with the relay, so its own parsing must cost little.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cid: Option<Cow<'a, str>>,
}

/// What a client has received so far.
struct Received {
    /// Per sender, the messages seen.
    seen: HashMap<u32, Seen>,
    /// The room's last `seq` (Courier), to check they come in order without gaps.
    last_seq: Option<u64>,
}

/// Reads until the run stops or the connection ends, counting every delivery. Returns the
/// stream so that the connection can be closed politely.
async fn read(mut stream: SplitStream<Ws>, ctx: &Ctx, spec: Spec) -> SplitStream<Ws> {
    let mut phase = ctx.phase.clone();
    let mut received = Received {
        seen: HashMap::new(),
        last_seq: None,
    };
    loop {
        let next = tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p == Phase::Stop) => return stream,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => match ctx.protocol {
                Protocol::Courier => on_courier_frame(&text, ctx, spec, &mut received),
                Protocol::Floor => on_floor_frame(&text, ctx, spec, &mut received),
            },
            Some(Ok(Message::Close(frame))) => {
                let why =
                    frame.map_or("no code".to_owned(), |f| format!("{} {}", f.code, f.reason));
                ctx.tally.error(format!(
                    "client {}: closed by the server: {why}",
                    spec.index
                ));
                return stream;
            }
            Some(Ok(_)) => {} // pings are answered by tungstenite
            Some(Err(e)) => {
                ctx.tally.error(format!("client {}: read: {e}", spec.index));
                return stream;
            }
            None => {
                ctx.tally
                    .error(format!("client {}: connection ended", spec.index));
                return stream;
            }
        }
    }
}

fn on_courier_frame(text: &str, ctx: &Ctx, spec: Spec, received: &mut Received) {
    let frame: Incoming = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => {
            return ctx.tally.error(format!(
                "client {}: unreadable frame ({e}): {text}",
                spec.index
            ));
        }
    };
    match frame.kind.as_ref() {
        "message" => {
            let Some(stamp) = frame.text.as_deref().and_then(Stamp::parse) else {
                return ctx.tally.error(format!(
                    "client {}: a message not from the bench: {text}",
                    spec.index
                ));
            };
            if let Some(seq) = frame.seq {
                if received.last_seq.is_some_and(|last| seq != last + 1) {
                    ctx.tally.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                received.last_seq = Some(seq);
            }
            count(ctx, spec, stamp, received);
        }
        "error" => {
            let code = frame.code.as_deref().unwrap_or("?");
            ctx.tally
                .error(format!("client {}: error {code}: {text}", spec.index));
            // Only the senders' `say` frames carry a cid: this one was refused.
            if frame.cid.is_some() {
                ctx.tally.rejected.fetch_add(1, Ordering::Relaxed);
                ctx.tally
                    .expected
                    .fetch_sub(ctx.members_of(spec.room), Ordering::Relaxed);
            }
        }
        _ => {} // presence, typing: not counted
    }
}

fn on_floor_frame(text: &str, ctx: &Ctx, spec: Spec, received: &mut Received) {
    match Stamp::parse(text) {
        Some(stamp) => count(ctx, spec, stamp, received),
        None => ctx.tally.error(format!(
            "client {}: a frame not from the bench: {text}",
            spec.index
        )),
    }
}

fn count(ctx: &Ctx, spec: Spec, stamp: Stamp, received: &mut Received) {
    let seen = received.seen.entry(stamp.sender).or_default();
    ctx.tally.delivery(spec.index, stamp, seen);
}

/// Marks a sender done however its loop ends.
struct Running<'a>(&'a AtomicU32);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// For a sender: waits for `Go`, then sends `ctx.per_sender` stamped messages on a fixed
/// schedule (staggered between senders so they do not all fire at once). Returns the sink
/// so that the connection can be closed politely.
async fn send(mut sink: SplitSink<Ws, Message>, ctx: &Ctx, spec: Spec) -> SplitSink<Ws, Message> {
    let Some(sender) = spec.sender else {
        return sink;
    };
    let mut phase = ctx.phase.clone();
    if !matches!(
        phase.wait_for(|p| *p != Phase::Setup).await.as_deref(),
        Ok(Phase::Go)
    ) {
        return sink;
    }
    let _running = Running(&ctx.senders_running);
    let Some(&start) = ctx.send_start.get() else {
        return sink;
    };
    let stagger = ctx
        .interval
        .mul_f64(f64::from(sender) / f64::from(ctx.senders.max(1)));
    let start = start + stagger;
    let members = ctx.members_of(spec.room);
    let room = room_name(spec.room);
    let partner = format!("{}-{}", ctx.prefix, spec.index ^ 1);
    for n in 0..ctx.per_sender {
        let due = start + ctx.interval * n;
        tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p == Phase::Stop) => break,
            () = tokio::time::sleep_until(due) => {}
        }
        let stamp = Stamp {
            sent_ns: ctx.tally.now_ns(),
            sender,
            n,
        };
        let text = match ctx.protocol {
            Protocol::Courier if ctx.pairs => ClientFrame::with_cid(
                ClientMsg::Dm {
                    to: partner.clone(),
                    text: stamp.text(),
                    mid: None,
                    reply: None,
                },
                n.to_string(),
            )
            .to_json(),
            Protocol::Courier => ClientFrame::with_cid(
                ClientMsg::Say {
                    room: room.clone(),
                    text: stamp.text(),
                    mid: None,
                    reply: None,
                },
                n.to_string(),
            )
            .to_json(),
            Protocol::Floor => stamp.text(),
        };
        match timeout(SEND_TIMEOUT, sink.send(Message::text(text))).await {
            Ok(Ok(())) => {
                ctx.tally.sent.fetch_add(1, Ordering::Relaxed);
                ctx.tally.expected.fetch_add(members, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                ctx.tally.error(format!("client {}: send: {e}", spec.index));
                break;
            }
            Err(_) => {
                ctx.tally
                    .error(format!("client {}: send timed out", spec.index));
                break;
            }
        }
    }
    sink
}
