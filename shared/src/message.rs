//! The typed frames. `ClientFrame` goes client → relay, `ServerMsg` relay → client.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Ext};

/// One frame from a client: the message and the client's optional id for it.
///
/// `cid` may come with any frame. The relay echoes it on the `message` copy that acknowledges a
/// `say` or `dm`, and on any `error` the frame causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    #[serde(flatten)]
    pub msg: ClientMsg,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

impl ClientFrame {
    /// A frame without a `cid`.
    pub fn new(msg: ClientMsg) -> Self {
        Self { msg, cid: None }
    }

    /// A frame with a `cid`.
    pub fn with_cid(msg: ClientMsg, cid: impl Into<String>) -> Self {
        Self {
            msg,
            cid: Some(cid.into()),
        }
    }

    /// Parses one text frame.
    ///
    /// # Errors
    /// [`FrameError`] when the text is not a JSON object with a known string `type` and that
    /// type's fields. It carries the object's `cid`, if it had a string one, so that the
    /// `error` answering the frame can echo it.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| FrameError {
            reason: format!("not JSON: {e}"),
            cid: None,
        })?;
        let serde_json::Value::Object(object) = &value else {
            return Err(FrameError {
                reason: "a frame must be a JSON object".into(),
                cid: None,
            });
        };
        let cid = object.get("cid").and_then(|c| c.as_str()).map(String::from);
        // serde would also take a variant's index as its tag; the contract says a string.
        if !object.get("type").is_some_and(serde_json::Value::is_string) {
            return Err(FrameError {
                reason: "a frame needs a string \"type\" field".into(),
                cid,
            });
        }
        Self::deserialize(value).map_err(|e| FrameError {
            reason: e.to_string(),
            cid,
        })
    }

    /// The frame as JSON text: the message's object with `cid` added last, which is what the
    /// derived `Serialize` writes, written by hand (`crate::json::Object`): serde's
    /// serialisation costs the web client's bundle.
    pub fn to_json(&self) -> String {
        let mut object = self.msg.object();
        object.opt_str("cid", self.cid.as_deref());
        object.finish()
    }
}

/// Why a text frame is not a [`ClientFrame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// What is wrong, for a person.
    pub reason: String,
    /// The `cid` of the frame, if it was an object with a string `cid`.
    pub cid: Option<String>,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FrameError {}

