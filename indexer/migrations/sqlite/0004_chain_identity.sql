-- Which chain and contract this database indexes. Recorded on first start;
-- a node pointed at another chain (a fresh Anvil, another network) or
-- another contract refuses to ingest instead of mixing their rows.
CREATE TABLE chain_identity (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id     INTEGER NOT NULL,
    genesis_hash TEXT NOT NULL,
    contract     TEXT NOT NULL
);
