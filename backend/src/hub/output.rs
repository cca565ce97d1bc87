//! Where the hub's output leaves it: frames queued to connections (through their
//! [`ConnHandle`], which never waits) and jobs handed to the engine. Handlers and the
//! fan-out call these; they call nothing back.

use shared::{ConversationId, ErrorCode, ServerMsg};

use super::{Handled, State, read_failed, refuse};
use crate::engine::{Busy, Job, Page, ReadError};
use crate::metrics::Metrics;
use crate::outbox::{ConnHandle, ConnId, Frame, Sent};

impl State {
    /// Hands `job` to the engine.
    pub(super) fn submit(&self, job: Job) -> Handled {
        match self.engine.submit(job) {
            Ok(()) => Ok(()),
            Err(Busy::Full) => refuse(
                ErrorCode::RateLimited,
                "the relay is storing as many messages as it can; send this again shortly",
            ),
            Err(Busy::Stopped) => refuse(ErrorCode::Internal, "the relay is shutting down"),
        }
    }

    /// Queues `msg` for connection `id`.
    pub(super) fn send(&self, id: ConnId, msg: &ServerMsg) {
        self.send_frame(id, encode(msg));
    }

    /// Queues an encoded frame for connection `id`, if it is still there.
    pub(super) fn send_frame(&self, id: ConnId, frame: Frame) {
        if let Some(conn) = self.conns.get(&id) {
            self.deliver(&conn.handle, frame);
        }
    }

    /// Queues an already encoded frame for one connection and counts it.
    pub(super) fn deliver(&self, handle: &ConnHandle, frame: Frame) {
        deliver(&self.metrics, handle, frame);
    }

    /// Answers a `history` request with the `page` read for `conversation`.
    pub(super) fn send_history(
        &self,
        id: ConnId,
        conversation: ConversationId,
        page: Result<Page, ReadError>,
    ) -> Handled {
        let page = page.map_err(|e| read_failed(&e))?;
        let history = ServerMsg::History {
            conversation,
            messages: page.messages,
            more: page.more,
        };
        self.send(id, &history);
        Ok(())
    }

    pub(super) fn error(&self, id: ConnId, code: ErrorCode, message: String, cid: Option<String>) {
        Metrics::inc(&self.metrics.errors_sent);
        tracing::debug!(conn = id, %code, %message, "refused a frame");
        self.send(id, &ServerMsg::Error { code, message, cid });
    }
}

/// Queues an already encoded frame for one connection and counts it. A free function, so that the
/// fan-out can call it while it holds a room mutably.
pub(super) fn deliver(metrics: &Metrics, handle: &ConnHandle, frame: Frame) {
    match handle.send(frame) {
        Sent::Queued => Metrics::inc(&metrics.deliveries),
        Sent::TooSlow => {
            Metrics::inc(&metrics.closed_too_slow);
            tracing::info!(
                conn = handle.id,
                "closing a connection that is not reading fast enough"
            );
        }
        Sent::Gone => {}
    }
}

/// Serialises a frame once, to be shared by all its recipients.
pub(super) fn encode(msg: &ServerMsg) -> Frame {
    Frame::from(msg.to_json())
}

/// An operator's frame, encoded once for all its recipients.
pub(super) fn encode_ops(msg: &shared::ops::OpsMsg) -> Frame {
    Frame::from(msg.to_json())
}
