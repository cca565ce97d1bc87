//! The driver: every action goes through `Driver::act`. It dispatches it (the reducer puts
//! the frames the action causes in the state's [`Outbox`](crate::state::Outbox)), drains the
//! outbox into the socket, opens or closes the socket as [`State::wants_connection`] says,
//! sends the messages that wait ([`State::due_sends`]), keeps what a reload needs in
//! `localStorage` (`crate::persist`), and after a burst of frames from the relay acknowledges
//! private messages ([`State::due_acks`]). The socket's own events come back into the same
//! function, so there is one path for every change: an action enters the client at
//! `Driver::act`, and a frame leaves it there too, through `Link::tx` to the socket service
//! (`crate::services::ws`).

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::mpsc::UnboundedSender;
use gloo_timers::callback::Timeout;
use shared::ClientFrame;
use yew::prelude::*;

use crate::persist::{SESSION_KEY, user_key};
use crate::services::browser::{mark_time, now_ms, random, save_name, ws_url};
use crate::services::{ConnEvent, Frame, storage, ws};
use crate::state::{Action, Snapshot, State};

/// The socket as the root holds it.
#[derive(Default)]
pub(super) struct Link {
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
pub(super) struct Driver {
    /// Only dispatched to, never read: read through [`Driver::state`].
    pub(super) state: UseReducerHandle<State>,
    pub(super) link: Rc<RefCell<Link>>,
}

impl Driver {
    /// The state as it is now. A yew handle keeps every state it was read in for as long as it
    /// lives; the socket's callback holds its driver for the whole session, so reading through
    /// its handle kept every state since sign-in (with the conversation changed in each): a
    /// memory leak that grew with history times messages and ran a busy page out of memory.
    /// A fresh clone per read lets the old states go.
    pub(super) fn state(&self) -> UseReducerHandle<State> {
        self.state.clone()
    }

    /// Where every action enters the client: applies it, then sends the frames it caused (the
    /// state's outbox, drained) and carries out the rest of what follows from it.
    pub(super) fn act(&self, action: Action) {
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
        // How far we read goes to our other connections with the clock, at most once a
        // second: a read per burst of a busy room would eat the connection's frame rate.
        if matches!(action, Action::Tick(_)) {
            let reads = self.state().due_reads();
            if !reads.is_empty() {
                self.act(Action::SendReads(reads));
            }
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
    pub(super) fn resume_kept_session(&self) {
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

    /// The page goes: the socket service and the pending acknowledgements stop.
    pub(super) fn stop(&self) {
        let mut link = self.link.borrow_mut();
        link.tx = None;
        link.acks_due = None;
    }

    /// Gives up waiting for the next reconnect: a new socket service, which tries at once.
    pub(super) fn retry_now(&self) {
        if !self.state().wants_connection() || self.state().online_now() {
            return;
        }
        {
            let mut link = self.link.borrow_mut();
            link.tx = None;
            link.generation += 1;
        }
        self.start();
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

    pub(super) fn callback<T: 'static>(&self, f: impl Fn(T) -> Action + 'static) -> Callback<T> {
        let driver = self.clone();
        Callback::from(move |value| driver.act(f(value)))
    }
}

/// 32 random bits (`Math.random` gives at least 52).
pub(super) fn random_u32() -> u32 {
    (random() * 4_294_967_296.0) as u32
}
