//! The interface's text, one table per language ([`en`], [`zh_cn`]): every sentence is whole
//! in its table, with `{0}`, `{1}` … where the values go ([`fill`]), so no sentence is built by
//! joining fragments. A third language is a third file with a [`Texts`] and a [`Lang`] variant.
//!
//! The language follows the browser (`navigator.languages`) until the user picks one; the
//! pick is remembered (`crate::services::browser::save_lang`).

mod en;
mod zh_cn;

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    ZhCn,
}

impl Lang {
    /// Every language, in the order the switch lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// Its BCP 47 tag: `<html lang>`, and the locale dates and times are formatted for.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language for a BCP 47 tag (`zh`, `zh-Hans-CN`, `en-GB` …), if it is one of ours.
    pub fn from_code(tag: &str) -> Option<Lang> {
        let mut subtags = tag.split(['-', '_']);
        let primary = subtags.next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("en") {
            return Some(Lang::En);
        }
        // Traditional script (zh-TW, zh-HK, zh-MO, zh-Hant) is another language; not offered.
        let traditional = subtags.any(|s| {
            ["tw", "hk", "mo", "hant"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t))
        });
        (primary.eq_ignore_ascii_case("zh") && !traditional).then_some(Lang::ZhCn)
    }

    /// The first of the browser's preferred languages that we have; English otherwise.
    pub fn preferred<'a>(tags: impl IntoIterator<Item = &'a str>) -> Lang {
        tags.into_iter()
            .find_map(Lang::from_code)
            .unwrap_or_default()
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &en::TEXTS,
            Lang::ZhCn => &zh_cn::TEXTS,
        }
    }
}

thread_local! {
    static CURRENT: std::cell::Cell<Lang> = const { std::cell::Cell::new(Lang::En) };
}

/// Sets the language the views are rendered in. The root sets it before each render, and
/// renders the tree again from scratch (a new key) when it changes, so every view takes it.
/// (A yew context would do the same at about 1.5 KB of the bundle.)
pub fn set_current(lang: Lang) {
    CURRENT.with(|c| c.set(lang));
}

/// The language the views are rendered in.
pub fn current() -> Lang {
    CURRENT.with(std::cell::Cell::get)
}

/// The texts in the language the views are rendered in.
pub fn texts() -> &'static Texts {
    current().texts()
}

