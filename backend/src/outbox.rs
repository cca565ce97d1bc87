//! The handle through which the hub reaches one connection: a bounded queue of frames to write,
//! a way to ask the connection to close, and when the client was last heard from.
//!
//! All of it lives in one allocation per connection ([`Shared`]) and costs nothing more while
//! the connection is idle: the queue is a `VecDeque` that holds memory only while frames wait
//! (a channel would allocate its first block of slots up front), and the one wake-up is an
//! `AtomicWaker` for the connection's task. This is most of what makes an idle connection
//! cheap.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use tokio::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use shared::limits::close;

/// Identifies one WebSocket connection for its whole life (not the user: a user's session can
/// move to another connection by a token takeover).
pub type ConnId = u64;

/// A frame ready to write: JSON serialised once and shared by every recipient (cloning it
/// only bumps a reference count).
pub type Frame = Utf8Bytes;

/// What the hub holds of a connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    /// The client's address as the per-address limits count it (an IPv6 address by its /64);
    /// `None` where the server did not say (in-process tests).
    pub addr: Option<IpAddr>,
    shared: Arc<Shared>,
}

/// The connection's side, held by its task.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// How much a connection's queue may hold before the connection is closed as too slow.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub frames: usize,
    /// Frames are shared between recipients, but a reply made for one connection (a `joined`
    /// with a long history, say) is not: this bounds what one connection can make the relay
    /// hold however it asks.
    pub bytes: usize,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// Frames ever queued: the number of the last one.
    pushed: u64,
}

#[derive(Debug)]
struct Shared {
    /// Frames waiting for the writer, within `limits`.
    queue: Mutex<Queue>,
    limits: QueueLimits,
    /// Wakes the connection's task when a frame is queued or a close is asked for.
    waker: AtomicWaker,
    /// The close code asked for; 0 while none is.
    close_code: AtomicU16,
    /// When the connection opened, and the client was last heard from (ms after `opened`).
    opened: Instant,
    last_heard_ms: AtomicU64,
    /// Frames the writer has flushed to the socket, in queue order.
    flushed: AtomicU64,
}

/// What the writer is to do next; see [`Outbox::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Frames were moved into the burst: write them.
    Write,
    /// Send a close frame with this code and stop.
    Close(u16),
}

/// What became of a frame handed to [`ConnHandle::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue was full: the connection is being closed as too slow.
    TooSlow,
    /// The connection is closing or gone; the frame was dropped.
    Gone,
}

/// A new connection's two halves; the queue holds at most what `limits` says.
pub fn channel(id: ConnId, addr: Option<IpAddr>, limits: QueueLimits) -> (ConnHandle, Outbox) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        limits,
        waker: AtomicWaker::new(),
        close_code: AtomicU16::new(0),
        opened: Instant::now(),
        last_heard_ms: AtomicU64::new(0),
        flushed: AtomicU64::new(0),
    });
    (
        ConnHandle {
            id,
            addr,
            shared: shared.clone(),
        },
        Outbox { shared },
    )
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding this lock; if something did, the queue is still whole.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for the connection to close with `code`. The first request wins.
    fn close(&self, code: u16) {
        if self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.waker.wake();
        }
    }

    fn requested(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }
}

impl ConnHandle {
    /// Queues a frame without waiting. A connection whose queue is full is not waited for: it is
    /// asked to close with 1013, so one slow reader never holds up the others nor grows memory.
    pub fn send(&self, frame: Frame) -> Sent {
        match self.send_numbered(frame) {
            Ok(_) => Sent::Queued,
            Err(sent) => sent,
        }
    }

