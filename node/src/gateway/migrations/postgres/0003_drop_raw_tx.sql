-- Signed anchor transactions live in anchor_txs (0002); the copy of the
-- newest one on the batch row was never read.
ALTER TABLE batches DROP COLUMN raw_tx;
