//! The root component. It owns the state (a reducer) and the socket, and turns what the
//! children report into [`Action`]s.
//!
//! Every action goes through `Driver::act`: dispatch it (the reducer puts the frames the
//! action causes in the state's [`Outbox`](crate::state::Outbox)), drain the outbox into the
//! socket, open or close the socket as [`State::wants_connection`] says, send the messages
//! that wait ([`State::due_sends`]), keep what a reload needs in `localStorage`
//! (`crate::persist`), and after a burst of frames from the relay acknowledge private
//! messages ([`State::due_acks`]). The socket's own events come back into the same function,
//! so there is one path for every change: an action enters the client at `Driver::act`, and
//! a frame leaves it there too, through `Link::tx` to the socket service
//! (`crate::services::ws`).

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::mpsc::UnboundedSender;
use gloo_timers::callback::{Interval, Timeout};
use shared::ClientFrame;
use shared::validate::name_key;
use yew::prelude::*;

use crate::components::chat_view::ChatView;
use crate::components::login::Login;
use crate::components::operations::Operations;
use crate::components::protect::ProtectForm;
use crate::components::sidebar::{RoomEntry, RoomList};
use crate::components::status_bar::StatusBar;
use crate::components::user_list::{PersonEntry, UserList};
use crate::hooks;
use crate::persist::{SESSION_KEY, user_key};
use crate::services::browser::{load_name, mark_time, now_ms, random, save_name, ws_url};
use crate::services::{ConnEvent, Frame, storage, ws};
use crate::state::{Action, ConvKey, Secret, Snapshot, State};

/// The socket as the root holds it.
#[derive(Default)]
struct Link {
    /// Frames for the socket service; `None` when no socket is wanted. Dropping it stops the
    /// service.
    tx: Option<UnboundedSender<ClientFrame>>,
    /// Counts the services started; events from an older one are ignored.
    generation: u64,
    /// The acknowledgements are sent in a moment (after the frames already received).
    acks_due: Option<Timeout>,
    /// What is in `localStorage` now, as written by this page: the session entry (`None`
    /// when there is none) and the user entry, so that only changes are written.
    stored_session: Option<String>,
    stored_user: Option<String>,
    /// A batch of frames is being applied: `localStorage` is written once, after it.
    in_batch: bool,
}

/// Applies actions and carries out what follows from them. Cheap to clone.
#[derive(Clone)]
struct Driver {
    /// Only dispatched to, never read: read through [`Driver::state`].
    state: UseReducerHandle<State>,
    link: Rc<RefCell<Link>>,
}

impl Driver {
    /// The state as it is now. A yew handle keeps every state it was read in for as long as it
    /// lives; the socket's callback holds its driver for the whole session, so reading through
    /// its handle kept every state since sign-in (with the conversation changed in each): a
    /// memory leak that grew with history times messages and ran a busy page out of memory.
    /// A fresh clone per read lets the old states go.
    fn state(&self) -> UseReducerHandle<State> {
        self.state.clone()
    }

    /// Where every action enters the client: applies it, then sends the frames it caused (the
    /// state's outbox, drained) and carries out the rest of what follows from it.
    fn act(&self, action: Action) {
        if matches!(action, Action::Login { .. }) {
            mark_time("login");
        }
        let signed_in_as = self.state().me.clone();
        self.state.dispatch(action.clone());
        // A handle made now reads the state as it is after the dispatch; the outbox has the
        // frames the action caused.
        let handle = self.state();
        let state: &State = &handle;
        let frames = state.outbox.drain();
        let wanted = state.wants_connection();
        if let Action::Server {
            msg: shared::ServerMsg::Welcome { name, .. },
            ..
        } = &action
        {
            save_name(name);
            mark_time("welcome");
        }
        if wanted && self.link.borrow().tx.is_none() {
            self.start();
        } else if !wanted {
            let mut link = self.link.borrow_mut();
            if link.tx.take().is_some() {
                // Whatever the stopped service still reports is stale.
                link.generation += 1;
            }
        }
        if let Some(tx) = &self.link.borrow().tx {
            for frame in frames {
                let _ = tx.unbounded_send(frame);
            }
        }
        if !self.link.borrow().in_batch {
            let signed_out = matches!(action, Action::Logout).then_some(signed_in_as);
            self.keep(signed_out.flatten().as_deref());
        }
        if let Action::Login { .. } = action {
            self.resume_kept_conversations();
        }
        if matches!(action, Action::Server { .. }) {
            self.ack_soon();
        }
        let due = self.state().due_sends();
        if !due.is_empty() {
            self.act(Action::SendQueued(due));
        }
    }

