//! The views, one component per file. They get plain data and `Callback`s in their props and
//! never see the reducer; the root (`crate::app`) turns their callbacks into `Action`s.
//!
//! # Hooks for browser tests
//!
//! These ids, classes and attributes are a contract with the end-to-end tests; keep them.
//!
//! | What | Hook |
//! |---|---|
//! | login: name input, submit button, error text | `#name`, `#login`, `#login-error` |
//! | login: the name is in use elsewhere, "that's me" (joins it as one more connection) | `#attach` |
//! | login: password input (optional; focused, `aria-invalid=true`, when the relay asked for it) | `#password` |
//! | connection status (text has "connected", "connecting" or "reconnecting") | `#status[data-state=connected\|connecting\|reconnecting]` |
//! | signed-in name, sign-out button (also forgets the session kept for reloads) | `#me`, `#logout` |
//! | sidebar toggle (phone-sized windows), sidebar | `#menu-toggle`, `#sidebar` |
//! | new room: name input, join button, error text | `#room-name`, `#join-room`, `#room-error` |
//! | a room in the sidebar (click opens it; joins it first if not joined) | `.room-entry[data-room=NAME]`, also `.joined` when joined, `.active` when open |
//! | its unread badge, its member count | `.room-entry .unread`, `.room-entry .count` |
//! | an online user (click opens the private conversation) | `.user-entry[data-user=NAME]`, its badge `.unread` |
//! | a private conversation with a user who is offline | `.dm-entry[data-user=NAME]`, its badge `.unread` |
//! | conversation title, leave button (rooms only) | `#conversation-title`, `#leave-room` |
//! | message list, a message | `#messages`, `.message[data-seq][data-from]` |
//! | a message's parts | `.message-from`, `.message-time`, `.message-text`, `.message-error` (failed) |
//! | message states | `.message.pending` (waiting to be sent, e.g. typed offline, or until the relay's copy), `.message.failed`, `.message.mine` |
//! | scrollback at the top of the message list (shown when older messages are held but not shown, or the relay has older ones) | `#load-older[data-loading=true\|false]` (disabled while loading) |
//! | back to the newest, at the bottom of the list (shown when reading back left newer ones out) | `#show-newer` |
//! | scrolled up while new messages came: how many, and back down to them | `#new-messages[data-count=N]` |
//! | where reading stopped, coming back to a conversation with unread messages | `#unread-divider` |
//! | a day's first message shown ("Today", "Yesterday", a date) | `.day-separator[data-day]` |
//! | a message's links (`http(s)` only) and light formatting | `.message-text a[href][target=_blank][rel]`, `code`, `pre`, `strong`, `em` |
//! | cut off from the relay while signed in: the banner, its "Retry now" | `#connection-banner`, `#retry-now` |
//! | the language switch (on the login card and in the sidebar; values `en`, `zh-CN`) | `#language` |
//! | typing indicator (e.g. "bob is typing…", empty when nobody) | `#typing` |
//! | composer: text area (Enter sends, Shift+Enter is a new line), send button | `#composer`, `#send` |
//! | member list of the open room, a member | `#members`, `.member[data-member=NAME]` |
//! | members toggle (phone-sized windows) | `#members-toggle` |
//! | relay notice and its close button | `#notice`, `#notice-close` |
//! | protect-my-name toggle (top bar; `aria-expanded`), its form | `#protect`, `#protect-form` |
//! | protect form: password, confirmation, submit, cancel, error text | `#protect-password`, `#protect-confirm`, `#protect-submit`, `#protect-cancel`, `#protect-error` |
//! | protect confirmed (the form closes) | `#notice` (text has "now protected") |
//! | Operations entry in the sidebar (operators only; `.active` when open), the view | `#nav-ops`, `#operations` |
//! | dashboard, one chart (`cpu`, `mem`, `rss`, `connections`, `messages`, `deliveries`), its lines | `#dashboard`, `.chart[data-chart=ID]`, `.chart polyline[points]` |
//! | runner: hosts, command, submit; refusal text | `#run-hosts`, `#run-command`, `#run-submit`, `#run-error` |
//! | runner confirmation (with the count of hosts), confirm, back | `#run-confirmation[data-hosts=N]`, `#run-confirm`, `#run-back` |
//! | the run on screen, its summary, cancel, run again on failed hosts | `#run[data-run][data-done]`, `#run-summary`, `#run-cancel`, `#run-retry` |
//! | a host of the run (status: queued, running, ok, failed, …), its output | `.host-row[data-host][data-status]`, `.host-output` |
//! | the recent runs | `#recent-runs .recent-run[data-run]` |

pub mod chat_view;
pub mod composer;
pub mod dashboard;
pub mod lang_switch;
pub mod login;
pub mod member_list;
pub mod message_list;
pub mod message_row;
pub mod operations;
pub mod protect;
pub mod runner;
pub mod sidebar;
pub mod status_bar;
pub mod user_list;
