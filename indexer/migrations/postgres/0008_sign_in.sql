-- Sign-in (SIWE) state every node shares, so that a node restart or a
-- round-robin in front of several nodes signs nobody out.
--
-- `auth_secret` is the HMAC key nonces are signed with: a nonce is issued
-- by any node without a write, and only nonces that were used are stored,
-- so a flood of nonce requests stores nothing and evicts nobody's.
CREATE TABLE auth_secret (
    id     SMALLINT PRIMARY KEY CHECK (id = 1),
    secret BYTEA NOT NULL
);
-- Nonces used by a sign-in, until they expire (each is used once).
CREATE TABLE auth_used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);
-- Open sessions, by the SHA-256 of their token (the token is only in the
-- browser's cookie).
CREATE TABLE auth_sessions (
    token_hash BYTEA PRIMARY KEY,
    address    TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_ms);
