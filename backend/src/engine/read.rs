//! What an engine's reads return: history pages, mailboxes, known users.

use shared::ChatMessage;

/// A page of a conversation's messages, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    /// Older messages in the range asked for were left out.
    pub more: bool,
    /// The conversation's last `seq` when the page was read (0: no message yet).
    pub last_seq: u64,
}

/// A private message waiting in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Its row: what `Job::Received` removes.
    pub id: i64,
    pub sender_key: String,
    pub msg: ChatMessage,
}

/// A user who completed a hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `shared::validate::name_key(name)`.
    pub key: String,
    /// As said in the latest hello.
    pub name: String,
    /// The Argon2id hash of a protected name's password.
    pub password: Option<String>,
    /// When a session last had the name (ms since the Unix epoch).
    pub last_seen: u64,
    /// When the password was set (ms since the Unix epoch; 0 for none, or unknown).
    pub password_at: u64,
    /// The password was set by `courier passwd`, not by `protect`.
    pub password_outside: bool,
}
