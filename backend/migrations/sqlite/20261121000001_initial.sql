-- Disca initial schema. DML in the code is portable SQL (SQLite and
-- PostgreSQL); the only SQLite-specific DDL is call_events.seq, which is
-- `INTEGER PRIMARY KEY` (a rowid alias) here and would be
-- `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY` in PostgreSQL.
-- Timestamps are BIGINT milliseconds since the Unix epoch, UTC.

CREATE TABLE tenants (
    slug                TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    region              TEXT NOT NULL DEFAULT 'BR',
    allow_premium       BOOLEAN NOT NULL DEFAULT FALSE,
    allow_collect       BOOLEAN NOT NULL DEFAULT FALSE,
    allow_international BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants (slug),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    extension   TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('agent', 'manager')),
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant, email),
    UNIQUE (tenant, extension)
);

CREATE TABLE calls (
    id                 TEXT PRIMARY KEY,
    tenant             TEXT NOT NULL REFERENCES tenants (slug),
    user_id            TEXT NOT NULL REFERENCES users (id),
    agent_endpoint     TEXT NOT NULL,
    to_number          TEXT NOT NULL,
    state              TEXT NOT NULL,
    outcome            TEXT,
    created_at         BIGINT NOT NULL,
    agent_answered_at  BIGINT,
    lead_dialed_at     BIGINT,
    lead_answered_at   BIGINT,
    ended_at           BIGINT,
    ring_seconds       BIGINT,
    talk_seconds       BIGINT,
    hangup_cause_code  BIGINT,
    hangup_cause_text  TEXT,
    recording_file     TEXT,
    deal_id            TEXT,
    contact_id         TEXT,
    page_url           TEXT
);

-- One live call per user: the 409 "agent already in a call" is this index.
CREATE UNIQUE INDEX calls_one_live_per_user ON calls (user_id) WHERE state <> 'ended';
CREATE INDEX calls_tenant_created ON calls (tenant, created_at);
CREATE INDEX calls_user_created ON calls (user_id, created_at);
CREATE INDEX calls_live ON calls (state) WHERE state <> 'ended';

-- A retried click carries the same Idempotency-Key and gets the same call.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users (id),
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    call_id       TEXT NOT NULL REFERENCES calls (id),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- Every state change of every call, in order: the SSE stream and its
-- Last-Event-ID resumption read from here.
CREATE TABLE call_events (
    seq         INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    tenant      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX call_events_tenant_seq ON call_events (tenant, seq);
