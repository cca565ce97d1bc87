//! The numbers the protocol fixes. Both ends read them from here.

/// A nickname has 1 to this many characters (Unicode scalar values) after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// A room name has 1 to this many characters.
pub const MAX_ROOM_CHARS: usize = 64;

/// A `say` or `dm` text has at most this many characters; more gets `too_long`.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A client's `cid` has at most this many characters.
pub const MAX_CID_CHARS: usize = 64;

/// A WebSocket message larger than this many bytes closes the connection with code 1009.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// `joined` carries at most this many of the room's most recent messages.
pub const HISTORY_LEN: usize = 50;

/// A password for a protected name has this many characters at least, and at most
/// [`MAX_PASSWORD_CHARS`].
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A `join` with `after` replays at most this many messages (the newest of those missed).
pub const REPLAY_LEN: usize = 100;

/// A `history` request returns at most this many messages.
pub const HISTORY_PAGE_MAX: usize = 100;

/// Seconds a new connection has to be welcomed before it is closed with code 1008.
pub const HELLO_TIMEOUT_SECS: u64 = 10;

/// WebSocket close codes the relay uses (RFC 6455 section 7.4.1).
pub mod close {
    /// Normal closure: the session was taken over by a reconnect with its token.
    pub const NORMAL: u16 = 1000;
    /// Going away: the relay is shutting down, or the client stopped answering pings or
    /// accepting writes.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: the other end broke RFC 6455 (an unmasked client frame, say).
    pub const PROTOCOL: u16 = 1002;
    /// Invalid frame payload data: a text frame that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation: no `welcome` within the hello timeout.
    pub const POLICY: u16 = 1008;
    /// Message too big: a message over [`super::MAX_MESSAGE_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// Internal error in the relay.
    pub const INTERNAL: u16 = 1011;
    /// Try again later: the client did not read its messages fast enough and its outbound
    /// queue filled up.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// A reply quotes at most this many characters of the message it answers.
pub const QUOTE_CHARS: usize = 140;

/// A reaction's emoji is at most this many bytes (one emoji, with its modifiers and joiners).
pub const MAX_EMOJI_BYTES: usize = 32;

/// A message holds at most this many different emoji …
pub const MAX_EMOJIS: usize = 20;

/// … and at most this many reactions in all (one per person and emoji).
pub const MAX_REACTIONS: usize = 200;

/// A `changes` answer holds at most this many messages (the oldest changes first).
pub const CHANGES_PAGE: usize = 200;

/// A `search` query is at most this many characters …
pub const MAX_QUERY_CHARS: usize = 100;

/// … and its answer holds at most this many messages, newest first.
pub const SEARCH_LEN: usize = 50;
