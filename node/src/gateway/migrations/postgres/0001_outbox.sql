-- The gateway's durable outbox (docs/BATCHING.md). A post is written here,
-- in one transaction with the rest of its request, before the gateway
-- answers 202; it leaves only by being anchored, or by expiring unanchored.
CREATE TABLE batches (
    id              BIGSERIAL PRIMARY KEY,
    root            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    count           BIGINT NOT NULL,
    state           TEXT    NOT NULL,  -- sealed | sent | anchored
    tx_nonce        BIGINT,
    tx_hash         TEXT,
    raw_tx          BYTEA,              -- stored before the first broadcast
    block_number    BIGINT,           -- set once mined; final once anchored
    block_hash      TEXT,
    sealed_at       BIGINT NOT NULL,  -- unix ms
    sent_at         BIGINT
);
CREATE INDEX batches_state ON batches (state, id);

CREATE TABLE posts (
    id          BIGSERIAL PRIMARY KEY,
    post_id     TEXT    NOT NULL UNIQUE, -- the EIP-712 signing hash
    sender      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    nonce       BIGINT NOT NULL,
    deadline    BIGINT NOT NULL,
    signature   BYTEA   NOT NULL,
    accepted_at BIGINT NOT NULL,        -- unix ms
    state       TEXT    NOT NULL,        -- queued | batched | expired
    batch       BIGINT REFERENCES batches (id),
    item        BIGINT,
    UNIQUE (sender, nonce)
);
CREATE INDEX posts_queue ON posts (state, id);
CREATE INDEX posts_batch ON posts (batch, item);
