-- Who each user accepts messages from (allow) or never wants pushed (block).
-- Each row is the newest entry the user signed for that peer (EIP-712
-- `Consent`, checked before it is written); the signature is kept so that
-- the list can be exported and checked by anyone, and no node can forge it.
CREATE TABLE consent (
    owner      TEXT   NOT NULL,
    peer       TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    issued_at  BIGINT NOT NULL,
    signature  TEXT   NOT NULL,
    PRIMARY KEY (owner, peer)
);
