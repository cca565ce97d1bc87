//! The codes of `error` frames.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotWelcomed,
    NameTaken,
    InvalidName,
    InvalidRoom,
    NotMember,
    UnknownUser,
    TooLong,
    RateLimited,
    Unsupported,
    Forbidden,
    Internal,
    /// The recipient's offline mailbox is full (an extension; see docs/PROTOCOL.md).
    MailboxFull,
    /// The name is protected and the hello had no valid password or token (an extension).
    PasswordRequired,
    /// A host of a `run` is outside every allowed network (docs/OPS.md).
    HostNotAllowed,
    /// An `edit`, `delete`, `react` or reply names a message its conversation does not have
    /// (or no longer has: deleted, or past retention). An extension.
    UnknownMessage,
    /// A message has as many reactions as it may hold (an extension).
    TooMany,
    /// A code this version does not know (sent by a newer relay). Never sent.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// Every code this version knows.
    const KNOWN: [Self; 17] = [
        Self::BadRequest,
        Self::NotWelcomed,
        Self::NameTaken,
        Self::InvalidName,
        Self::InvalidRoom,
        Self::NotMember,
        Self::UnknownUser,
        Self::TooLong,
        Self::RateLimited,
        Self::Unsupported,
        Self::Forbidden,
        Self::Internal,
        Self::MailboxFull,
        Self::PasswordRequired,
        Self::HostNotAllowed,
        Self::UnknownMessage,
        Self::TooMany,
    ];

    /// The code named on the wire; [`ErrorCode::Other`] for one this version does not know
    /// (what the derived `Deserialize` gives, without its visitor in the web client).
    pub(crate) fn from_wire(code: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|c| c.as_str() == code)
            .unwrap_or(Self::Other)
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::NotWelcomed => "not_welcomed",
            Self::NameTaken => "name_taken",
            Self::InvalidName => "invalid_name",
            Self::InvalidRoom => "invalid_room",
            Self::NotMember => "not_member",
            Self::UnknownUser => "unknown_user",
            Self::TooLong => "too_long",
            Self::RateLimited => "rate_limited",
            Self::Unsupported => "unsupported",
            Self::Forbidden => "forbidden",
            Self::Internal => "internal",
            Self::MailboxFull => "mailbox_full",
            Self::PasswordRequired => "password_required",
            Self::HostNotAllowed => "host_not_allowed",
            Self::UnknownMessage => "unknown_message",
            Self::TooMany => "too_many",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
