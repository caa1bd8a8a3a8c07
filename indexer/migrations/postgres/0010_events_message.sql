-- Events by the message they name. Deleting a message row makes the
-- database look for events that still name it (the foreign key), and a
-- rollback looks for pushed rows among the pending ones it would delete
-- (docs/INDEXER.md, Reorgs). Without this index each look read every
-- event: deleting 2,000 pending rows beside 50,000 events took 8.4 s on
-- PostgreSQL and 3.4 s on SQLite, and grew with the table; with it, 16 and
-- 6 ms. message_id only grows, so a new entry lands at the index's right
-- edge.
CREATE INDEX events_message ON events (message_id);
