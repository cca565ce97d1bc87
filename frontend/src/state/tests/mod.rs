//! The reducer's tests, by theme, and the helpers they share.

use std::rc::Rc;

use shared::{
    ChatMessage, ClientFrame, ClientMsg, ConversationId, ErrorCode, RoomInfo, ServerMsg, Target,
};
use yew::Reducible;

use super::*;

mod changes;
mod conversation;
mod mids;
mod ops;
mod protect;
mod reconnect;
mod sending;
mod session;

/// Applies an action: the state after it, and the frames it caused (drained from the
/// outbox, as the driver does).
fn act(state: &Rc<State>, action: Action) -> (Rc<State>, Vec<ClientFrame>) {
    let next = state.clone().reduce(action);
    let frames = next.outbox.drain();
    (next, frames)
}

/// Applies an action; what it sends does not matter here.
fn reduce(state: &Rc<State>, action: Action) -> Rc<State> {
    act(state, action).0
}

fn login(name: &str) -> Action {
    Action::Login {
        name: name.into(),
        password: None,
    }
}

/// A frame from the relay: the state after it, and the frames it caused.
fn server_sent(state: &Rc<State>, msg: ServerMsg) -> (Rc<State>, Vec<ClientFrame>) {
    act(state, Action::Server { msg, now_ms: 1_000 })
}

fn server(state: &Rc<State>, msg: ServerMsg) -> Rc<State> {
    server_sent(state, msg).0
}

fn room_msg(room: &str, seq: u64, from: &str, text: &str, cid: Option<&str>) -> ChatMessage {
    ChatMessage {
        target: Target::Room { room: room.into() },
        seq,
        from: from.into(),
        text: text.into(),
        ts: 1_763_700_000_000 + seq,
        cid: cid.map(String::from),
        mid: None,
        ext: Default::default(),
    }
}

fn dm_msg(to: &str, seq: u64, from: &str, text: &str, cid: Option<&str>) -> ChatMessage {
    ChatMessage {
        target: Target::User { to: to.into() },
        ..room_msg("", seq, from, text, cid)
    }
}

fn joined(room: &str, members: &[&str], history: Vec<ChatMessage>) -> ServerMsg {
    ServerMsg::Joined {
        room: room.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        history,
        more: false,
    }
}

/// The random part of this test page's message ids (the root draws 16 hex digits).
const SEED: &str = "5eed0123456789ab";

/// A fresh page, with its `mid` seed.
fn page() -> Rc<State> {
    Rc::new(State {
        mid_seed: SEED.into(),
        ..State::default()
    })
}

/// The `mid` of the message sent under `cid` (`c{n}`) on a [`page`]: the seed and `n` in hex.
fn mid_for(cid: &str) -> String {
    let n: u64 = cid.trim_start_matches('c').parse().expect("a cid c{n}");
    format!("{SEED}{n:x}")
}

/// Alice, signed in and connected.
fn alice() -> Rc<State> {
    let s = page();
    let s = reduce(&s, login("alice"));
    let s = reduce(&s, Action::Connecting { attempt: 0 });
    welcomed(&reduce(&s, Action::Connected))
}

/// Welcomed as alice, with token `t1`.
fn welcomed(s: &Rc<State>) -> Rc<State> {
    server(
        s,
        ServerMsg::Welcome {
            name: "alice".into(),
            token: "t1".into(),
            operator: false,
            attached: false,
            connections: None,
        },
    )
}

/// A message from the relay.
fn message(s: &Rc<State>, m: ChatMessage) -> Rc<State> {
    server(s, ServerMsg::Message(m))
}

/// The `hello` alice's socket says, alone.
fn hello_frames(token: Option<&str>, password: Option<&str>) -> Vec<ClientFrame> {
    vec![ClientFrame::new(ClientMsg::Hello {
        name: "alice".into(),
        token: token.map(String::from),
        acks: true,
        password: password.map(String::from),
        attach: token.is_some() || password.is_some(),
    })]
}

/// The id of `lobby` in a `history` answer.
fn lobby_id() -> ConversationId {
    ConversationId::Room {
        room: "lobby".into(),
    }
}

/// Alice in `lobby` with bob, lobby open.
fn in_lobby() -> Rc<State> {
    let s = reduce(&alice(), Action::Join("lobby".into()));
    server(&s, joined("lobby", &["alice", "bob"], vec![]))
}

fn lobby(s: &State) -> &Conversation {
    &s.conversations[&ConvKey::Room("lobby".into())]
}

/// Sends `text` under the next cid: the state after, the cid, and the frames it caused.
fn send_sent(s: &Rc<State>, key: ConvKey, text: &str) -> (Rc<State>, String, Vec<ClientFrame>) {
    let cid = s.next_cid();
    let action = Action::Send {
        key,
        cid: cid.clone(),
        text: text.into(),
    };
    let (s, sent) = act(s, action);
    (s, cid, sent)
}

fn send(s: &Rc<State>, key: ConvKey, text: &str) -> (Rc<State>, String) {
    let (s, cid, _) = send_sent(s, key, text);
    (s, cid)
}

const PASSWORD: &str = "correct horse battery";

fn login_with(name: &str, password: &str) -> Action {
    Action::Login {
        name: name.into(),
        password: Some(Secret::new(password)),
    }
}

fn hello_password(s: &State) -> Option<String> {
    match s.hello().map(|f| f.msg) {
        Some(ClientMsg::Hello { password, .. }) => password,
        other => panic!("no hello: {other:?}"),
    }
}

fn protect(password: &str, confirm: &str) -> Action {
    Action::Protect {
        password: Secret::new(password),
        confirm: Secret::new(confirm),
    }
}

/// Alice, signed in with her password.
fn protected_alice() -> Rc<State> {
    let s = reduce(&page(), login_with("alice", PASSWORD));
    welcomed(&reduce(&s, Action::Connected))
}

fn room_msgs(room: &str, seqs: std::ops::RangeInclusive<u64>, from: &str) -> Vec<ChatMessage> {
    seqs.map(|q| room_msg(room, q, from, &format!("m{q}"), None))
        .collect()
}

fn history(conversation: ConversationId, messages: Vec<ChatMessage>, more: bool) -> ServerMsg {
    ServerMsg::History {
        conversation,
        messages,
        more,
    }
}

fn seqs(conv: &Conversation) -> Vec<u64> {
    conv.messages.iter().filter_map(|m| m.seq).collect()
}

fn welcome(s: &Rc<State>, token: &str) -> (Rc<State>, Vec<ClientFrame>) {
    let action = Action::Server {
        msg: ServerMsg::Welcome {
            name: "alice".into(),
            token: token.into(),
            operator: false,
            attached: false,
            connections: None,
        },
        now_ms: 1_000,
    };
    act(&reduce(s, Action::Connected), action)
}

fn drop_connection(s: &Rc<State>) -> Rc<State> {
    reduce(
        s,
        Action::Disconnected {
            retry_at_ms: 1,
            now_ms: 0,
        },
    )
}

fn history_frame(
    room: Option<&str>,
    with: Option<&str>,
    before: Option<u64>,
    limit: usize,
) -> ClientMsg {
    ClientMsg::History {
        room: room.map(String::from),
        with: with.map(String::from),
        before,
        limit: Some(limit),
    }
}
