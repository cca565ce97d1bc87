//! What happens to a stored message after it is sent (the changes extension): an edit, a
//! deletion, a reaction added or taken back. The hub checks what it can alone (the frame's
//! fields, membership) and submits a [`ChangeJob`]; the engine reads the message, decides with
//! [`apply`] in the same transaction (or script) that writes it, bumps the conversation's
//! revision and hands the new state on as `Committed::Changed`.

use shared::{ChatMessage, ErrorCode};

/// Which conversation a change or a `changes` read is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Room(String),
    /// A private conversation, by its two keys in order (see [`super::pair`]).
    Pair(String, String),
}

/// What is done to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New text (checked like a `say`'s), edited at `at` (ms).
    Edit {
        text: String,
        at: u64,
    },
    Delete,
    /// `emoji` added by the requester, or taken back (`remove`).
    React {
        emoji: String,
        remove: bool,
    },
}

/// A change to store.
#[derive(Debug, Clone)]
pub struct ChangeJob {
    pub place: Place,
    pub seq: u64,
    pub change: Change,
    /// The requester's name key: only the author may edit or delete.
    pub by_key: String,
    /// The requester's name as in their hello: what a reaction lists.
    pub by_name: String,
    /// The requester's frame's `cid`, echoed on their copy.
    pub cid: Option<String>,
    /// The connection that asked (the hub's `ConnId`): a refusal goes back to it.
    pub origin: u64,
    /// The requester's session generation (clustered engines store only for the holder).
    pub generation: u64,
}

/// Why a change was refused: its error code and the words for people.
pub type Refused = (ErrorCode, String);

/// Who asks for a change, as the engine knows them when it applies it.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// Their name key.
    pub key: &'a str,
    /// Their name as in their hello: what a reaction lists.
    pub name: &'a str,
    /// When they first said hello with the name, as stored (ms; 0 for a name known before
    /// that was kept). A message of the name older than that is an earlier holder's, whose
    /// name was forgotten (`--name-idle-days`, `--max-users`) and taken again.
    pub since: u64,
}

/// Applies `change` to `msg` (the stored message, written by `author_key`) on behalf of `by`.
/// `Ok(false)`: nothing changes (a reaction already there, or not there to take back), so
/// nothing is stored, the revision stays and nobody is told.
///
/// # Errors
/// The refusal: `unknown_message` for a deleted message, `forbidden` for an edit or delete of
/// someone else's (an earlier holder's of the same name included), `too_many` for a reaction
/// past the limits.
pub fn apply(
    msg: &mut ChatMessage,
    author_key: &str,
    by: Requester<'_>,
    change: &Change,
) -> Result<bool, Refused> {
    if msg.ext.deleted {
        return Err(unknown(msg.seq));
    }
    let by_name = by.name;
    match change {
        Change::Edit { text, at } => {
            mine(msg, author_key, by)?;
            msg.text.clone_from(text);
            msg.ext.edited = Some(*at);
        }
        Change::Delete => {
            mine(msg, author_key, by)?;
            msg.text.clear();
            msg.ext.deleted = true;
            msg.ext.edited = None;
            msg.ext.reactions.clear();
            msg.ext.reply = None;
        }
        Change::React { emoji, remove } => {
            if !*remove && !msg.ext.reaction_fits(emoji) {
                let already = msg
                    .ext
                    .reactions
                    .iter()
                    .any(|r| r.emoji == *emoji && r.names.iter().any(|n| n == by_name));
                if already {
                    return Ok(false);
                }
                return Err((
                    ErrorCode::TooMany,
                    format!(
                        "a message has at most {} kinds of reaction and {} in all",
                        shared::limits::MAX_EMOJIS,
                        shared::limits::MAX_REACTIONS
                    ),
                ));
            }
            return Ok(msg.ext.react(emoji, by_name, !*remove));
        }
    }
    Ok(true)
}

/// The refusal for a message that is not there (never sent, trimmed, or deleted).
pub fn unknown(seq: u64) -> Refused {
    (
        ErrorCode::UnknownMessage,
        format!("there is no message {seq} here (or it was deleted)"),
    )
}