/// What a client asks of the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first frame: start a session under `name`, or take over the session whose token
    /// this is.
    Hello {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Extension: this client acknowledges private messages with `ack`. Until it does,
        /// the relay delivers them again on every hello (at-least-once). Without it, a private
        /// message counts as received once it is queued on the recipient's connection.
        #[serde(
            default,
            deserialize_with = "null_is_false",
            skip_serializing_if = "is_false"
        )]
        acks: bool,
        /// Extension: the password of a protected name (see `protect`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// Extension (several connections): if the name has a live session, join it as one
        /// more connection of the same person instead of taking it over. A protected name
        /// still needs its password or the session's token; an unprotected one nothing more.
        #[serde(
            default,
            deserialize_with = "null_is_false",
            skip_serializing_if = "is_false"
        )]
        attach: bool,
    },
    /// Join (or create) a room.
    Join {
        room: String,
        /// Extension (resume): the last `seq` of this room the client has. `joined.history`
        /// then holds exactly the messages after it (the newest [`REPLAY_LEN`] of them, with
        /// `more` set when there were more).
        ///
        /// [`REPLAY_LEN`]: crate::limits::REPLAY_LEN
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Leave a room.
    Leave { room: String },
    /// Send a message to a joined room.
    Say {
        room: String,
        text: String,
        /// Extension (idempotent sends): the client's id for this message, at most 64
        /// characters. A `say` or `dm` repeated with the same `mid` by the same user is stored
        /// once; the repeat is answered with the original's `message` (docs/PROTOCOL.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
        /// Extension (replies): the `seq` of the message of this room that this one answers;
        /// the relay stores its quote with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<u64>,
    },
    /// List the rooms that have members.
    Rooms,
    /// Send a private message.
    Dm {
        to: String,
        text: String,
        /// Extension (idempotent sends), as for `say`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
        /// Extension (replies), as for `say`: a `seq` of the conversation with `to`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<u64>,
    },
    /// List the users online.
    Users,
    /// "I am typing", to a room (`room`) or to one user (`to`); exactly one of the two.
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// Extension (scrollback): older messages of a room (`room`) or of the private
    /// conversation with one user (`with`), exactly one of the two. `before` is a `seq`
    /// (absent: the newest); `limit` defaults to [`HISTORY_LEN`] and is at most
    /// [`HISTORY_PAGE_MAX`].
    ///
    /// [`HISTORY_LEN`]: crate::limits::HISTORY_LEN
    /// [`HISTORY_PAGE_MAX`]: crate::limits::HISTORY_PAGE_MAX
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Extension: the client has received every private message with `with` up to and
    /// including `seq`; the relay will not deliver them again.
    Ack { with: String, seq: u64 },
    /// Extension: protect this session's name with `password` (or change its password). From
    /// then on a `hello` with the name needs the password, or the live session's token.
    Protect { password: String },
    /// Extension (several connections): this connection has read the room (`room`) or the
    /// private conversation with one user (`with`), exactly one of the two, up to `seq`. The
    /// relay tells the person's other connections (a `read` of the same shape); nothing is
    /// stored.
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        seq: u64,
    },
    /// Extension (changes): replace the text of your own message `seq` of the room (`room`)
    /// or of the private conversation with one user (`with`), exactly one of the two.
    Edit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        seq: u64,
        text: String,
    },
    /// Extension (changes): delete your own message `seq`, addressed as for `edit`.
    Delete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        seq: u64,
    },
    /// Extension (changes): add your reaction `emoji` to message `seq`, addressed as for
    /// `edit`, or take it back (`remove`).
    React {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        seq: u64,
        emoji: String,
        #[serde(
            default,
            deserialize_with = "null_is_false",
            skip_serializing_if = "is_false"
        )]
        remove: bool,
    },
    /// Extension (changes): the messages of a room (`room`, joined) or of the private
    /// conversation with one user (`with`) changed after revision `rev`, oldest change first,
    /// at most [`CHANGES_PAGE`]; answered by `changes`.
    ///
    /// [`CHANGES_PAGE`]: crate::limits::CHANGES_PAGE
    Changes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        rev: u64,
    },
    /// Extension (search): the messages of the rooms this person is in and of their own
    /// private conversations whose text contains `q`, newest first, at most [`SEARCH_LEN`];
    /// answered by `found`.
    ///
    /// [`SEARCH_LEN`]: crate::limits::SEARCH_LEN
    Search { q: String },
    /// Operators only (docs/OPS.md): send the dashboard's points so far, then one per interval.
    Watch,
    /// Operators only: stop sending points.
    Unwatch,
    /// Operators only: run `command` over SSH on every host of `hosts`.
    Run { hosts: String, command: String },
    /// Operators only: cancel a run this operator started.
    Cancel { run: String },
    /// Operators only: list the newest runs.
    Runs,
    /// Operators only (an extension): forget the name `name`, its protection, mailbox and
    /// private conversations, ending its session if it has one; for a squatted name.
    Release { name: String },
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// `null` for a flag means it is absent, as it does for every optional field.
fn null_is_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// What the relay tells a client. (The frames only operators get are [`OpsMsg`], apart, so
/// that a client without an Operations view does not carry their parsing.)
///
/// [`OpsMsg`]: crate::ops::OpsMsg
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The session is open under `name`; `token` lets a reconnect take it over.
    Welcome {
        name: String,
        token: String,
        /// Extension (docs/OPS.md): the session is an operator's.
        #[serde(default, skip_serializing_if = "is_false")]
        operator: bool,
        /// Extension (several connections): this connection joined a live session (`hello`
        /// with `attach`) instead of starting one; `token` is that session's, unchanged.
        #[serde(default, skip_serializing_if = "is_false")]
        attached: bool,
        /// Extension (several connections): with `attached`, how many connections the person
        /// has now, this one included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connections: Option<usize>,
    },
    /// The client is in `room`, which has these `members`; `history` is its most recent
    /// messages, oldest first.
    Joined {
        room: String,
        members: Vec<String>,
        #[serde(with = "tagged_history")]
        history: Vec<ChatMessage>,
        /// Extension: older messages than those in `history` were missed too (after the
        /// join's `after`, or at all without one); page back with `history`.
        #[serde(default, skip_serializing_if = "is_false")]
        more: bool,
    },
    /// Extension (scrollback): the answer to a `history` request, oldest first; `more` says
    /// whether there are older messages still.
    History {
        #[serde(flatten)]
        conversation: ConversationId,
        #[serde(with = "tagged_history")]
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// Extension: the session's name is protected by the password just given.
    Protected { name: String },
    /// Extension (several connections): another connection of this person left `room`, so
    /// this one is no longer in it either.
    Left { room: String },
    /// Extension (several connections): another connection of this person has read `room`
    /// or the conversation `with` a user up to `seq` (its `read`, passed on).
    Read {
        #[serde(flatten)]
        conversation: ConversationId,
        seq: u64,
    },
    /// `name` came into (`online: true`) or left `room`.
    Presence {
        room: String,
        name: String,
        online: bool,
    },
    /// Extension: how many members `room` has, in place of `presence` in a room bigger than
    /// the relay's `--presence-limit` (at most one a second, when the count changed). With
    /// `members`, the room is small enough again, and that is every member's name.
    Members {
        room: String,
        count: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        members: Option<Vec<String>>,
    },
    /// A room message or a private message.
    Message(ChatMessage),
    /// Extension (changes): a message was edited, deleted or reacted to; this is its whole new
    /// state (with its `rev`), for every member of the room or both people of a private one.
    Changed(ChatMessage),
    /// Extension (changes): the answer to `changes`: each message changed after the asked
    /// revision, in its state now, oldest change first; `more` when there were more than
    /// [`CHANGES_PAGE`] (ask again after the last one's `rev`).
    ///
    /// [`CHANGES_PAGE`]: crate::limits::CHANGES_PAGE
    Changes {
        #[serde(flatten)]
        conversation: ConversationId,
        #[serde(with = "tagged_history")]
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// Extension (search): the answer to `search`, newest first.
    Found {
        q: String,
        #[serde(with = "tagged_history")]
        messages: Vec<ChatMessage>,
    },
    /// The rooms that have members now.
    Rooms { rooms: Vec<RoomInfo> },
    /// The users online now.
    Users { online: Vec<String> },
    /// `name` is typing, in a room or to the receiving user.
    Typing {
        #[serde(flatten)]
        target: Target,
        name: String,
    },
    /// A frame was refused. The connection stays open unless the protocol says otherwise.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
    },
}

