//! The WebSocket service: one socket to the relay, opened again with backoff after every drop.
//!
//! [`connect`] takes a callback for [`ConnEvent`]s and returns the sender for outgoing
//! [`ClientFrame`]s, like the services of yew's `async_clock` example. It knows nothing of the
//! protocol beyond "one JSON frame per text message": the app answers `Connected` with `hello`
//! and `welcome` with its joins (the reducer emits them into `crate::state::Outbox`). Dropping
//! every sender stops the service and closes the socket.
//!
//! Per socket, the reading half runs in its own `spawn_local` task and the writing half in the
//! service's task; when either half ends (the socket closed, a send failed, or the app dropped
//! its sender), the other is stopped, and the socket closes when both halves are gone.

use std::cell::Cell;
use std::rc::Rc;

use futures::channel::mpsc::{self, TryRecvError, UnboundedReceiver, UnboundedSender};
use futures::channel::oneshot;
use futures::future::{self, AbortHandle, Abortable, Either};
use futures::stream::{SplitStream, StreamExt};
use futures::{FutureExt, SinkExt, pin_mut};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State as SocketState, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use shared::ops::OpsMsg;
use shared::{ClientFrame, ServerMsg};
use wasm_bindgen_futures::spawn_local;
use yew::Callback;

use super::backoff::Backoff;
use super::browser::{random, warn};
use super::{ConnEvent, Frame};

/// Opens a socket to `url` and keeps one open until every returned sender is dropped.
///
/// Events go to `on_event`: `Connecting`, then `Connected` or `Disconnected`, the relay's
/// frames as `Messages` (batched per animation frame), and after a drop `Disconnected` with the delay before the next try.
/// Frames sent while no socket is open are dropped, not queued: every frame is meant for the
/// session it was made in, and a new socket must start with `hello`.
pub fn connect(url: String, on_event: Callback<ConnEvent>) -> UnboundedSender<ClientFrame> {
    let (tx, rx) = mpsc::unbounded();
    spawn_local(run(url, on_event, rx));
    tx
}

/// How one socket ended.
enum End {
    /// The socket closed or failed; try again.
    Dropped,
    /// The app dropped its sender; stop for good.
    Stopped,
}

async fn run(
    url: String,
    on_event: Callback<ConnEvent>,
    mut outbound: UnboundedReceiver<ClientFrame>,
) {
    let mut backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        on_event.emit(ConnEvent::Connecting { attempt });
        match open(&url).await {
            Ok(ws) => {
                // Whatever was sent while no socket was open belongs to no session.
                loop {
                    match outbound.try_recv() {
                        Ok(_stale) => continue,
                        Err(TryRecvError::Closed) => return,
                        Err(TryRecvError::Empty) => break,
                    }
                }
                on_event.emit(ConnEvent::Connected);
                let received = Rc::new(Cell::new(false));
                if let End::Stopped = session(ws, &mut outbound, &on_event, &received).await {
                    return;
                }
                // A socket that carried frames worked; a drop after it starts the delays over.
                if received.get() {
                    backoff.reset();
                }
            }
            Err(why) => warn(&format!("courier: cannot open {url}: {why}")),
        }
        let delay = backoff.next_delay(random());
        on_event.emit(ConnEvent::Disconnected { retry_in_ms: delay });
        if !wait(delay, &mut outbound).await {
            return;
        }
        attempt += 1;
    }
}

/// Opens the socket and waits until it is open.
async fn open(url: &str) -> Result<WebSocket, String> {
    let mut ws = WebSocket::open(url).map_err(|e| e.to_string())?;
    // `poll_ready` is pending while the socket connects, and wakes on `open` or `error`.
    future::poll_fn(|cx| ws.poll_ready_unpin(cx))
        .await
        .map_err(|e| e.to_string())?;
    match ws.state() {
        SocketState::Open => Ok(ws),
        _ => Err("the connection failed".to_owned()),
    }
}