    /// Keeps the session and the conversations in `localStorage` (see `crate::persist`);
    /// `signed_out` is the user who just signed out.
    fn keep(&self, signed_out: Option<&str>) {
        let handle = self.state();
        let state: &State = &handle;
        let mut link = self.link.borrow_mut();
        if let Some(name) = signed_out {
            // Signing out forgets this user's session and conversations on this browser.
            storage::remove(&user_key(name));
            link.stored_user = None;
        }
        if let Some(snapshot) = Snapshot::of(state) {
            let (session, user) = (snapshot.session_json(), snapshot.user_json());
            if link.stored_session.as_ref() != Some(&session) {
                storage::save(SESSION_KEY, &session);
                link.stored_session = Some(session);
            }
            if link.stored_user.as_ref() != Some(&user) {
                storage::save(&user_key(&snapshot.name), &user);
                link.stored_user = Some(user);
            }
        } else if !state.wants_connection() && link.stored_session.take().is_some() {
            // Signed out, or the relay refused the name: no session to take up on reload.
            storage::remove(SESSION_KEY);
        }
    }

    /// A page load with a kept session signs in by itself (see [`Action::Resume`]).
    fn resume_kept_session(&self) {
        let Some(kept) = storage::load(SESSION_KEY) else {
            return;
        };
        let Some(snapshot) = Snapshot::parse_session(&kept) else {
            storage::remove(SESSION_KEY);
            return;
        };
        self.link.borrow_mut().stored_session = Some(kept);
        let user = storage::load(&user_key(&snapshot.name));
        self.act(Action::Resume(snapshot.with_user_json(user.as_deref())));
    }

    /// Signing in by hand under a name with kept conversations takes them up (their unread
    /// counts too).
    fn resume_kept_conversations(&self) {
        let state = self.state();
        let Some(name) = state.wanted_name.clone() else {
            return;
        };
        if state.me.is_some() || !state.conversations.is_empty() {
            return;
        }
        let Some(user) = storage::load(&user_key(&name)) else {
            return;
        };
        let snapshot = Snapshot {
            name,
            ..Snapshot::default()
        };
        self.act(Action::Resume(snapshot.with_user_json(Some(&user))));
    }

    /// Acknowledges private messages once the frames already received are handled, so that
    /// a burst (the mailbox after `welcome`) costs one `ack` per conversation.
    fn ack_soon(&self) {
        let mut link = self.link.borrow_mut();
        if link.acks_due.is_some() {
            return;
        }
        let driver = self.clone();
        link.acks_due = Some(Timeout::new(0, move || {
            driver.link.borrow_mut().acks_due = None;
            let due = driver.state().due_acks();
            if !due.is_empty() {
                driver.act(Action::SendAcks(due));
            }
        }));
    }

    /// Starts a socket service whose events come back to [`Driver::act`].
    fn start(&self) {
        let generation = {
            let mut link = self.link.borrow_mut();
            link.generation += 1;
            link.generation
        };
        let driver = self.clone();
        let on_event = Callback::from(move |event: ConnEvent| {
            if driver.link.borrow().generation != generation {
                return;
            }
            let action = match event {
                ConnEvent::Connecting { attempt } => Action::Connecting { attempt },
                ConnEvent::Connected => Action::Connected,
                ConnEvent::Messages(batch) => {
                    // One task: the state updates of the batch make one render.
                    let now_ms = now_ms();
                    driver.link.borrow_mut().in_batch = true;
                    for frame in batch {
                        if driver.link.borrow().generation != generation {
                            break; // a frame of the batch stopped this socket
                        }
                        driver.act(match frame {
                            Frame::Chat(msg) => Action::Server { msg, now_ms },
                            Frame::Ops(msg) => Action::Ops(msg),
                        });
                    }
                    driver.link.borrow_mut().in_batch = false;
                    driver.keep(None);
                    return;
                }
                ConnEvent::Disconnected { retry_in_ms } => {
                    let now = now_ms();
                    Action::Disconnected {
                        retry_at_ms: now + u64::from(retry_in_ms),
                        now_ms: now,
                    }
                }
            };
            driver.act(action);
        });
        let tx = ws::connect(ws_url(), on_event);
        self.link.borrow_mut().tx = Some(tx);
    }

