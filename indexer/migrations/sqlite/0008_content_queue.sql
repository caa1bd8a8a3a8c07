-- The content check's two queues as partial indexes: rows still to check
-- ('unchecked') and rows due again ('missing'). A verified row, almost
-- every row, then has no entry in either, so indexing a message writes one
-- small index entry where it wrote two full ones, and verifying it deletes
-- that entry where it rewrote both. The queries are unchanged, and their
-- predicates name these indexes' conditions, so the release before this one
-- uses them too.
CREATE INDEX messages_unchecked ON messages (id) WHERE content = 'unchecked';
CREATE INDEX messages_missing   ON messages (content_retry_at, id) WHERE content = 'missing';
DROP INDEX messages_content;
DROP INDEX messages_content_retry;
