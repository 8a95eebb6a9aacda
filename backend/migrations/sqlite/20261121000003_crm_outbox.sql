-- CRM write-back (RD Station): each tenant's connection, each
-- salesperson's CRM user, and the outbox of notes to write.

-- The salesperson's user id in RD Station CRM: the author of v1 notes.
ALTER TABLE users ADD COLUMN crm_user_id TEXT;

-- One RD Station CRM connection per tenant. Secrets are sealed
-- (XChaCha20-Poly1305 under the backend's secrets key, see
-- src/crm/secrets.rs); they are never stored or logged in clear.
CREATE TABLE crm_accounts (
    tenant          TEXT PRIMARY KEY REFERENCES tenants (slug),
    api             TEXT NOT NULL CHECK (api IN ('v1', 'v2')),
    -- v1: https://crm.rdstation.com/api/v1; v2: https://api.rd.services/crm/v2
    base_url        TEXT NOT NULL,
    -- v2 only: https://api.rd.services/oauth2/token and the OAuth2 client.
    token_url       TEXT,
    client_id       TEXT,
    -- v1: the instance token; v2: the client secret.
    secret          BLOB NOT NULL,
    -- v2 only: the current refresh token. Every refresh replaces it; the
    -- generation makes the replacement a compare-and-swap.
    refresh_token   BLOB,
    generation      BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- The outbox: one row per ended call, inserted in the transaction that
-- ends the call, delivered by the CRM worker.
CREATE TABLE crm_deliveries (
    call_id          TEXT PRIMARY KEY REFERENCES calls (id),
    tenant           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'no_deal', 'not_configured')),
    -- The deal the note goes to: from the page, or found by phone.
    deal_id          TEXT,
    -- The note as first rendered; every retry sends these exact bytes.
    note_text        TEXT,
    note_id          TEXT,
    -- Creation requests sent, and temporary failures (the backoff's exponent).
    attempts         BIGINT NOT NULL DEFAULT 0,
    failures         BIGINT NOT NULL DEFAULT 0,
    -- Set before a note creation is sent: the note may exist at the CRM
    -- even if no answer came back, so look for it before sending again.
    maybe_sent       BOOLEAN NOT NULL DEFAULT FALSE,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX crm_deliveries_due ON crm_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX crm_deliveries_tenant_state ON crm_deliveries (tenant, state);