impl ServerMsg {
    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>, cid: Option<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            cid,
        }
    }

    /// Parses one text frame: the same result as the derived `Deserialize`, in two passes
    /// (`type`, then the frame's fields) that keep serde's buffering out of the web client
    /// (see `parse.rs`).
    ///
    /// # Errors
    /// The JSON error when the text is not a frame this version knows.
    pub fn parse(text: &str) -> Result<Self, crate::json::Error> {
        crate::parse::server_msg(text)
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ServerMsg always serialises")
    }
}

/// A chat message as every recipient sees it: in a room, or between two users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Where it was sent: `room`, or `to` for a private message.
    #[serde(flatten)]
    pub target: Target,
    /// Position in its room or pair of users: 1, 2, 3 … with no gaps.
    pub seq: u64,
    /// The sender's session name, set by the relay.
    pub from: String,
    pub text: String,
    /// Milliseconds since the Unix epoch, set by the relay.
    pub ts: u64,
    /// The sender's id for the frame, echoed unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Extension: the sender's id for the message (`mid` of its `say` or `dm`), stored with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    /// Extension (changes): its reply quote, edits, deletion, reactions and revision.
    #[serde(flatten)]
    pub ext: Ext,
}

/// Where a message or a typing notice is going.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// A room, by name.
    Room { room: String },
    /// A user, by the name they said in `hello`.
    User { to: String },
}

/// A conversation whose history is asked for: a room, or the private one with a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConversationId {
    Room { room: String },
    With { with: String },
}

/// One entry of a `rooms` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub room: String,
    pub members: usize,
}

/// `joined.history` holds whole `message` objects, `"type"` included, exactly as they were
/// delivered live.
mod tagged_history {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ChatMessage;

    #[derive(Serialize)]
    #[serde(tag = "type", rename = "message")]
    struct TaggedRef<'a> {
        #[serde(flatten)]
        msg: &'a ChatMessage,
    }

    #[derive(Deserialize)]
    struct Tagged {
        #[serde(flatten)]
        msg: ChatMessage,
    }

    pub fn serialize<S: Serializer>(history: &[ChatMessage], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(history.iter().map(|msg| TaggedRef { msg }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChatMessage>, D::Error> {
        let tagged = Vec::<Tagged>::deserialize(d)?;
        Ok(tagged.into_iter().map(|t| t.msg).collect())
    }
}