    fn callback<T: 'static>(&self, f: impl Fn(T) -> Action + 'static) -> Callback<T> {
        let driver = self.clone();
        Callback::from(move |value| driver.act(f(value)))
    }
}

/// 32 random bits (`Math.random` gives at least 52).
fn random_u32() -> u32 {
    (random() * 4_294_967_296.0) as u32
}

#[component]
pub fn App() -> Html {
    let state = use_reducer(|| State {
        last_name: load_name(),
        // This page's cids differ from those of earlier loads, which history brings back.
        cid_prefix: format!("{:x}.", now_ms()),
        // Our messages' ids must not repeat across page loads and devices: 64 random bits.
        mid_seed: format!("{:08x}{:08x}", random_u32(), random_u32()),
        ..State::default()
    });
    let link = use_mut_ref(Link::default);
    let driver = Driver {
        state: state.clone(),
        link,
    };
    // The clock: typing notices expire, the reconnect countdown, listing refreshes.
    {
        let driver = driver.clone();
        use_effect_with((), move |_| {
            driver.resume_kept_session();
            let tick = {
                let driver = driver.clone();
                Interval::new(1_000, move || driver.act(Action::Tick(now_ms())))
            };
            move || {
                drop(tick);
                let mut link = driver.link.borrow_mut();
                link.tx = None;
                link.acks_due = None;
            }
        });
    }
    // The page title counts unread messages.
    {
        let unread = state.total_unread();
        use_effect_with(unread, move |&unread| {
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(&match unread {
                    0 => "Courier".to_owned(),
                    n => format!("({n}) Courier"),
                });
            }
        });
    }

    // The keyboard focus follows what the user did: after signing in, joining, opening or
    // leaving a conversation it goes to the open conversation's message box (once it takes
    // input), or to the room field when none is open.
    let focus_due = use_mut_ref(|| false);
    {
        let focus_due = focus_due.clone();
        use_effect_with((state.me.is_some(), state.open.clone()), move |_| {
            *focus_due.borrow_mut() = true;
        });
    }
    {
        let focus_due = focus_due.clone();
        let signed_in = state.me.is_some();
        let open = state.open.is_some() && !state.ops.open;
        use_effect(move || {
            if *focus_due.borrow() {
                let done = !signed_in
                    || (open && hooks::focus("composer"))
                    || (!open && hooks::focus("room-name"));
                *focus_due.borrow_mut() = !done;
            }
        });
    }
    let sidebar_open = use_state(|| false);
    // Keys anywhere on the page: Escape closes the phone sidebar; Alt+↑/↓ moves to the
    // conversation above or below, Alt+Shift+↑/↓ to the next one with unread messages.
    {
        let driver = driver.clone();
        let sidebar_open = sidebar_open.clone();
        hooks::use_window_event(
            "keydown",
            Callback::from(move |e: KeyboardEvent| {
                let step = match e.key().as_str() {
                    "Escape" if *sidebar_open => {
                        sidebar_open.set(false);
                        hooks::focus("menu-toggle");
                        return;
                    }
                    "ArrowUp" if e.alt_key() => -1,
                    "ArrowDown" if e.alt_key() => 1,
                    _ => return,
                };
                e.prevent_default();
                if let Some(key) = driver.state().neighbour(step, e.shift_key()) {
                    sidebar_open.set(false);
                    driver.act(Action::ShowOps(false));
                    driver.act(Action::Open(key));
                }
            }),
        );
    }

    let (status_state, status_text) = state.status();
    let status = html! { <StatusBar state={status_state} text={status_text} /> };

    let Some(me) = state.me.clone() else {
        return html! {
            <Login initial_name={state.last_name.clone()}
                   error={state.login_error.clone().map(AttrValue::from)}
                   password_required={state.password_required}
                   busy={state.wants_connection()}
                   on_login={driver.callback(|(name, password): (String, String)| Action::Login {
                       name,
                       password: (!password.is_empty()).then(|| Secret::new(password)),
                   })}
                   on_cancel={driver.callback(|()| Action::Logout)}>
                { status }
            </Login>
        };
    };

    // Closing the sidebar on phones whenever something is opened from it.
    let close_sidebar = {
        let sidebar_open = sidebar_open.clone();
        move || sidebar_open.set(false)
    };
    let on_open_room = {
        let driver = driver.clone();
        let close = close_sidebar.clone();
        Callback::from(move |room: String| {
            close();
            driver.act(Action::ShowOps(false));
            driver.act(Action::Open(ConvKey::Room(room)));
        })
    };
    let on_join = {
        let driver = driver.clone();
        let close = close_sidebar.clone();
        Callback::from(move |room: String| {
            driver.act(Action::ShowOps(false));
            driver.act(Action::Join(room));
            if driver.state().room_error.is_none() {
                close();
            }
        })
    };
    let on_open_dm = {
        let driver = driver.clone();
        let close = close_sidebar.clone();
        Callback::from(move |name: String| {
            close();
            driver.act(Action::ShowOps(false));
            driver.act(Action::OpenDm(name));
        })
    };

    let rooms = room_entries(&state);
    let people = person_entries(&state);
    let active_room = state
        .open
        .as_ref()
        .and_then(|k| k.room())
        .map(|r| AttrValue::from(r.to_owned()));

    let main = match state.open.clone() {
        _ if state.ops.open => html! {
            <Operations ops={state.ops.clone()}
                        on_run={driver.callback(|(hosts, command)| Action::Run { hosts, command })}
                        on_cancel={driver.callback(|()| Action::CancelRun)}
                        on_retry={driver.callback(|()| Action::RetryFailed)} />
        },
        Some(key) if state.conversations.contains_key(&key) => {
            let conversation = state.conversations[&key].clone();
            let id = match &key {
                ConvKey::Room(room) => format!("room:{room}"),
                ConvKey::Dm(correspondent) => format!("dm:{correspondent}"),
            };
            let on_send = {
                let driver = driver.clone();
                let key = key.clone();
                Callback::from(move |text: String| {
                    let cid = driver.state().next_cid();
                    driver.act(Action::Send {
                        key: key.clone(),
                        cid,
                        text,
                    });
                })
            };
            let on_typing = {
                let key = key.clone();
                driver.callback(move |()| Action::Typed {
                    key: key.clone(),
                    now_ms: now_ms(),
                })
            };
            let on_leave = {
                let room = key.room().unwrap_or_default().to_owned();
                driver.callback(move |()| Action::Leave(room.clone()))
            };
            let on_load_older = {
                let key = key.clone();
                driver.callback(move |()| Action::LoadOlder(key.clone()))
            };
            html! {
                <ChatView id={id} conversation={conversation.clone()}
                          is_room={key.room().is_some()}
                          correspondent_online={state.is_online(&conversation.title)}
                          me={me.clone()}
                          typing={state.typing_text(&key)}
                          can_send={state.can_send(&key)}
                          live={state.ready(&key)}
                          {on_send} {on_typing} {on_leave} {on_load_older}
                          on_open_dm={on_open_dm.clone()} />
            }
        }
        _ => html! {
            <div class="empty-state">
                <h2>{ format!("Welcome, {me}!") }</h2>
                <p>{ "Join a room from the list, or pick someone to message privately." }</p>
                <button type="button" class="primary" onclick={on_join.reform(|_: MouseEvent| "lobby".to_owned())}>
                    { "Join #lobby" }
                </button>
            </div>
        },
    };

    let toggle_sidebar = {
        let sidebar_open = sidebar_open.clone();
        Callback::from(move |_: MouseEvent| sidebar_open.set(!*sidebar_open))
    };
    let unread = state.total_unread();
    let protect_open = state.protect.open;
    html! {
        <div class={classes!("app", sidebar_open.then_some("sidebar-open"))}>
            <header class="topbar">
                <button id="menu-toggle" type="button" class="ghost menu-toggle" onclick={toggle_sidebar}
                        aria-controls="sidebar" aria-expanded={sidebar_open.to_string()} aria-label="Conversations">
                    <span class="menu-icon" aria-hidden="true">{ "☰" }</span>
                    if unread > 0 { <span class="unread">{ unread }</span> }
                </button>
                <h1 class="brand">{ "Courier" }</h1>
                { status }
                <span class="spacer"></span>
                <span id="me" class="me" title="Signed in as" dir="auto">{ me.clone() }</span>
                <button id="protect" type="button" class="ghost" aria-controls="protect-form"
                        aria-expanded={state.protect.open.to_string()}
                        title="Protect your name with a password"
                        onclick={driver.callback(move |_: MouseEvent| Action::ShowProtect(!protect_open))}>
                    { if state.password.is_some() { "Change password" } else { "Protect name" } }
                </button>
                <button id="logout" type="button" class="ghost" onclick={driver.callback(|_: MouseEvent| Action::Logout)}>
                    { "Sign out" }
                </button>
            </header>
            if state.protect.open {
                <ProtectForm name={me.clone()}
                             error={state.protect.error.clone().map(AttrValue::from)}
                             busy={state.protect.pending.is_some()}
                             on_submit={driver.callback(|(password, confirm): (String, String)| Action::Protect {
                                 password: Secret::new(password),
                                 confirm: Secret::new(confirm),
                             })}
                             on_cancel={driver.callback(|()| Action::ShowProtect(false))} />
            }
            if let Some(notice) = state.notice.clone() {
                <div id="notice" class="notice" role="alert">
                    <span>{ notice }</span>
                    <button id="notice-close" type="button" class="ghost" aria-label="Dismiss"
                            onclick={driver.callback(|_: MouseEvent| Action::DismissNotice)}>{ "×" }</button>
                </div>
            }
            <div class="layout">
                <nav id="sidebar" class="sidebar" aria-label="Conversations">
                    if state.operator {
                        <button id="nav-ops" type="button" class={classes!("entry", "ops-entry", state.ops.open.then_some("active"))}
                                onclick={{ let close = close_sidebar.clone(); driver.callback(move |_: MouseEvent| { close(); Action::ShowOps(true) }) }}>
                            { "⚙ Operations" }
                        </button>
                    }
                    <RoomList rooms={rooms} active={active_room}
                              error={state.room_error.clone().map(AttrValue::from)}
                              on_open={on_open_room} on_join={on_join.clone()} />
                    <UserList people={people} on_open={on_open_dm.clone()} />
                </nav>
                <div class="scrim" onclick={{ let s = sidebar_open.clone(); Callback::from(move |_: MouseEvent| s.set(false)) }}></div>
                <main class="conversation">{ main }</main>
            </div>
        </div>
    }
}