    /// [`ConnHandle::send`], giving the frame's number when it is queued: once
    /// [`ConnHandle::flushed`] reaches it, the frame has been written to the socket.
    ///
    /// # Errors
    /// [`Sent::TooSlow`] or [`Sent::Gone`]: the frame was not queued.
    pub fn send_numbered(&self, frame: Frame) -> Result<u64, Sent> {
        let shared = &self.shared;
        if shared.requested().is_some() {
            return Err(Sent::Gone);
        }
        let mut queue = shared.queue();
        if queue.frames.len() >= shared.limits.frames
            || queue.bytes + frame.len() > shared.limits.bytes
        {
            drop(queue);
            shared.close(close::TRY_AGAIN_LATER);
            return Err(Sent::TooSlow);
        }
        queue.bytes += frame.len();
        queue.frames.push_back(frame);
        queue.pushed += 1;
        let number = queue.pushed;
        drop(queue);
        shared.waker.wake();
        Ok(number)
    }

    /// How many of the frames queued have been written to the socket and flushed.
    pub fn flushed(&self) -> u64 {
        self.shared.flushed.load(Ordering::Acquire)
    }

    /// Asks the connection to close with `code`.
    pub fn close(&self, code: u16) {
        self.shared.close(code);
    }

    /// Whether the connection is closing or gone: frames sent now are dropped.
    pub fn is_closing(&self) -> bool {
        self.shared.requested().is_some()
    }
}

impl Outbox {
    /// Wakes the task of `waker` at the next frame queued or close asked for. Call it before
    /// [`Outbox::requested`] and [`Outbox::take`], so that nothing between is missed.
    pub fn watch(&self, waker: &Waker) {
        self.shared.waker.register(waker);
    }

    /// The close code asked for, if a close has been.
    pub fn requested(&self) -> Option<u16> {
        self.shared.requested()
    }

    /// Moves up to `max` queued frames into `into`; false if none were queued.
    pub fn take(&self, into: &mut Vec<Frame>, max: usize) -> bool {
        let mut queue = self.shared.queue();
        if queue.frames.is_empty() {
            return false;
        }
        // Their bytes stay counted until the writer has flushed them (see
        // `Outbox::flushed`): a client that does not read holds them as much.
        let n = queue.frames.len().min(max);
        into.extend(queue.frames.drain(..n));
        if queue.frames.is_empty() && queue.frames.capacity() > 64 {
            // A burst is over: give back what it grew, keep a little.
            queue.frames.shrink_to(16);
        }
        true
    }

    /// What to write next: [`Next::Close`] once a close is asked for (frames still queued are
    /// then dropped), else up to `max` queued frames moved into `into`; pending (and woken
    /// later) while there are none.
    pub fn poll_next(&self, cx: &mut Context<'_>, into: &mut Vec<Frame>, max: usize) -> Poll<Next> {
        self.watch(cx.waker());
        if let Some(code) = self.requested() {
            Poll::Ready(Next::Close(code))
        } else if self.take(into, max) {
            Poll::Ready(Next::Write)
        } else {
            Poll::Pending
        }
    }

    /// Asks the connection to close with `code`. The first request wins.
    pub fn close(&self, code: u16) {
        self.shared.close(code);
    }

    /// The writer has flushed `n` more frames, of `bytes` bytes, to the socket: their bytes no
    /// longer count against the queue's byte bound.
    pub fn flushed(&self, n: usize, bytes: usize) {
        self.shared.queue().bytes -= bytes;
        self.shared.flushed.fetch_add(n as u64, Ordering::Release);
    }

