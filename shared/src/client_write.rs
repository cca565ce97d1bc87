//! `ClientMsg` written as JSON by hand (`crate::json::Object`), field for field what the
//! derived `Serialize` writes: serde's serialisation costs the web client's bundle.
//! `tests/client_json.rs` holds the two to each other.

use crate::ClientMsg;
use crate::json::Object;

impl ClientMsg {
    /// The message as a JSON object, fields as the derived `Serialize` writes them (`type`
    /// first, then in declaration order, absent options and a false `acks` left out).
    pub(crate) fn object(&self) -> Object {
        let mut o;
        match self {
            Self::Hello {
                name,
                token,
                acks,
                password,
                attach,
            } => {
                o = Object::tagged("hello");
                o.str("name", name).opt_str("token", token.as_deref());
                if *acks {
                    o.raw("acks", "true");
                }
                o.opt_str("password", password.as_deref());
                if *attach {
                    o.raw("attach", "true");
                }
            }
            Self::Join { room, after } => {
                o = Object::tagged("join");
                o.str("room", room).opt_num("after", *after);
            }
            Self::Leave { room } => {
                o = Object::tagged("leave");
                o.str("room", room);
            }
            Self::Say {
                room,
                text,
                mid,
                reply,
            } => {
                o = Object::tagged("say");
                o.str("room", room)
                    .str("text", text)
                    .opt_str("mid", mid.as_deref())
                    .opt_num("reply", *reply);
            }
            Self::Rooms => o = Object::tagged("rooms"),
            Self::Dm {
                to,
                text,
                mid,
                reply,
            } => {
                o = Object::tagged("dm");
                o.str("to", to)
                    .str("text", text)
                    .opt_str("mid", mid.as_deref())
                    .opt_num("reply", *reply);
            }
            Self::Users => o = Object::tagged("users"),
            Self::Typing { room, to } => {
                o = Object::tagged("typing");
                o.opt_str("room", room.as_deref())
                    .opt_str("to", to.as_deref());
            }
            Self::History {
                room,
                with,
                before,
                limit,
            } => {
                o = Object::tagged("history");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .opt_num("before", *before)
                    .opt_num("limit", limit.map(|l| l as u64));
            }
            Self::Ack { with, seq } => {
                o = Object::tagged("ack");
                o.str("with", with).num("seq", *seq);
            }
            Self::Protect { password } => {
                o = Object::tagged("protect");
                o.str("password", password);
            }
            Self::Read { room, with, seq } => {
                o = Object::tagged("read");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .num("seq", *seq);
            }
            Self::Edit {
                room,
                with,
                seq,
                text,
            } => {
                o = Object::tagged("edit");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .num("seq", *seq)
                    .str("text", text);
            }
            Self::Delete { room, with, seq } => {
                o = Object::tagged("delete");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .num("seq", *seq);
            }
            Self::React {
                room,
                with,
                seq,
                emoji,
                remove,
            } => {
                o = Object::tagged("react");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .num("seq", *seq)
                    .str("emoji", emoji);
                if *remove {
                    o.raw("remove", "true");
                }
            }
            Self::Changes { room, with, rev } => {
                o = Object::tagged("changes");
                o.opt_str("room", room.as_deref())
                    .opt_str("with", with.as_deref())
                    .num("rev", *rev);
            }
            Self::Search { q } => {
                o = Object::tagged("search");
                o.str("q", q);
            }
            Self::Watch => o = Object::tagged("watch"),
            Self::Unwatch => o = Object::tagged("unwatch"),
            Self::Run { hosts, command } => {
                o = Object::tagged("run");
                o.str("hosts", hosts).str("command", command);
            }
            Self::Cancel { run } => {
                o = Object::tagged("cancel");
                o.str("run", run);
            }
            Self::Runs => o = Object::tagged("runs"),
            Self::Release { name } => {
                o = Object::tagged("release");
                o.str("name", name);
            }
        }
        o
    }
}
