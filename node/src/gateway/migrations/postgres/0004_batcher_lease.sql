-- Which gateway may batch. Several gateways can share this outbox; the one
-- that holds the batcher lease's advisory lock bumps `generation` when it
-- takes over, and every write of its batcher checks it under a share lock
-- on this row, so a gateway that lost the lease cannot seal or sign after
-- its successor began (see cairn_indexer::lease).
CREATE TABLE batcher_lease (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    holder     TEXT NOT NULL,
    taken_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO batcher_lease (id, generation, holder) VALUES (1, 0, '');