    /// Notes that the client sent something (any frame, a pong included).
    pub fn heard(&self) {
        let ms = self.shared.opened.elapsed().as_millis() as u64;
        self.shared.last_heard_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the client has been silent.
    pub fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.shared.last_heard_ms.load(Ordering::Relaxed));
        self.shared.opened.elapsed().saturating_sub(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(outbox: &Outbox, into: &mut Vec<Frame>, max: usize) -> Next {
        std::future::poll_fn(|cx| outbox.poll_next(cx, into, max)).await
    }

    fn frames(n: usize) -> QueueLimits {
        QueueLimits {
            frames: n,
            bytes: usize::MAX,
        }
    }

    /// Room for 100 frames but only 10 bytes.
    fn ten_bytes() -> QueueLimits {
        QueueLimits {
            frames: 100,
            bytes: 10,
        }
    }

    #[tokio::test]
    async fn a_queue_over_its_byte_bound_closes_the_connection_too() {
        let (conn, outbox) = channel(1, None, ten_bytes());
        assert_eq!(conn.send("12345".into()), Sent::Queued);
        assert_eq!(conn.send("12345".into()), Sent::Queued);
        assert_eq!(conn.send("1".into()), Sent::TooSlow);
        assert_eq!(outbox.requested(), Some(close::TRY_AGAIN_LATER));
    }

    #[tokio::test]
    async fn written_frames_free_their_bytes() {
        let (conn, outbox) = channel(1, None, ten_bytes());
        assert_eq!(conn.send("1234567890".into()), Sent::Queued);
        let mut burst = Vec::new();
        assert_eq!(next(&outbox, &mut burst, 8).await, Next::Write);
        assert_eq!(
            conn.send("1".into()),
            Sent::TooSlow,
            "frames being written still count"
        );
        let (conn, outbox) = channel(2, None, ten_bytes());
        assert_eq!(conn.send("1234567890".into()), Sent::Queued);
        assert_eq!(next(&outbox, &mut burst, 8).await, Next::Write);
        outbox.flushed(1, 10);
        assert_eq!(conn.send("1234567890".into()), Sent::Queued);
    }

    #[tokio::test]
    async fn a_full_queue_closes_the_connection_as_too_slow() {
        let (conn, outbox) = channel(1, None, frames(2));
        assert_eq!(conn.send("a".into()), Sent::Queued);
        assert_eq!(conn.send("b".into()), Sent::Queued);
        assert_eq!(conn.send("c".into()), Sent::TooSlow);
        assert_eq!(outbox.requested(), Some(close::TRY_AGAIN_LATER));
        let mut burst = Vec::new();
        assert_eq!(
            next(&outbox, &mut burst, 10).await,
            Next::Close(close::TRY_AGAIN_LATER),
            "the writer stops rather than write the backlog"
        );
        assert_eq!(
            conn.send("d".into()),
            Sent::Gone,
            "a closing connection takes no more"
        );
    }

    #[tokio::test]
    async fn the_first_close_request_wins_and_wakes_the_connection() {
        let (conn, outbox) = channel(1, None, frames(2));
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { next(&outbox, &mut Vec::new(), 3).await }
        });
        tokio::task::yield_now().await;
        conn.close(close::NORMAL);
        conn.close(close::GOING_AWAY);
        assert_eq!(waiting.await.unwrap(), Next::Close(close::NORMAL));
        assert_eq!(outbox.requested(), Some(close::NORMAL));
    }

    #[tokio::test]
    async fn bursts_take_what_is_queued_up_to_the_limit() {
        let (conn, outbox) = channel(1, None, frames(100));
        for i in 0..5 {
            conn.send(i.to_string().into());
        }
        let mut burst = Vec::new();
        assert_eq!(next(&outbox, &mut burst, 3).await, Next::Write);
        assert_eq!(burst, ["0", "1", "2"]);
        burst.clear();
        assert_eq!(next(&outbox, &mut burst, 3).await, Next::Write);
        assert_eq!(burst, ["3", "4"]);
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { next(&outbox, &mut Vec::new(), 3).await }
        });
        tokio::task::yield_now().await;
        conn.close(close::NORMAL);
        assert_eq!(waiting.await.unwrap(), Next::Close(close::NORMAL));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_measured_from_the_last_frame() {
        let (_conn, outbox) = channel(1, None, frames(1));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(outbox.silent_for(), Duration::from_secs(5));
        outbox.heard();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(outbox.silent_for(), Duration::from_secs(2));
    }
}
