-- Messages anchored by Posted events. One row per (block_hash, log_index):
-- replaying a block never doubles a row.
CREATE TABLE messages (
    id           BIGSERIAL PRIMARY KEY,
    block_number BIGINT  NOT NULL,
    block_hash   TEXT    NOT NULL,
    log_index    BIGINT  NOT NULL,
    tx_hash      TEXT    NOT NULL,
    sender       TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    sequence     BIGINT  NOT NULL,
    cid          TEXT    NOT NULL,
    status       TEXT    NOT NULL,                    -- pending | confirmed | retracted
    content      TEXT    NOT NULL DEFAULT 'unchecked', -- unchecked | verified | missing | tampered
    UNIQUE (block_hash, log_index)
);
CREATE INDEX messages_inbox   ON messages (recipient, block_number, log_index);
CREATE INDEX messages_sent    ON messages (sender, block_number, log_index);
CREATE INDEX messages_status  ON messages (status, block_number);
CREATE INDEX messages_content ON messages (content, id);

-- Key registrations, with the same lifecycle as messages.
CREATE TABLE keys (
    id           BIGSERIAL PRIMARY KEY,
    block_number BIGINT  NOT NULL,
    block_hash   TEXT    NOT NULL,
    log_index    BIGINT  NOT NULL,
    tx_hash      TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    pubkey       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    status       TEXT    NOT NULL,
    UNIQUE (block_hash, log_index)
);
CREATE INDEX keys_owner  ON keys (owner, block_number, log_index);
CREATE INDEX keys_status ON keys (status, block_number);

-- What the stream pushes: a confirmation or a retraction, in commit order.
-- seq is the stream cursor.
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT    NOT NULL,                      -- message | retracted
    message_id BIGINT  NOT NULL REFERENCES messages (id),
    recipient  TEXT    NOT NULL
);
CREATE INDEX events_recipient ON events (recipient, seq);

-- The recent canonical blocks (the reorg window).
CREATE TABLE blocks (
    number      BIGINT  PRIMARY KEY,
    hash        TEXT    NOT NULL,
    parent_hash TEXT    NOT NULL
);

-- The last ingested block; written in the same transaction as its rows.
CREATE TABLE checkpoint (
    id     BIGINT  PRIMARY KEY CHECK (id = 1),
    number BIGINT  NOT NULL,
    hash   TEXT    NOT NULL
);
