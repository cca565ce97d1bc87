//! Parsing the relay's frames in one pass into one flat struct of every field a frame may
//! carry, then building the frame its `type` names from it.
//!
//! Why: serde deserialises an internally tagged enum (and every `flatten`ed or untagged field)
//! by buffering the whole object in its `Content` tree and replaying it per variant, and a
//! struct per variant costs a visitor each; in the web client that was the largest single cost
//! after yew (docs/BENCHMARKS.md). [`Fields`] is one visitor for every frame, chat's and
//! operators' alike. A frame's result is what the derived `Deserialize` gives for every frame
//! the protocol allows: the same required fields and defaults, unknown fields ignored, and a
//! `room`/`to` (or `room`/`with`) pair resolved as the untagged enums do, `room` first. (A
//! field of another frame type, with a type unlike its own there, now fails the frame; no
//! frame of the protocol has one.)

use crate::json::Error;
use serde::Deserialize;
use serde::de::{self, Deserializer, Error as _, Visitor};

use crate::ops::{HostResult, HostStatus, OpsMsg, OutputStream, RunSummary, StatsPoint};
use crate::{ChatMessage, ConversationId, ErrorCode, Ext, RoomInfo, ServerMsg, Target};
#[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
use crate::{Quote, Reaction};

/// Every field of every frame the relay sends, and of the objects in its lists (messages,
/// dashboard points, runs, rooms), each optional.
#[derive(Default)]
struct Fields {
    /// `type`.
    kind: Option<String>,
    name: Option<String>,
    token: Option<String>,
    operator: Option<bool>,
    attached: Option<bool>,
    room: Option<String>,
    to: Option<String>,
    with: Option<String>,
    /// `joined`'s names, or a room's count in `rooms`.
    members: Option<Mixed<String>>,
    history: Option<Vec<Fields>>,
    messages: Option<Vec<Fields>>,
    more: Option<bool>,
    /// `members`' count.
    count: Option<usize>,
    /// `presence`'s flag, or `users`' list.
    online: Option<Mixed<String>>,
    /// `rooms`' list, or a dashboard point's count.
    rooms: Option<Mixed<Fields>>,
    seq: Option<u64>,
    from: Option<String>,
    text: Option<String>,
    ts: Option<u64>,
    cid: Option<String>,
    mid: Option<String>,
    code: Option<String>,
    message: Option<String>,
    points: Option<Vec<Fields>>,
    node: Option<String>,
    cpu: Option<Vec<f32>>,
    mem_total: Option<u64>,
    mem_available: Option<u64>,
    rss: Option<u64>,
    connections: Option<u64>,
    sessions: Option<u64>,
    messages_per_s: Option<f32>,
    deliveries_per_s: Option<f32>,
    run: Option<String>,
    /// `run_started`'s list, or a run's count in `runs`.
    hosts: Option<Mixed<String>>,
    command: Option<String>,
    host: Option<String>,
    stream: Option<String>,
    status: Option<String>,
    exit: Option<i32>,
    signal: Option<String>,
    ms: Option<u64>,
    truncated: Option<bool>,
    ok: Option<u32>,
    failed: Option<u32>,
    runs: Option<Vec<Fields>>,
    by: Option<String>,
    done: Option<bool>,
    /// A message's reply quote (its `seq`, `from` and `text`). Not read by the web client
    /// (`browser` on wasm32), which shows neither quotes nor reactions yet: reading them would cost its
    /// bundle for nothing, so there they are skipped like unknown fields.
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    reply: Option<Box<Fields>>,
    edited: Option<u64>,
    deleted: Option<bool>,
    /// A message's reactions (each an `emoji` and its `names`).
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    reactions: Option<Vec<Fields>>,
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    emoji: Option<String>,
    /// A reaction's names (a list; the type `members` has, to share its reader).
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    names: Option<Mixed<String>>,
    rev: Option<u64>,
    q: Option<String>,
}

