-- Allowances shared by every gateway of this outbox (src/gateway/quota.rs):
-- a token bucket per scope (what is counted) and key (an IP, a sender),
-- refilled by time. Additive only (docs/DEPLOY.md, "Upgrades").
CREATE TABLE allowances (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
