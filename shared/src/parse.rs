//! Parsing the relay's frames in two passes: read `type`, then deserialise that frame's fields
//! straight from the text into a plain struct.
//!
//! Why: serde deserialises an internally tagged enum (and every `flatten`ed or untagged field)
//! by buffering the whole object in its `Content` tree and replaying it per variant; in the
//! web client that machinery, instantiated for each variant, was the largest single cost after
//! yew (docs/BENCHMARKS.md). The structs here hold the same fields with the same defaults, and
//! ignore unknown fields (`type` among them), so the result is what the derived
//! `Deserialize` gives for every frame the protocol allows. A `room`/`to` (or `room`/`with`)
//! pair resolves as the untagged enums do: `room` first.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Error as _};
use serde_json::Error;

use crate::ops::{HostResult, HostStatus, OpsMsg, RunSummary, StatsPoint};
use crate::{ChatMessage, ConversationId, ErrorCode, RoomInfo, ServerMsg, Target};

/// The first pass: only the frame's `type`.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
}

fn fields<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text)
}

/// `room` if present, else `to`, else an error (as `Target`, an untagged enum, resolves).
fn target(room: Option<String>, to: Option<String>) -> Result<Target, Error> {
    match (room, to) {
        (Some(room), _) => Ok(Target::Room { room }),
        (None, Some(to)) => Ok(Target::User { to }),
        (None, None) => Err(Error::custom("a frame needs \"room\" or \"to\"")),
    }
}

/// A chat message (also as `joined.history` and `history.messages` hold it, with its `type`).
#[derive(Deserialize)]
struct Chat {
    room: Option<String>,
    to: Option<String>,
    seq: u64,
    from: String,
    text: String,
    ts: u64,
    #[serde(default)]
    cid: Option<String>,
}

impl Chat {
    fn into_message(self) -> Result<ChatMessage, Error> {
        Ok(ChatMessage {
            target: target(self.room, self.to)?,
            seq: self.seq,
            from: self.from,
            text: self.text,
            ts: self.ts,
            cid: self.cid,
        })
    }
}

fn messages(list: Vec<Chat>) -> Result<Vec<ChatMessage>, Error> {
    list.into_iter().map(Chat::into_message).collect()
}

#[derive(Deserialize)]
struct Welcome {
    name: String,
    token: String,
    #[serde(default)]
    operator: bool,
}

#[derive(Deserialize)]
struct Joined {
    room: String,
    members: Vec<String>,
    history: Vec<Chat>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct History {
    room: Option<String>,
    with: Option<String>,
    messages: Vec<Chat>,
    more: bool,
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
struct Presence {
    room: String,
    name: String,
    online: bool,
}

#[derive(Deserialize)]
struct Rooms {
    rooms: Vec<RoomInfo>,
}

#[derive(Deserialize)]
struct Users {
    online: Vec<String>,
}

#[derive(Deserialize)]
struct Typing {
    room: Option<String>,
    to: Option<String>,
    name: String,
}

#[derive(Deserialize)]
struct Refusal {
    code: ErrorCode,
    message: String,
    #[serde(default)]
    cid: Option<String>,
}

/// One relay → client frame (see [`ServerMsg::parse`]).
pub(crate) fn server_msg(text: &str) -> Result<ServerMsg, Error> {
    let head: Head = fields(text)?;
    Ok(match head.kind.as_str() {
        "welcome" => {
            let w: Welcome = fields(text)?;
            ServerMsg::Welcome {
                name: w.name,
                token: w.token,
                operator: w.operator,
            }
        }
        "joined" => {
            let j: Joined = fields(text)?;
            ServerMsg::Joined {
                room: j.room,
                members: j.members,
                history: messages(j.history)?,
                more: j.more,
            }
        }
        "history" => {
            let h: History = fields(text)?;
            let conversation = match (h.room, h.with) {
                (Some(room), _) => ConversationId::Room { room },
                (None, Some(with)) => ConversationId::With { with },
                (None, None) => return Err(Error::custom("history needs \"room\" or \"with\"")),
            };
            ServerMsg::History {
                conversation,
                messages: messages(h.messages)?,
                more: h.more,
            }
        }
        "protected" => ServerMsg::Protected {
            name: fields::<Name>(text)?.name,
        },
        "presence" => {
            let p: Presence = fields(text)?;
            ServerMsg::Presence {
                room: p.room,
                name: p.name,
                online: p.online,
            }
        }
        "message" => ServerMsg::Message(fields::<Chat>(text)?.into_message()?),
        "rooms" => ServerMsg::Rooms {
            rooms: fields::<Rooms>(text)?.rooms,
        },
        "users" => ServerMsg::Users {
            online: fields::<Users>(text)?.online,
        },
        "typing" => {
            let t: Typing = fields(text)?;
            ServerMsg::Typing {
                target: target(t.room, t.to)?,
                name: t.name,
            }
        }
        "error" => {
            let e: Refusal = fields(text)?;
            ServerMsg::Error {
                code: e.code,
                message: e.message,
                cid: e.cid,
            }
        }
        other => return Err(Error::custom(format!("unknown frame type {other:?}"))),
    })
}

#[derive(Deserialize)]
struct Stats {
    points: Vec<StatsPoint>,
}

#[derive(Deserialize)]
struct RunStarted {
    run: String,
    hosts: Vec<String>,
    command: String,
    #[serde(default)]
    cid: Option<String>,
}

#[derive(Deserialize)]
struct RunOutput {
    run: String,
    host: String,
    stream: crate::ops::OutputStream,
    text: String,
}

#[derive(Deserialize)]
struct RunHost {
    run: String,
    host: String,
    status: HostStatus,
    #[serde(default)]
    exit: Option<i32>,
    #[serde(default)]
    signal: Option<String>,
    #[serde(default)]
    message: Option<String>,
    ms: u64,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct RunDone {
    run: String,
    ok: u32,
    failed: u32,
    ms: u64,
}

#[derive(Deserialize)]
struct Runs {
    runs: Vec<RunSummary>,
}

/// One frame only operators get (see [`OpsMsg::parse`]).
pub(crate) fn ops_msg(text: &str) -> Result<OpsMsg, Error> {
    let head: Head = fields(text)?;
    Ok(match head.kind.as_str() {
        "stats" => OpsMsg::Stats {
            points: fields::<Stats>(text)?.points,
        },
        "run_started" => {
            let r: RunStarted = fields(text)?;
            OpsMsg::RunStarted {
                run: r.run,
                hosts: r.hosts,
                command: r.command,
                cid: r.cid,
            }
        }
        "run_output" => {
            let r: RunOutput = fields(text)?;
            OpsMsg::RunOutput {
                run: r.run,
                host: r.host,
                stream: r.stream,
                text: r.text,
            }
        }
        "run_host" => {
            let r: RunHost = fields(text)?;
            OpsMsg::RunHost {
                run: r.run,
                result: HostResult {
                    host: r.host,
                    status: r.status,
                    exit: r.exit,
                    signal: r.signal,
                    message: r.message,
                    ms: r.ms,
                    truncated: r.truncated,
                },
            }
        }
        "run_done" => {
            let r: RunDone = fields(text)?;
            OpsMsg::RunDone {
                run: r.run,
                ok: r.ok,
                failed: r.failed,
                ms: r.ms,
            }
        }
        "runs" => OpsMsg::Runs {
            runs: fields::<Runs>(text)?.runs,
        },
        other => return Err(Error::custom(format!("unknown frame type {other:?}"))),
    })
}