/// `template` with `{0}`, `{1}` … replaced by `args`.
pub fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            let i: usize = after[..close].parse().ok()?;
            Some((close, args.get(i)?))
        }) {
            Some((close, arg)) => {
                out.push_str(arg);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A count's text: `one` for 1, `many` (with `{0}`) otherwise.
pub fn count(one: &str, many: &str, n: usize) -> String {
    if n == 1 {
        one.to_owned()
    } else {
        fill(many, &[&n.to_string()])
    }
}

/// Every text of the interface in one language. Templates take `{0}`, `{1}` … in the order
/// their doc says.
pub struct Texts {
    /// The language's own name, in the switch.
    pub native_name: &'static str,
    pub language: &'static str,

    // Signing in.
    pub tagline: &'static str,
    pub pick_nickname: &'static str,
    pub name_example: &'static str,
    pub password: &'static str,
    pub password_optional: &'static str,
    pub cancel: &'static str,
    pub signing_in: &'static str,
    pub start_chatting: &'static str,
    /// {0}: why (a sentence of [`Texts::reason`]'s).
    pub name_wont_work: &'static str,
    /// {0}: the name.
    pub wrong_password: &'static str,
    /// {0}: the relay's message.
    pub name_refused: &'static str,
    /// {0}: the name.
    pub name_in_use: &'static str,
    /// {0}: the name.
    pub protected_needs_password: &'static str,
    /// {0}: the name.
    pub disconnected_protected: &'static str,
    pub use_here_too: &'static str,

    // The top bar and the sidebar.
    pub conversations: &'static str,
    pub signed_in_as: &'static str,
    pub protect_tooltip: &'static str,
    pub protect_name: &'static str,
    pub change_password: &'static str,
    pub sign_out: &'static str,
    pub dismiss: &'static str,
    pub operations: &'static str,
    pub rooms: &'static str,
    pub no_room_yet: &'static str,
    pub other_rooms: &'static str,
    pub room_name: &'static str,
    pub join: &'static str,
    /// {0}: the room.
    pub open_room: &'static str,
    /// {0}: the room.
    pub join_room: &'static str,
    /// {0}: the room name's problem (a sentence of [`Texts::reason`]'s).
    pub room_wont_work: &'static str,
    /// {0}: the relay's message.
    pub room_refused: &'static str,
    pub people: &'static str,
    /// {0}: how many.
    pub online_count: &'static str,
    pub nobody_online: &'static str,
    pub online: &'static str,
    pub offline: &'static str,
    /// {0}: the name.
    pub message_person: &'static str,
    /// {0}: the name.
    pub message_person_offline: &'static str,
    /// {0}: how many.
    pub unread: &'static str,
    pub member_one: &'static str,
    /// {0}: how many.
    pub member_many: &'static str,

    // The open conversation.
    /// {0}: the name.
    pub welcome: &'static str,
    pub welcome_hint: &'static str,
    pub join_lobby: &'static str,
    pub correspondent_offline: &'static str,
    pub composer_offline: &'static str,
    /// {0}: the room.
    pub composer_room: &'static str,
    /// {0}: the name.
    pub composer_person: &'static str,
    /// {0}: how many.
    pub members_button: &'static str,
    pub members: &'static str,
    pub leave: &'static str,
    pub you: &'static str,
    /// {0}: how many.
    pub and_more: &'static str,
    pub message: &'static str,
    pub send: &'static str,
    /// {0}: the most characters.
    pub too_long: &'static str,
    pub messages: &'static str,
    pub load_older: &'static str,
    pub loading_older: &'static str,
    pub no_messages: &'static str,
    pub show_newer: &'static str,
    pub new_message_one: &'static str,
    /// {0}: how many.
    pub new_message_many: &'static str,
    pub new_messages_divider: &'static str,
    pub today: &'static str,
    pub yesterday: &'static str,
    pub sending: &'static str,
    pub not_sent: &'static str,
    /// {0}: why.
    pub not_delivered: &'static str,
    /// {0}: the name.
    pub typing_one: &'static str,
    /// {0}, {1}: the names.
    pub typing_two: &'static str,
    /// {0}, {1}: two names; {2}: how many more.
    pub typing_many: &'static str,

    // The connection.
    pub connected: &'static str,
    pub signing_in_status: &'static str,
    pub connecting: &'static str,
    pub reconnecting: &'static str,
    /// {0}: seconds.
    pub reconnecting_in: &'static str,
    /// {0}: seconds.
    pub banner_retry_in: &'static str,
    pub banner_reconnecting: &'static str,
    pub banner_device_offline: &'static str,
    pub retry_now: &'static str,
    pub protect_dropped: &'static str,

    // Protecting a name.
    /// {0}: the name.
    pub protect_heading: &'static str,
    /// {0}, {1}: the fewest and the most characters.
    pub protect_hint: &'static str,
    pub new_password: &'static str,
    pub type_again: &'static str,
    pub confirm_password: &'static str,
    pub protecting: &'static str,
    pub protect: &'static str,
    /// {0}: the fewest characters.
    pub password_short: &'static str,
    /// {0}: the most characters.
    pub password_long: &'static str,
    pub passwords_differ: &'static str,
    pub protect_offline: &'static str,
    /// {0}: the name.
    pub now_protected: &'static str,

    // Why a message was not delivered.
    pub err_rate_limited: &'static str,
    pub err_too_long: &'static str,
    pub err_unknown_user: &'static str,
    pub err_not_member: &'static str,
    pub err_mailbox_full: &'static str,

    // Operations (operators only).
    pub ops_title: &'static str,
    pub type_command: &'static str,
    pub host_one: &'static str,
    /// {0}: how many.
    pub host_many: &'static str,
    /// {0}: the command; {1}: the hosts (host_one or host_many).
    pub run_confirm: &'static str,
    /// {0}: the hosts (host_one or host_many).
    pub run_on: &'static str,
    pub back: &'static str,
    pub runner: &'static str,
    pub hosts_placeholder: &'static str,
    pub hosts: &'static str,
    pub command_placeholder: &'static str,
    pub command: &'static str,
    pub starting: &'static str,
    pub run: &'static str,
    /// {0}: milliseconds; {1}, {2}: the hosts that ended well, badly.
    pub run_done: &'static str,
    /// {0}: the hosts that ended; {1}: all of them.
    pub run_running: &'static str,
    pub cancel_run: &'static str,
    pub run_again_failed: &'static str,
    /// {0}: milliseconds.
    pub ms: &'static str,
    pub recent_runs: &'static str,
    /// {0}: who; {1}: hosts; {2}: ok; {3}: failed; {4}: done or running.
    pub recent_run: &'static str,
    pub done: &'static str,
    pub running: &'static str,
    pub dashboard: &'static str,
    pub chart_cpu: &'static str,
    pub chart_mem: &'static str,
    pub chart_rss: &'static str,
    pub chart_connections: &'static str,
    pub chart_messages: &'static str,
    pub chart_deliveries: &'static str,

    /// A host's status, for each of [`HOST_STATUSES`], in its order.
    pub host_statuses: [&'static str; 10],
    /// {0}: the exit code.
    pub exit_code: &'static str,
    pub output_truncated: &'static str,

    /// Why a name or room name is unfit, for each of `shared::validate`'s sentences, in its
    /// order: the name's three, then the room name's three.
    pub reasons: [&'static str; 6],

    // A message changed after it was sent.
    pub edited: &'static str,
    pub deleted: &'static str,
}

/// The host statuses the runner shows: `shared::ops::HostStatus::as_str`'s, then the two of
/// a host not done yet.
pub const HOST_STATUSES: [&str; 10] = [
    "ok",
    "failed",
    "unreachable",
    "auth_failed",
    "host_key_mismatch",
    "timeout",
    "cancelled",
    "other",
    "running",
    "queued",
];

impl Texts {
    /// A host status (`HOST_STATUSES`) in this language; an unknown one as it is.
    pub fn host_status<'a>(&'a self, status: &'a str) -> &'a str {
        HOST_STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(status, |i| self.host_statuses[i])
    }

    /// `shared::validate`'s sentence in this language.
    pub fn reason<'a>(&'a self, why: &'a str) -> &'a str {
        const SHARED: [&str; 6] = [
            "a name needs at least one character that is not white space",
            "a name has at most 32 characters",
            "a name may not contain control characters",
            "a room name needs at least one character",
            "a room name has at most 64 characters",
            "a room name may contain only letters, digits, '-', '_' and '.'",
        ];
        SHARED
            .iter()
            .position(|s| *s == why)
            .map_or(why, |i| self.reasons[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates_and_leaves_stray_braces() {
        assert_eq!(
            fill("{0} and {1} are typing…", &["a", "b"]),
            "a and b are typing…"
        );
        assert_eq!(fill("{1}{0}{9}{x}{", &["a", "b"]), "ba{9}{x}{");
        assert_eq!(count("1 member", "{0} members", 3), "3 members");
    }

    #[test]
    fn follows_the_browser_when_it_can() {
        assert_eq!(Lang::preferred(["fr", "zh-Hans-CN", "en"]), Lang::ZhCn);
        assert_eq!(Lang::preferred(["zh-TW", "en-GB"]), Lang::En);
        assert_eq!(Lang::preferred(["de"]), Lang::En);
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
    }

    #[test]
    fn host_statuses_are_shared_s_and_translated() {
        use shared::ops::HostStatus;
        for status in [
            HostStatus::Ok,
            HostStatus::AuthFailed,
            HostStatus::Cancelled,
        ] {
            let code = status.as_str();
            assert!(!Lang::En.texts().host_status(code).is_empty());
            assert_ne!(Lang::ZhCn.texts().host_status(code), code);
        }
        assert_eq!(Lang::ZhCn.texts().host_status("new_one"), "new_one");
    }

    #[test]
    fn every_validation_sentence_is_translated() {
        let zh = Lang::ZhCn.texts();
        for why in [
            shared::validate::name(""),
            shared::validate::name(&"x".repeat(33)),
        ] {
            let why = why.unwrap_err();
            assert_ne!(zh.reason(why), why);
        }
        for why in ["", "a b", &"r".repeat(65)] {
            let why = shared::validate::room(why).unwrap_err();
            assert_ne!(zh.reason(why), why);
        }
        assert_ne!(
            zh.reason("a name may not contain control characters"),
            "a name may not contain control characters"
        );
    }
}