/// By hand rather than derived: a derived struct also reads a JSON array as its fields, and
/// names its fields through an enum; a frame is always an object, and this is a third of the
/// code.
impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a frame object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut f = Fields::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" => f.kind = map.next_value()?,
                        "name" => f.name = map.next_value()?,
                        "token" => f.token = map.next_value()?,
                        "operator" => f.operator = map.next_value()?,
                        "attached" => f.attached = map.next_value()?,
                        "room" => f.room = map.next_value()?,
                        "to" => f.to = map.next_value()?,
                        "with" => f.with = map.next_value()?,
                        "members" => f.members = map.next_value()?,
                        "history" => f.history = map.next_value()?,
                        "messages" => f.messages = map.next_value()?,
                        "more" => f.more = map.next_value()?,
                        "count" => f.count = map.next_value()?,
                        "online" => f.online = map.next_value()?,
                        "rooms" => f.rooms = map.next_value()?,
                        "seq" => f.seq = map.next_value()?,
                        "from" => f.from = map.next_value()?,
                        "text" => f.text = map.next_value()?,
                        "ts" => f.ts = map.next_value()?,
                        "cid" => f.cid = map.next_value()?,
                        "mid" => f.mid = map.next_value()?,
                        "code" => f.code = map.next_value()?,
                        "message" => f.message = map.next_value()?,
                        "points" => f.points = map.next_value()?,
                        "node" => f.node = map.next_value()?,
                        "cpu" => f.cpu = map.next_value()?,
                        "mem_total" => f.mem_total = map.next_value()?,
                        "mem_available" => f.mem_available = map.next_value()?,
                        "rss" => f.rss = map.next_value()?,
                        "connections" => f.connections = map.next_value()?,
                        "sessions" => f.sessions = map.next_value()?,
                        "messages_per_s" => f.messages_per_s = map.next_value()?,
                        "deliveries_per_s" => f.deliveries_per_s = map.next_value()?,
                        "run" => f.run = map.next_value()?,
                        "hosts" => f.hosts = map.next_value()?,
                        "command" => f.command = map.next_value()?,
                        "host" => f.host = map.next_value()?,
                        "stream" => f.stream = map.next_value()?,
                        "status" => f.status = map.next_value()?,
                        "exit" => f.exit = map.next_value()?,
                        "signal" => f.signal = map.next_value()?,
                        "ms" => f.ms = map.next_value()?,
                        "truncated" => f.truncated = map.next_value()?,
                        "ok" => f.ok = map.next_value()?,
                        "failed" => f.failed = map.next_value()?,
                        "runs" => f.runs = map.next_value()?,
                        "by" => f.by = map.next_value()?,
                        "done" => f.done = map.next_value()?,
                        #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
                        "reply" => f.reply = map.next_value()?,
                        "edited" => f.edited = map.next_value()?,
                        "deleted" => f.deleted = map.next_value()?,
                        #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
                        "reactions" => f.reactions = map.next_value()?,
                        #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
                        "emoji" => f.emoji = map.next_value()?,
                        #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
                        "names" => f.names = map.next_value()?,
                        "rev" => f.rev = map.next_value()?,
                        "q" => f.q = map.next_value()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(f)
            }
        }
        d.deserialize_map(V)
    }
}

