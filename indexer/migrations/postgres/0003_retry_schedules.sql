-- Each missing manifest and each missing block is retried on its own
-- schedule (exponential backoff with a cap), so retries are fair: a heap of
-- batches whose manifests exist nowhere cannot starve a late but real one.
-- Times are unix milliseconds from the indexer's clock; 0 means "now".
ALTER TABLE batches  ADD COLUMN retry_at         BIGINT NOT NULL DEFAULT 0;
-- How many posts the batch listed as invalid; only the first few are kept
-- in invalid_posts, so a forged manifest cannot make the node write
-- thousands of rows per anchor.
ALTER TABLE batches  ADD COLUMN invalid_count    BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN content_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN content_retry_at BIGINT NOT NULL DEFAULT 0;
UPDATE batches SET invalid_count = (SELECT COUNT(*) FROM invalid_posts WHERE invalid_posts.batch = batches.id);
CREATE INDEX batches_retry          ON batches  (resolution, retry_at);
CREATE INDEX messages_content_retry ON messages (content, content_retry_at);