fn mine(msg: &ChatMessage, author_key: &str, by: Requester<'_>) -> Result<(), Refused> {
    if author_key != by.key {
        Err((
            ErrorCode::Forbidden,
            "only its author may edit or delete a message".to_owned(),
        ))
    } else if msg.ts < by.since {
        Err((
            ErrorCode::Forbidden,
            format!(
                "message {} was written by an earlier holder of the name '{}', which was \
                 forgotten before you took it: only its author may edit or delete it",
                msg.seq, msg.from
            ),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Target;

    fn by<'a>(key: &'a str, name: &'a str) -> Requester<'a> {
        Requester {
            key,
            name,
            since: 0,
        }
    }

    fn msg() -> ChatMessage {
        ChatMessage {
            target: Target::Room { room: "r".into() },
            seq: 1,
            from: "Ann".into(),
            text: "hi".into(),
            ts: 1,
            cid: None,
            mid: None,
            ext: Default::default(),
        }
    }

    #[test]
    fn only_the_author_edits_and_a_deleted_message_is_gone() {
        let mut m = msg();
        let edit = Change::Edit {
            text: "yo".into(),
            at: 5,
        };
        assert_eq!(
            apply(&mut m, "ann", by("bob", "bob"), &edit).unwrap_err().0,
            ErrorCode::Forbidden
        );
        assert_eq!(apply(&mut m, "ann", by("ann", "Ann"), &edit), Ok(true));
        assert_eq!((m.text.as_str(), m.ext.edited), ("yo", Some(5)));
        let react = Change::React {
            emoji: "👍".into(),
            remove: false,
        };
        assert_eq!(apply(&mut m, "ann", by("bob", "bob"), &react), Ok(true));
        assert_eq!(apply(&mut m, "ann", by("bob", "bob"), &react), Ok(false));
        assert_eq!(
            apply(&mut m, "ann", by("ann", "Ann"), &Change::Delete),
            Ok(true)
        );
        assert!(m.ext.deleted && m.text.is_empty() && m.ext.reactions.is_empty());
        assert_eq!(
            apply(&mut m, "ann", by("ann", "Ann"), &Change::Delete)
                .unwrap_err()
                .0,
            ErrorCode::UnknownMessage
        );
    }

    #[test]
    fn a_new_kind_past_the_limit_is_too_many_but_an_old_one_is_a_no_op() {
        let mut m = msg();
        for i in 0..shared::limits::MAX_EMOJIS {
            let react = Change::React {
                emoji: i.to_string(),
                remove: false,
            };
            assert_eq!(apply(&mut m, "ann", by("bob", "bob"), &react), Ok(true));
        }
        let new = Change::React {
            emoji: "new".into(),
            remove: false,
        };
        assert_eq!(
            apply(&mut m, "ann", by("bob", "bob"), &new).unwrap_err().0,
            ErrorCode::TooMany
        );
        let old = Change::React {
            emoji: "0".into(),
            remove: false,
        };
        assert_eq!(apply(&mut m, "ann", by("bob", "bob"), &old), Ok(false));
        assert_eq!(apply(&mut m, "ann", by("cy", "cy"), &old), Ok(true));
    }

    #[test]
    fn a_message_older_than_the_requesters_hold_on_the_name_is_an_earlier_holders() {
        let mut m = msg();
        m.ts = 100;
        let edit = Change::Edit {
            text: "mine now".into(),
            at: 300,
        };
        let later = Requester {
            since: 200,
            ..by("ann", "Ann")
        };
        for change in [&edit, &Change::Delete] {
            assert_eq!(
                apply(&mut m, "ann", later, change).unwrap_err().0,
                ErrorCode::Forbidden
            );
        }
        let react = Change::React {
            emoji: "👍".into(),
            remove: false,
        };
        assert_eq!(apply(&mut m, "ann", later, &react), Ok(true));
        let since_then = Requester {
            since: 100,
            ..later
        };
        assert_eq!(apply(&mut m, "ann", since_then, &edit), Ok(true));
    }
}
