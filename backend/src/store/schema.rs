//! The database's tables, and the migrations that bring any older file up to date.
//!
//! Each migration is applied once, in order, inside the transaction that opens the store; the
//! file's `user_version` counts how many have been. A file from a newer relay is refused.

/// The migrations, oldest first. Never edit one that has shipped: add another.
pub const MIGRATIONS: &[&str] = &[
    // 1: messages, counters, users and mailboxes.
    "
    CREATE TABLE users (
        key  TEXT PRIMARY KEY,  -- shared::validate::name_key(name)
        name TEXT NOT NULL      -- as said in the latest hello
    ) WITHOUT ROWID;

    CREATE TABLE rooms (
        room     TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE room_messages (
        room   TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        sender TEXT NOT NULL,
        text   TEXT NOT NULL,
        ts     INTEGER NOT NULL,
        cid    TEXT,
        PRIMARY KEY (room, seq)
    ) WITHOUT ROWID;
    CREATE INDEX room_messages_by_ts ON room_messages (ts);

    -- A pair of users, by their keys in order (low < high or equal for notes to self).
    CREATE TABLE pairs (
        low      TEXT NOT NULL,
        high     TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (low, high)
    ) WITHOUT ROWID;

    CREATE TABLE direct_messages (
        low        TEXT NOT NULL,
        high       TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        sender_key TEXT NOT NULL,
        sender     TEXT NOT NULL,  -- spelled as in the sender's hello
        recipient  TEXT NOT NULL,  -- spelled as the recipient's name was known
        text       TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        cid        TEXT,
        PRIMARY KEY (low, high, seq)
    ) WITHOUT ROWID;
    CREATE INDEX direct_messages_by_ts ON direct_messages (ts);

    -- Private messages their recipient has not received yet; id is the order they came in.
    CREATE TABLE mailbox (
        id            INTEGER PRIMARY KEY,
        recipient_key TEXT NOT NULL,
        sender_key    TEXT NOT NULL,
        low           TEXT NOT NULL,
        high          TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        cost          INTEGER NOT NULL  -- store::mail_cost of the message
    );
    CREATE INDEX mailbox_by_recipient ON mailbox (recipient_key, id);
    CREATE INDEX mailbox_by_pair ON mailbox (low, high, seq);
    ",
    // 2: protected names.
    "
    ALTER TABLE users ADD COLUMN password TEXT;  -- an Argon2id PHC string, or NULL
    ",
    // 3: when each name was last used, so that unused names expire (--name-idle-days). Names
    // already known count as used at the upgrade.
    "
    ALTER TABLE users ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;  -- ms since the epoch
    UPDATE users SET last_seen = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
    ",
    // 4: each sender's share of a mailbox, counted by name and by address.
    "
    ALTER TABLE mailbox ADD COLUMN sender_addr TEXT;  -- as the per-address limits count it
    CREATE INDEX mailbox_by_sender ON mailbox (recipient_key, sender_key);
    CREATE INDEX mailbox_by_addr ON mailbox (recipient_key, sender_addr);
    ",
    // 5: operators (docs/OPS.md): when a password was set, so that the relay takes one set by
    // `courier passwd` while it runs; and the runner's audit.
    "
    ALTER TABLE users ADD COLUMN password_at INTEGER NOT NULL DEFAULT 0;  -- ms since the epoch
    -- 1: set by `courier passwd`, the only password an operator's name takes; 0: by `protect`.
    ALTER TABLE users ADD COLUMN password_outside INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE runs (
        run        TEXT NOT NULL UNIQUE,
        by_name    TEXT NOT NULL,
        addr       TEXT,               -- the operator's address
        ts         INTEGER NOT NULL,   -- ms since the epoch
        command    TEXT NOT NULL,
        hosts      TEXT NOT NULL,      -- the expanded range, comma-separated
        host_count INTEGER NOT NULL,
        ok         INTEGER NOT NULL DEFAULT 0,
        failed     INTEGER NOT NULL DEFAULT 0,
        done       INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE run_hosts (
        run       TEXT NOT NULL,
        host      TEXT NOT NULL,
        status    TEXT NOT NULL,       -- shared::ops::HostStatus
        exit      INTEGER,
        signal    TEXT,
        message   TEXT,
        ms        INTEGER NOT NULL,
        truncated INTEGER NOT NULL,
        PRIMARY KEY (run, host)
    ) WITHOUT ROWID;
    ",
    // 6: idempotent sends. A message keeps its sender's id (`mid`), and each sender's ids of
    // the last day are remembered (store/repeats.rs), so that a say or dm sent again with the
    // same id is stored once.
    "
    ALTER TABLE room_messages ADD COLUMN mid TEXT;
    ALTER TABLE direct_messages ADD COLUMN mid TEXT;
    CREATE TABLE mids (
        sender_key TEXT NOT NULL,
        mid        TEXT NOT NULL,
        room       TEXT,               -- the room; NULL for a private message
        low        TEXT,               -- the pair of a private message
        high       TEXT,
        seq        INTEGER NOT NULL,
        ts         INTEGER NOT NULL,   -- the message's, ms since the epoch
        PRIMARY KEY (sender_key, mid)
    ) WITHOUT ROWID;
    CREATE INDEX mids_by_ts ON mids (ts);
    ",
    // 7: the writer keeps each mailbox's counts per sender and per address itself
    // (store/mail_counts.rs), so the two indexes that counted them cost every private message
    // two index writes and two deletes for nothing.
    "
    DROP INDEX mailbox_by_sender;
    DROP INDEX mailbox_by_addr;
    ",
    // 8: replies, edits, deletions and reactions (engine/change.rs). A message keeps its
    // reply's quote, when it was edited, whether it was deleted, its reactions (JSON, as on the
    // wire) and the revision of its latest change (0: never changed); each conversation counts
    // its revisions apart from its seqs, and `changes` reads the changed messages by revision.
    "
    ALTER TABLE room_messages ADD COLUMN reply_seq INTEGER;
    ALTER TABLE room_messages ADD COLUMN reply_from TEXT;
    ALTER TABLE room_messages ADD COLUMN reply_text TEXT;
    ALTER TABLE room_messages ADD COLUMN edited INTEGER;           -- ms since the epoch
    ALTER TABLE room_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE room_messages ADD COLUMN reactions TEXT;           -- [{emoji, names}], or NULL
    ALTER TABLE room_messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE direct_messages ADD COLUMN reply_seq INTEGER;
    ALTER TABLE direct_messages ADD COLUMN reply_from TEXT;
    ALTER TABLE direct_messages ADD COLUMN reply_text TEXT;
    ALTER TABLE direct_messages ADD COLUMN edited INTEGER;
    ALTER TABLE direct_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE direct_messages ADD COLUMN reactions TEXT;
    ALTER TABLE direct_messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pairs ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX room_messages_by_rev ON room_messages (room, rev) WHERE rev > 0;
    CREATE INDEX direct_messages_by_rev ON direct_messages (low, high, rev) WHERE rev > 0;
    ",
    // 9: search (store/search.rs). Each message's text in a contentless FTS5 table with the
    // trigram tokenizer (case-insensitive substrings of three characters or more, in any
    // script), whose rowid is the message's id in search_rows: the message tables are
    // WITHOUT ROWID. Triggers keep both in step with every insert, change of text (an edit,
    // a deletion's ""; not a reaction, which writes the same text again) and delete
    // (retention, a forgotten name), whoever makes it. The messages already stored are
    // indexed here, oldest first, so ids follow the order stored. pairs_by_high finds a
    // user's pairs where they are `high`.
    "
    CREATE TABLE search_rows (
        id   INTEGER PRIMARY KEY,
        room TEXT,     -- a room's message, or NULL
        low  TEXT,     -- a private message's pair, or NULL
        high TEXT,
        seq  INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX search_rows_by_room ON search_rows (room, seq) WHERE room IS NOT NULL;
    CREATE UNIQUE INDEX search_rows_by_pair ON search_rows (low, high, seq) WHERE low IS NOT NULL;
    CREATE VIRTUAL TABLE search_text USING fts5(
        text, content = '', contentless_delete = 1, tokenize = 'trigram'
    );
    CREATE INDEX pairs_by_high ON pairs (high);

    INSERT INTO search_rows (room, low, high, seq)
        SELECT room, low, high, seq FROM (
            SELECT room, NULL AS low, NULL AS high, seq, ts FROM room_messages
            UNION ALL
            SELECT NULL, low, high, seq, ts FROM direct_messages
        ) ORDER BY ts, seq;
    INSERT INTO search_text (rowid, text)
        SELECT s.id, m.text FROM search_rows s
        JOIN room_messages m ON m.room = s.room AND m.seq = s.seq;
    INSERT INTO search_text (rowid, text)
        SELECT s.id, d.text FROM search_rows s
        JOIN direct_messages d ON d.low = s.low AND d.high = s.high AND d.seq = s.seq;

    CREATE TRIGGER room_messages_search_insert AFTER INSERT ON room_messages BEGIN
        INSERT INTO search_rows (room, seq) VALUES (new.room, new.seq);
        INSERT INTO search_text (rowid, text) VALUES (last_insert_rowid(), new.text);
    END;
    CREATE TRIGGER room_messages_search_update AFTER UPDATE OF text ON room_messages
        WHEN old.text IS NOT new.text BEGIN
        DELETE FROM search_text WHERE rowid =
            (SELECT id FROM search_rows WHERE room = old.room AND seq = old.seq);
        INSERT INTO search_text (rowid, text)
            SELECT id, new.text FROM search_rows WHERE room = new.room AND seq = new.seq;
    END;
    CREATE TRIGGER room_messages_search_delete AFTER DELETE ON room_messages BEGIN
        DELETE FROM search_text WHERE rowid =
            (SELECT id FROM search_rows WHERE room = old.room AND seq = old.seq);
        DELETE FROM search_rows WHERE room = old.room AND seq = old.seq;
    END;

    CREATE TRIGGER direct_messages_search_insert AFTER INSERT ON direct_messages BEGIN
        INSERT INTO search_rows (low, high, seq) VALUES (new.low, new.high, new.seq);
        INSERT INTO search_text (rowid, text) VALUES (last_insert_rowid(), new.text);
    END;
    CREATE TRIGGER direct_messages_search_update AFTER UPDATE OF text ON direct_messages
        WHEN old.text IS NOT new.text BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT id FROM search_rows
            WHERE low = old.low AND high = old.high AND seq = old.seq);
        INSERT INTO search_text (rowid, text) SELECT id, new.text FROM search_rows
            WHERE low = new.low AND high = new.high AND seq = new.seq;
    END;
    CREATE TRIGGER direct_messages_search_delete AFTER DELETE ON direct_messages BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT id FROM search_rows
            WHERE low = old.low AND high = old.high AND seq = old.seq);
        DELETE FROM search_rows WHERE low = old.low AND high = old.high AND seq = old.seq;
    END;
    ",
    // 10: the search index written off the commit path (store/indexer.rs). A message's insert
    // still makes its row in search_rows, in its own transaction; its text goes into
    // search_text later, in order of id, when the writer has nothing to commit, and
    // search_indexed holds the last id indexed (searches read the index up to there and scan
    // the rows after it). Changes of text and deletions touch search_text only for rows
    // indexed already; a row after the mark is indexed with its text as it is then. An id
    // at or below the mark can be made again (search_rows' ids are reused once the newest
    // row is deleted): such a row is indexed at once.
    "
    CREATE TABLE search_indexed (last INTEGER NOT NULL);
    INSERT INTO search_indexed SELECT coalesce(max(id), 0) FROM search_rows;

    DROP TRIGGER room_messages_search_insert;
    DROP TRIGGER room_messages_search_update;
    DROP TRIGGER room_messages_search_delete;
    DROP TRIGGER direct_messages_search_insert;
    DROP TRIGGER direct_messages_search_update;
    DROP TRIGGER direct_messages_search_delete;

    CREATE TRIGGER room_messages_search_insert AFTER INSERT ON room_messages BEGIN
        INSERT INTO search_rows (room, seq) VALUES (new.room, new.seq);
        INSERT INTO search_text (rowid, text)
            SELECT last_insert_rowid(), new.text FROM search_indexed
            WHERE last >= last_insert_rowid();
    END;
    CREATE TRIGGER room_messages_search_update AFTER UPDATE OF text ON room_messages
        WHEN old.text IS NOT new.text BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT s.id FROM search_rows s, search_indexed i
            WHERE s.room = old.room AND s.seq = old.seq AND s.id <= i.last);
        INSERT INTO search_text (rowid, text) SELECT s.id, new.text
            FROM search_rows s, search_indexed i
            WHERE s.room = new.room AND s.seq = new.seq AND s.id <= i.last;
    END;
    CREATE TRIGGER room_messages_search_delete AFTER DELETE ON room_messages BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT s.id FROM search_rows s, search_indexed i
            WHERE s.room = old.room AND s.seq = old.seq AND s.id <= i.last);
        DELETE FROM search_rows WHERE room = old.room AND seq = old.seq;
    END;

    CREATE TRIGGER direct_messages_search_insert AFTER INSERT ON direct_messages BEGIN
        INSERT INTO search_rows (low, high, seq) VALUES (new.low, new.high, new.seq);
        INSERT INTO search_text (rowid, text)
            SELECT last_insert_rowid(), new.text FROM search_indexed
            WHERE last >= last_insert_rowid();
    END;
    CREATE TRIGGER direct_messages_search_update AFTER UPDATE OF text ON direct_messages
        WHEN old.text IS NOT new.text BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT s.id FROM search_rows s, search_indexed i
            WHERE s.low = old.low AND s.high = old.high AND s.seq = old.seq AND s.id <= i.last);
        INSERT INTO search_text (rowid, text) SELECT s.id, new.text
            FROM search_rows s, search_indexed i
            WHERE s.low = new.low AND s.high = new.high AND s.seq = new.seq AND s.id <= i.last;
    END;
    CREATE TRIGGER direct_messages_search_delete AFTER DELETE ON direct_messages BEGIN
        DELETE FROM search_text WHERE rowid = (SELECT s.id FROM search_rows s, search_indexed i
            WHERE s.low = old.low AND s.high = old.high AND s.seq = old.seq AND s.id <= i.last);
        DELETE FROM search_rows WHERE low = old.low AND high = old.high AND seq = old.seq;
    END;
    ",
    // 11: when the name's holder first said hello (engine/change.rs): a room message older
    // than that is an earlier holder's, of a name forgotten and taken again, and nobody may
    // edit or delete it. Names known before are taken as held from the start (0).
    "
    ALTER TABLE users ADD COLUMN since INTEGER NOT NULL DEFAULT 0;  -- ms since the epoch
    ",
];

/// A database in memory with every migration applied, for the store's unit tests.
#[cfg(test)]
pub fn migrated_in_memory() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for sql in MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn names_known_before_last_seen_count_as_used_at_the_upgrade() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(MIGRATIONS[0]).unwrap();
        db.execute_batch(MIGRATIONS[1]).unwrap();
        db.execute(
            "INSERT INTO users (key, name) VALUES ('alice', 'Alice')",
            [],
        )
        .unwrap();
        db.execute_batch(MIGRATIONS[2]).unwrap();
        let seen: i64 = db
            .query_row("SELECT last_seen FROM users WHERE key = 'alice'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now - seen).abs() < 60_000, "last_seen {seen}, now {now}");
    }
}
