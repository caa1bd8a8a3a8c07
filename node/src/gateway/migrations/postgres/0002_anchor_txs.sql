-- Every anchor transaction signed for a batch. A stuck transaction is
-- replaced by one with the same nonce and higher fees; either may be mined,
-- so the batcher watches every transaction of the batch's current nonce.
CREATE TABLE anchor_txs (
    hash     TEXT    PRIMARY KEY,
    batch    BIGINT NOT NULL REFERENCES batches (id),
    nonce    BIGINT NOT NULL,
    raw      BYTEA   NOT NULL,
    max_fee  TEXT    NOT NULL,  -- wei per gas, decimal (may exceed 64 bits)
    priority TEXT    NOT NULL,
    signed_at BIGINT NOT NULL  -- unix ms
);
CREATE INDEX anchor_txs_batch ON anchor_txs (batch, nonce);
-- Batches already sent keep their one transaction.
INSERT INTO anchor_txs (hash, batch, nonce, raw, max_fee, priority, signed_at)
    SELECT tx_hash, id, tx_nonce, raw_tx, '0', '0', COALESCE(sent_at, sealed_at)
    FROM batches WHERE tx_hash IS NOT NULL AND raw_tx IS NOT NULL;
