-- The gateway's durable outbox (docs/BATCHING.md). A post is written here,
-- in one transaction with the rest of its request, before the gateway
-- answers 202; it leaves only by being anchored, or by expiring unanchored.
CREATE TABLE batches (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    root            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    state           TEXT    NOT NULL,  -- sealed | sent | anchored
    tx_nonce        INTEGER,
    tx_hash         TEXT,
    raw_tx          BLOB,              -- stored before the first broadcast
    block_number    INTEGER,           -- set once mined; final once anchored
    block_hash      TEXT,
    sealed_at       INTEGER NOT NULL,  -- unix ms
    sent_at         INTEGER
);
CREATE INDEX batches_state ON batches (state, id);

CREATE TABLE posts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id     TEXT    NOT NULL UNIQUE, -- the EIP-712 signing hash
    sender      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    nonce       INTEGER NOT NULL,
    deadline    INTEGER NOT NULL,
    signature   BLOB    NOT NULL,
    accepted_at INTEGER NOT NULL,        -- unix ms
    state       TEXT    NOT NULL,        -- queued | batched | expired
    batch       INTEGER REFERENCES batches (id),
    item        INTEGER,
    UNIQUE (sender, nonce)
);
CREATE INDEX posts_queue ON posts (state, id);
CREATE INDEX posts_batch ON posts (batch, item);