/// Joined rooms with their live member counts, then the other rooms of the last listing.
fn room_entries(state: &State) -> Vec<RoomEntry> {
    let mut rooms: Vec<RoomEntry> = state
        .conversations
        .iter()
        .filter_map(|(key, conv)| {
            Some(RoomEntry {
                name: AttrValue::from(key.room()?.to_owned()),
                members: conv.members.len(),
                unread: conv.unread,
                joined: true,
            })
        })
        .collect();
    for info in &state.rooms {
        if !state
            .conversations
            .contains_key(&ConvKey::Room(info.room.clone()))
        {
            rooms.push(RoomEntry {
                name: AttrValue::from(info.room.clone()),
                members: info.members,
                unread: 0,
                joined: false,
            });
        }
    }
    rooms
}

/// Everyone online, and the people we have private conversations with; each once, sorted.
fn person_entries(state: &State) -> Vec<PersonEntry> {
    let mut people: Vec<PersonEntry> = state
        .online
        .iter()
        .map(|name| entry(state, name, true))
        .collect();
    for (key, conv) in &state.conversations {
        if let ConvKey::Dm(correspondent) = key
            && !state.online.iter().any(|n| name_key(n) == *correspondent)
        {
            people.push(entry(state, &conv.title, false));
        }
    }
    people.sort_unstable_by_key(|p| (!p.online, name_key(&p.name), p.name.clone()));
    people
}

fn entry(state: &State, name: &str, online: bool) -> PersonEntry {
    let key = ConvKey::dm(name);
    PersonEntry {
        name: AttrValue::from(name.to_owned()),
        online,
        unread: state.conversations.get(&key).map_or(0, |c| c.unread),
        active: state.open.as_ref() == Some(&key),
    }
}