/// Runs one open socket until it ends.
async fn session(
    ws: WebSocket,
    outbound: &mut UnboundedReceiver<ClientFrame>,
    on_event: &Callback<ConnEvent>,
    received: &Rc<Cell<bool>>,
) -> End {
    let (mut sink, stream) = ws.split();
    let (abort, registration) = AbortHandle::new_pair();
    let (done_tx, mut done_rx) = oneshot::channel::<()>();
    {
        let on_event = on_event.clone();
        let received = Rc::clone(received);
        spawn_local(async move {
            let _ = Abortable::new(read(stream, on_event, received), registration).await;
            let _ = done_tx.send(());
        });
    }
    let end = loop {
        match future::select(outbound.next(), &mut done_rx).await {
            Either::Left((Some(frame), _)) => {
                if let Err(e) = sink.send(Message::Text(frame.to_json())).await {
                    warn(&format!("courier: send failed: {e}"));
                    break End::Dropped;
                }
            }
            Either::Left((None, _)) => break End::Stopped,
            Either::Right(_) => break End::Dropped,
        }
    };
    abort.abort();
    let _ = sink.close().await;
    end
}

/// Hands the frames from the relay to `on_event` until the socket closes, in batches: after
/// a frame, whatever else arrives before the next animation frame goes with it, so that a
/// burst costs one state update and one render per frame on screen, not one per message.
async fn read(
    mut stream: SplitStream<WebSocket>,
    on_event: Callback<ConnEvent>,
    received: Rc<Cell<bool>>,
) {
    while let Some(item) = stream.next().await {
        let mut batch = Vec::new();
        take(item, &mut batch);
        next_frame().await;
        // Everything that came in meanwhile is waiting in the stream already.
        let mut ended = false;
        loop {
            match stream.next().now_or_never() {
                Some(Some(item)) => take(item, &mut batch),
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        if !batch.is_empty() {
            received.set(true);
            on_event.emit(ConnEvent::Messages(batch));
        }
        if ended {
            return;
        }
    }
}

/// Adds a frame from the relay to `batch`; reports what is not one. The relay sends operators'
/// frames ([`OpsMsg`]) only to operators, so only a frame that is no [`ServerMsg`] is tried as
/// one (and the reducer drops it unless `welcome` said we are an operator).
fn take(item: Result<Message, WebSocketError>, batch: &mut Vec<Frame>) {
    match item {
        Ok(Message::Text(text)) => match ServerMsg::parse(&text) {
            Ok(msg) => batch.push(Frame::Chat(msg)),
            Err(e) => match OpsMsg::parse(&text) {
                Ok(msg) => batch.push(Frame::Ops(msg)),
                Err(_) => warn(&format!(
                    "courier: ignored a frame I cannot read ({e}): {text}"
                )),
            },
        },
        Ok(Message::Bytes(bytes)) => {
            warn(&format!(
                "courier: ignored a binary frame of {} bytes",
                bytes.len()
            ));
        }
        Err(WebSocketError::ConnectionClose(close)) => {
            warn(&format!(
                "courier: the relay closed the connection ({} {})",
                close.code, close.reason
            ));
        }
        Err(e) => warn(&format!("courier: {e}")),
    }
}

/// Resolves at the next animation frame, or after [`FRAME_WAIT_MS`] when the page gets none
/// (a hidden tab), so that frames are still handled there (the title counts unread messages).
async fn next_frame() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let frame = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window.request_animation_frame(&resolve);
    });
    let frame = wasm_bindgen_futures::JsFuture::from(frame);
    let _ = future::select(frame, TimeoutFuture::new(FRAME_WAIT_MS)).await;
}

/// The longest a frame from the relay waits for an animation frame.
const FRAME_WAIT_MS: u32 = 100;

/// Sleeps `delay_ms`, dropping frames sent meanwhile. False when the app dropped its sender.
async fn wait(delay_ms: u32, outbound: &mut UnboundedReceiver<ClientFrame>) -> bool {
    let sleep = TimeoutFuture::new(delay_ms);
    let drain = async { while outbound.next().await.is_some() {} };
    pin_mut!(drain);
    matches!(future::select(sleep, drain).await, Either::Left(_))
}
