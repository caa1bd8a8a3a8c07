-- Channels, from the contract's events. A reorg deletes the rows above its
-- fork point and re-ingests the canonical blocks, so these tables always
-- describe the chain the indexer follows (membership, admins, epochs).
CREATE TABLE channels (
    channel      TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    creator      TEXT   NOT NULL,
    gate         BIGINT NOT NULL,
    token        TEXT   NOT NULL,
    min_balance  TEXT   NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash   TEXT   NOT NULL,
    log_index    BIGINT NOT NULL,
    PRIMARY KEY (block_hash, log_index)
);
CREATE INDEX channels_id ON channels (channel);

-- One row per account a MembersChanged or AdminsChanged event names, in
-- event order (`position`: removals first, then additions).
CREATE TABLE channel_changes (
    block_number BIGINT  NOT NULL,
    block_hash   TEXT    NOT NULL,
    log_index    BIGINT  NOT NULL,
    position     BIGINT  NOT NULL,
    channel      TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    added        BOOLEAN NOT NULL,
    PRIMARY KEY (block_hash, log_index, position)
);
CREATE INDEX channel_changes_channel ON channel_changes (channel, account, block_number, log_index, position);
CREATE INDEX channel_changes_account ON channel_changes (account, role);

-- Epochs: each MembersChanged sets one (`bundle` null); each
-- EpochKeyPublished anchors the bundle of one.
CREATE TABLE channel_epochs (
    channel      TEXT   NOT NULL,
    epoch        BIGINT NOT NULL,
    bundle       TEXT,
    block_number BIGINT NOT NULL,
    block_hash   TEXT   NOT NULL,
    log_index    BIGINT NOT NULL,
    PRIMARY KEY (block_hash, log_index)
);
CREATE INDEX channel_epochs_channel ON channel_epochs (channel, epoch);
