-- Batched posts (docs/BATCHING.md). A BatchAnchored log carries many posts,
-- so a message row is now unique on (block_hash, log_index, item): item is
-- the post's index in its batch manifest, and -1 for a direct Posted log.
-- SQLite cannot change a table constraint in place, so messages (and events,
-- which references it) are rebuilt with every row and id kept.
CREATE TABLE messages_copy AS SELECT * FROM messages;
CREATE TABLE events_copy AS SELECT * FROM events;
DROP TABLE events;
DROP TABLE messages;

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    block_number INTEGER NOT NULL,
    block_hash   TEXT    NOT NULL,
    log_index    INTEGER NOT NULL,
    item         INTEGER NOT NULL DEFAULT -1,         -- index in the batch; -1 for a direct post
    tx_hash      TEXT    NOT NULL,
    sender       TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,                    -- Posted.sequence, or the batch id
    nonce        INTEGER,                             -- the signed post's nonce; NULL for a direct post
    cid          TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    content      TEXT    NOT NULL DEFAULT 'unchecked',
    UNIQUE (block_hash, log_index, item)
);
INSERT INTO messages (id, block_number, block_hash, log_index, item, tx_hash, sender, recipient, digest, sequence, cid, status, content)
    SELECT id, block_number, block_hash, log_index, -1, tx_hash, sender, recipient, digest, sequence, cid, status, content FROM messages_copy;
CREATE INDEX messages_inbox   ON messages (recipient, block_number, log_index, item);
CREATE INDEX messages_sent    ON messages (sender, block_number, log_index, item);
CREATE INDEX messages_status  ON messages (status, block_number);
CREATE INDEX messages_content ON messages (content, id);
CREATE INDEX messages_nonce   ON messages (sender, nonce) WHERE nonce IS NOT NULL;

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    recipient  TEXT    NOT NULL
);
INSERT INTO events (seq, kind, message_id, recipient) SELECT seq, kind, message_id, recipient FROM events_copy;
CREATE INDEX events_recipient ON events (recipient, seq);
DROP TABLE messages_copy;
DROP TABLE events_copy;

-- BatchAnchored logs, with the same chain lifecycle as messages, plus what
-- the manifest check found: unresolved, delivered, missing (retried) or
-- rejected (the manifest can never match: bad format, root or count).
CREATE TABLE batches (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    block_number    INTEGER NOT NULL,
    block_hash      TEXT    NOT NULL,
    log_index       INTEGER NOT NULL,
    tx_hash         TEXT    NOT NULL,
    block_time      INTEGER,
    relayer         TEXT    NOT NULL,
    root            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    batch_id        INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    resolution      TEXT    NOT NULL DEFAULT 'unresolved',
    reason          TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (block_hash, log_index)
);
CREATE INDEX batches_resolution ON batches (resolution, id);
CREATE INDEX batches_status     ON batches (status, block_number);

-- Posts a batch listed that readers must not deliver, and why.
CREATE TABLE invalid_posts (
    batch     INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    item      INTEGER NOT NULL,
    sender    TEXT    NOT NULL,
    recipient TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    nonce     INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    PRIMARY KEY (batch, item)
);
