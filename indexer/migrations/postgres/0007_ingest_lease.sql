-- Which node may ingest. The node that holds the advisory lock of the
-- ingest lease bumps `generation` when it takes over, and every ingestion
-- transaction checks it under a share lock on this row: a node that lost
-- the lock cannot write after its successor began (see store/lease.rs).
CREATE TABLE ingest_lease (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    holder     TEXT NOT NULL,
    taken_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO ingest_lease (id, generation, holder) VALUES (1, 0, '');
