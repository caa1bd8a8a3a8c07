-- Batched posts (docs/BATCHING.md). A BatchAnchored log carries many posts,
-- so a message row is now unique on (block_hash, log_index, item): item is
-- the post's index in its batch manifest, and -1 for a direct Posted log.
ALTER TABLE messages ADD COLUMN item BIGINT NOT NULL DEFAULT -1;
ALTER TABLE messages ADD COLUMN nonce BIGINT;
ALTER TABLE messages DROP CONSTRAINT messages_block_hash_log_index_key;
ALTER TABLE messages ADD CONSTRAINT messages_block_hash_log_index_item_key UNIQUE (block_hash, log_index, item);
DROP INDEX messages_inbox;
DROP INDEX messages_sent;
CREATE INDEX messages_inbox ON messages (recipient, block_number, log_index, item);
CREATE INDEX messages_sent  ON messages (sender, block_number, log_index, item);
CREATE INDEX messages_nonce ON messages (sender, nonce) WHERE nonce IS NOT NULL;

-- BatchAnchored logs, with the same chain lifecycle as messages, plus what
-- the manifest check found: unresolved, delivered, missing (retried) or
-- rejected (the manifest can never match: bad format, root or count).
CREATE TABLE batches (
    id              BIGSERIAL PRIMARY KEY,
    block_number    BIGINT  NOT NULL,
    block_hash      TEXT    NOT NULL,
    log_index       BIGINT  NOT NULL,
    tx_hash         TEXT    NOT NULL,
    block_time      BIGINT,
    relayer         TEXT    NOT NULL,
    root            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    count           BIGINT  NOT NULL,
    batch_id        BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    resolution      TEXT    NOT NULL DEFAULT 'unresolved',
    reason          TEXT,
    delivered       BIGINT  NOT NULL DEFAULT 0,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (block_hash, log_index)
);
CREATE INDEX batches_resolution ON batches (resolution, id);
CREATE INDEX batches_status     ON batches (status, block_number);

-- Posts a batch listed that readers must not deliver, and why.
CREATE TABLE invalid_posts (
    batch     BIGINT  NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    item      BIGINT  NOT NULL,
    sender    TEXT    NOT NULL,
    recipient TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    nonce     BIGINT  NOT NULL,
    reason    TEXT    NOT NULL,
    PRIMARY KEY (batch, item)
);
