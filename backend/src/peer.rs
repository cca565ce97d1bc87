//! The handle through which the hub reaches one connection: a bounded queue of frames to write,
//! and a way to ask the connection to close.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use tokio_util::sync::CancellationToken;

use shared::limits::close;

/// Identifies one WebSocket connection for its whole life (not the user: a user's session can
/// move to another connection by a token takeover).
pub type ConnId = u64;

/// A frame ready to write: JSON serialised once and shared by every recipient (cloning it
/// only bumps a reference count).
pub type Frame = Utf8Bytes;

/// What the hub holds of a connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Peer {
    pub id: ConnId,
    /// Frames for the connection's writer task. Bounded: see [`Peer::send`].
    tx: mpsc::Sender<Frame>,
    control: Arc<Control>,
}

/// The writer task's half of a [`Peer`].
#[derive(Debug)]
pub struct Outbox {
    pub rx: mpsc::Receiver<Frame>,
    pub control: Arc<Control>,
}

/// A request to close, out of band of the queue, so that it gets through when the queue is
/// full. Both the reader and the writer of the connection wait on it.
#[derive(Debug, Default)]
pub struct Control {
    /// The close code asked for; 0 while none is.
    code: AtomicU16,
    /// Cancelled once a code is set; wakes every waiter.
    asked: CancellationToken,
}

impl Control {
    /// Asks for the connection to close with `code`. The first request wins.
    pub fn close(&self, code: u16) {
        if self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.asked.cancel();
        }
    }

    /// The close code asked for, if any.
    pub fn requested(&self) -> Option<u16> {
        match self.code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Waits until a close is asked for, and returns its code.
    pub async fn closed(&self) -> u16 {
        self.asked.cancelled().await;
        self.code.load(Ordering::Acquire)
    }
}

/// What became of a frame handed to [`Peer::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue was full: the connection is being closed as too slow.
    TooSlow,
    /// The connection is already gone.
    Gone,
}

/// A new connection's two halves.
pub fn channel(id: ConnId, capacity: usize) -> (Peer, Outbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let control = Arc::new(Control::default());
    (
        Peer {
            id,
            tx,
            control: control.clone(),
        },
        Outbox { rx, control },
    )
}

impl Peer {
    /// Queues a frame without waiting. A peer whose queue is full is not waited for: it is
    /// asked to close with 1013, so one slow reader never holds up the others nor grows memory.
    pub fn send(&self, frame: Frame) -> Sent {
        match self.tx.try_send(frame) {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.control.close(close::TRY_AGAIN_LATER);
                Sent::TooSlow
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Gone,
        }
    }

    /// Asks the connection to close with `code`.
    pub fn close(&self, code: u16) {
        self.control.close(code);
    }

    /// Waits until the connection is asked to close.
    pub async fn closing(&self) -> u16 {
        self.control.closed().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_closes_the_peer_as_too_slow() {
        let (peer, mut outbox) = channel(1, 2);
        assert_eq!(peer.send("a".into()), Sent::Queued);
        assert_eq!(peer.send("b".into()), Sent::Queued);
        assert_eq!(peer.send("c".into()), Sent::TooSlow);
        assert_eq!(outbox.control.closed().await, close::TRY_AGAIN_LATER);
        assert_eq!(outbox.rx.recv().await.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn the_first_close_request_wins() {
        let (peer, outbox) = channel(1, 2);
        peer.close(close::NORMAL);
        peer.close(close::GOING_AWAY);
        assert_eq!(outbox.control.closed().await, close::NORMAL);
        drop(outbox);
        assert_eq!(peer.send("x".into()), Sent::Gone);
    }
}