/// A field whose type depends on the object it is in: a flag, a count or a list.
enum Mixed<T> {
    Flag(bool),
    Count(u64),
    List(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Mixed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Mixed<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean, a count or a list")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Mixed<T>, E> {
                Ok(Mixed::Flag(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Mixed<T>, E> {
                Ok(Mixed::Count(n))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Mixed<T>, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element()? {
                    list.push(item);
                }
                Ok(Mixed::List(list))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn flag(m: Option<Mixed<String>>, field: &'static str) -> Result<bool, Error> {
    match m {
        Some(Mixed::Flag(b)) => Ok(b),
        _ => Err(missing(field)),
    }
}

fn count<N: TryFrom<u64>>(m: Option<Mixed<impl Sized>>, field: &'static str) -> Result<N, Error> {
    match m {
        Some(Mixed::Count(n)) => {
            N::try_from(n).map_err(|_| Error::custom(format!("{field} out of range")))
        }
        _ => Err(missing(field)),
    }
}

fn list<T>(m: Option<Mixed<T>>, field: &'static str) -> Result<Vec<T>, Error> {
    match m {
        Some(Mixed::List(list)) => Ok(list),
        _ => Err(missing(field)),
    }
}

fn missing(field: &'static str) -> Error {
    Error::missing_field(field)
}

/// `room` if present, else `to`, else an error (as `Target`, an untagged enum, resolves).
fn target(room: Option<String>, to: Option<String>) -> Result<Target, Error> {
    match (room, to) {
        (Some(room), _) => Ok(Target::Room { room }),
        (None, Some(to)) => Ok(Target::User { to }),
        (None, None) => Err(Error::custom("a frame needs \"room\" or \"to\"")),
    }
}

/// Takes a required field out of [`Fields`].
macro_rules! take {
    ($f:ident . $field:ident) => {
        $f.$field
            .take()
            .ok_or_else(|| missing(stringify!($field)))?
    };
}

/// A message (also as `joined.history` and `history.messages` hold it, with its `type`).
fn chat(mut f: Fields) -> Result<ChatMessage, Error> {
    let ext = ext(&mut f)?;
    Ok(ChatMessage {
        seq: take!(f.seq),
        from: take!(f.from),
        text: take!(f.text),
        ts: take!(f.ts),
        target: target(f.room, f.to)?,
        cid: f.cid,
        mid: f.mid,
        ext,
    })
}

/// A message's extension fields.
fn ext(f: &mut Fields) -> Result<Ext, Error> {
    #[cfg_attr(all(target_arch = "wasm32", feature = "browser"), allow(unused_mut))]
    let mut ext = Ext {
        edited: f.edited,
        deleted: f.deleted.unwrap_or(false),
        rev: f.rev,
        ..Ext::default()
    };
    #[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
    {
        ext.reply = f.reply.take().map(|q| quote(*q)).transpose()?;
        ext.reactions = f
            .reactions
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(reaction)
            .collect::<Result<_, _>>()?;
    }
    Ok(ext)
}

#[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
fn quote(mut f: Fields) -> Result<Quote, Error> {
    Ok(Quote {
        seq: take!(f.seq),
        from: take!(f.from),
        text: take!(f.text),
    })
}

#[cfg(not(all(target_arch = "wasm32", feature = "browser")))]
fn reaction(mut f: Fields) -> Result<Reaction, Error> {
    Ok(Reaction {
        emoji: take!(f.emoji),
        names: list(f.names, "names")?,
    })
}

/// `room` if present, else `with`, else an error.
fn conversation(room: Option<String>, with: Option<String>) -> Result<ConversationId, Error> {
    match (room, with) {
        (Some(room), _) => Ok(ConversationId::Room { room }),
        (None, Some(with)) => Ok(ConversationId::With { with }),
        (None, None) => Err(Error::custom("a frame needs \"room\" or \"with\"")),
    }
}

fn messages(list: Option<Vec<Fields>>, field: &'static str) -> Result<Vec<ChatMessage>, Error> {
    list.ok_or_else(|| missing(field))?
        .into_iter()
        .map(chat)
        .collect()
}

fn room_info(mut f: Fields) -> Result<RoomInfo, Error> {
    Ok(RoomInfo {
        room: take!(f.room),
        members: count(f.members, "members")?,
    })
}

fn point(mut f: Fields) -> Result<StatsPoint, Error> {
    Ok(StatsPoint {
        node: take!(f.node),
        ts: take!(f.ts),
        cpu: f.cpu,
        mem_total: take!(f.mem_total),
        mem_available: take!(f.mem_available),
        rss: take!(f.rss),
        connections: take!(f.connections),
        sessions: take!(f.sessions),
        rooms: count(f.rooms, "rooms")?,
        messages_per_s: take!(f.messages_per_s),
        deliveries_per_s: take!(f.deliveries_per_s),
    })
}

fn summary(mut f: Fields) -> Result<RunSummary, Error> {
    Ok(RunSummary {
        run: take!(f.run),
        by: take!(f.by),
        ts: take!(f.ts),
        command: take!(f.command),
        hosts: count(f.hosts, "hosts")?,
        ok: take!(f.ok),
        failed: take!(f.failed),
        done: take!(f.done),
    })
}

/// Each object of a required list, converted.
fn each<T>(
    list: Option<Vec<Fields>>,
    field: &'static str,
    convert: fn(Fields) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    list.ok_or_else(|| missing(field))?
        .into_iter()
        .map(convert)
        .collect()
}

fn fields(text: &str) -> Result<(String, Fields), Error> {
    // In the web client, the browser's JSON.parse (`json.rs`).
    let mut f: Fields = crate::json::from_str(text)?;
    let kind = f.kind.take().ok_or_else(|| missing("type"))?;
    Ok((kind, f))
}

fn unknown(kind: &str) -> Error {
    Error::custom(format!("unknown frame type {kind:?}"))
}

/// One relay → client frame (see [`ServerMsg::parse`]).
pub(crate) fn server_msg(text: &str) -> Result<ServerMsg, Error> {
    let (kind, mut f) = fields(text)?;
    Ok(match kind.as_str() {
        "welcome" => ServerMsg::Welcome {
            name: take!(f.name),
            token: take!(f.token),
            operator: f.operator.unwrap_or(false),
            attached: f.attached.unwrap_or(false),
            connections: f
                .connections
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        },
        "joined" => ServerMsg::Joined {
            room: take!(f.room),
            members: list(f.members, "members")?,
            history: messages(f.history, "history")?,
            more: f.more.unwrap_or(false),
        },
        "history" => ServerMsg::History {
            conversation: conversation(f.room, f.with)?,
            messages: messages(f.messages, "messages")?,
            more: take!(f.more),
        },
        "changes" => ServerMsg::Changes {
            conversation: conversation(f.room, f.with)?,
            messages: messages(f.messages, "messages")?,
            more: take!(f.more),
        },
        "found" => ServerMsg::Found {
            q: take!(f.q),
            messages: messages(f.messages, "messages")?,
        },
        "left" => ServerMsg::Left {
            room: take!(f.room),
        },
        "read" => ServerMsg::Read {
            conversation: conversation(f.room, f.with)?,
            seq: take!(f.seq),
        },
        "protected" => ServerMsg::Protected {
            name: take!(f.name),
        },
        "presence" => ServerMsg::Presence {
            room: take!(f.room),
            name: take!(f.name),
            online: flag(f.online, "online")?,
        },
        "members" => ServerMsg::Members {
            room: take!(f.room),
            count: take!(f.count),
            members: f.members.map(|m| list(Some(m), "members")).transpose()?,
        },
        "message" => ServerMsg::Message(chat(f)?),
        "changed" => ServerMsg::Changed(chat(f)?),
        "rooms" => ServerMsg::Rooms {
            rooms: list(f.rooms, "rooms")?
                .into_iter()
                .map(room_info)
                .collect::<Result<_, _>>()?,
        },
        "users" => ServerMsg::Users {
            online: list(f.online, "online")?,
        },
        "typing" => ServerMsg::Typing {
            name: take!(f.name),
            target: target(f.room, f.to)?,
        },
        "error" => ServerMsg::Error {
            code: ErrorCode::from_wire(&take!(f.code)),
            message: take!(f.message),
            cid: f.cid,
        },
        other => return Err(unknown(other)),
    })
}

/// One frame only operators get (see [`OpsMsg::parse`]).
pub(crate) fn ops_msg(text: &str) -> Result<OpsMsg, Error> {
    let (kind, mut f) = fields(text)?;
    Ok(match kind.as_str() {
        "stats" => OpsMsg::Stats {
            points: each(f.points, "points", point)?,
        },
        "run_started" => OpsMsg::RunStarted {
            run: take!(f.run),
            hosts: list(f.hosts, "hosts")?,
            command: take!(f.command),
            cid: f.cid,
        },
        "run_output" => OpsMsg::RunOutput {
            run: take!(f.run),
            host: take!(f.host),
            stream: match take!(f.stream).as_str() {
                "stdout" => OutputStream::Stdout,
                "stderr" => OutputStream::Stderr,
                other => return Err(Error::custom(format!("unknown stream {other:?}"))),
            },
            text: take!(f.text),
        },
        "run_host" => OpsMsg::RunHost {
            run: take!(f.run),
            result: HostResult {
                host: take!(f.host),
                status: HostStatus::from_wire(&take!(f.status)),
                exit: f.exit,
                signal: f.signal,
                message: f.message,
                ms: take!(f.ms),
                truncated: f.truncated.unwrap_or(false),
            },
        },
        "run_done" => OpsMsg::RunDone {
            run: take!(f.run),
            ok: take!(f.ok),
            failed: take!(f.failed),
            ms: take!(f.ms),
        },
        "runs" => OpsMsg::Runs {
            runs: each(f.runs, "runs", summary)?,
        },
        other => return Err(unknown(other)),
    })
}
