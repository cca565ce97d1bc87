//! The root component. It owns the state (a reducer) and the socket, and turns what the
//! children report into [`Action`]s through its [`Driver`] (`driver.rs`), the one path by
//! which every change enters the client; `entries.rs` makes the sidebar's lists.

mod driver;
mod entries;

use gloo_timers::callback::Interval;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use self::driver::{Driver, Link, random_u32};
use self::entries::{person_entries, room_entries};
use crate::components::chat_view::ChatView;
use crate::components::lang_switch::LangSwitch;
use crate::components::login::Login;
use crate::components::operations::Operations;
use crate::components::protect::ProtectForm;
use crate::components::sidebar::RoomList;
use crate::components::status_bar::StatusBar;
use crate::components::user_list::UserList;
use crate::hooks;
use crate::i18n::{self, Lang, fill};
use crate::services::browser::{
    browser_languages, load_lang, load_name, now_ms, save_lang, set_page_lang,
};
use crate::state::{Action, ConvKey, Secret, State};

#[component]
pub fn App() -> Html {
    let state = use_reducer(|| State {
        last_name: load_name(),
        // This page's cids differ from those of earlier loads, which history brings back.
        cid_prefix: format!("{:x}.", now_ms()),
        // Our messages' ids must not repeat across page loads and devices: 64 random bits.
        mid_seed: format!("{:08x}{:08x}", random_u32(), random_u32()),
        // The language picked on this browser, or the browser's own.
        lang: load_lang()
            .and_then(|code| Lang::from_code(&code))
            .unwrap_or_else(|| Lang::preferred(browser_languages().iter().map(String::as_str))),
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
                driver.stop();
            }
        });
    }
    // The page says its language; the pick is remembered.
    let lang = state.lang;
    use_effect_with(lang, |lang| set_page_lang(lang.code()));
    let on_lang = driver.callback(|lang: Lang| {
        save_lang(lang.code());
        Action::SetLang(lang)
    });
    // The browser's own word on the network: the banner says so, and back online the socket
    // tries again at once instead of waiting out its backoff.
    {
        let driver = driver.clone();
        hooks::use_window_event(
            "offline",
            Callback::from(move |_: web_sys::Event| driver.act(Action::DeviceOnline(false))),
        );
    }
    {
        let driver = driver.clone();
        hooks::use_window_event(
            "online",
            Callback::from(move |_: web_sys::Event| {
                driver.act(Action::DeviceOnline(true));
                driver.retry_now();
            }),
        );
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
    // input), or to the room field when none is open; but not away from another field the
    // person is typing in (the change may come from their other connection).
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
                    || hooks::typing_elsewhere()
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
            Callback::from(move |e: web_sys::Event| {
                let e: KeyboardEvent = e.unchecked_into();
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

    i18n::set_current(lang);
    let t = lang.texts();
    let Some(me) = state.me.clone() else {
        return html! {
            <Login initial_name={state.last_name.clone()} {lang} on_lang={on_lang.clone()}
                   error={state.login_error.clone().map(AttrValue::from)}
                   password_required={state.password_required}
                   offer_attach={state.offer_attach}
                   on_attach={driver.callback(|()| Action::AttachHere)}
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
                          is_room={key.room().is_some()} presence_known={state.online_now()}
                          correspondent_online={state.online_now() && state.is_online(&conversation.title)}
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
                <h2>{ fill(t.welcome, &[&me]) }</h2>
                <p>{ t.welcome_hint }</p>
                <button type="button" class="primary" onclick={on_join.reform(|_: MouseEvent| "lobby".to_owned())}>
                    { t.join_lobby }
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
    let retry_now = {
        let driver = driver.clone();
        Callback::from(move |_: MouseEvent| driver.retry_now())
    };
    html! {
        // A new language renders the tree again from scratch, in it (see `i18n::set_current`).
        <div key={lang.code()} class={classes!("app", sidebar_open.then_some("sidebar-open"))}>
            <header class="topbar">
                <button id="menu-toggle" type="button" class="ghost menu-toggle" onclick={toggle_sidebar}
                        aria-controls="sidebar" aria-expanded={sidebar_open.to_string()} aria-label={t.conversations}>
                    <span class="menu-icon" aria-hidden="true">{ "☰" }</span>
                    if unread > 0 { <span class="unread">{ unread }</span> }
                </button>
                <h1 class="brand">{ "Courier" }</h1>
                { status }
                <span class="spacer"></span>
                <span id="me" class="me" title={t.signed_in_as} dir="auto">{ me.clone() }</span>
                <button id="protect" type="button" class="ghost" aria-controls="protect-form"
                        aria-expanded={state.protect.open.to_string()}
                        title={t.protect_tooltip}
                        onclick={driver.callback(move |_: MouseEvent| Action::ShowProtect(!protect_open))}>
                    { if state.password.is_some() { t.change_password } else { t.protect_name } }
                </button>
                <button id="logout" type="button" class="ghost" onclick={driver.callback(|_: MouseEvent| Action::Logout)}>
                    { t.sign_out }
                </button>
            </header>
            if let Some(banner) = state.banner() {
                <div id="connection-banner" class="connection-banner" role="status">
                    <span>{ banner }</span>
                    if !state.device_offline {
                        <button id="retry-now" type="button" onclick={retry_now}>{ t.retry_now }</button>
                    }
                </div>
            }
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
                    <button id="notice-close" type="button" class="ghost" aria-label={t.dismiss}
                            onclick={driver.callback(|_: MouseEvent| Action::DismissNotice)}>{ "×" }</button>
                </div>
            }
            <div class="layout">
                <nav id="sidebar" class="sidebar" aria-label={t.conversations}>
                    if state.operator {
                        <button id="nav-ops" type="button" class={classes!("entry", "ops-entry", state.ops.open.then_some("active"))}
                                onclick={{ let close = close_sidebar.clone(); driver.callback(move |_: MouseEvent| { close(); Action::ShowOps(true) }) }}>
                            { t.operations }
                        </button>
                    }
                    <RoomList rooms={rooms} active={active_room}
                              error={state.room_error.clone().map(AttrValue::from)}
                              on_open={on_open_room} on_join={on_join.clone()} />
                    <UserList people={people} on_open={on_open_dm.clone()} />
                    <LangSwitch {lang} on_change={on_lang} />
                </nav>
                <div class="scrim" onclick={{ let s = sidebar_open.clone(); Callback::from(move |_: MouseEvent| s.set(false)) }}></div>
                <main class="conversation">{ main }</main>
            </div>
        </div>
    }
}
