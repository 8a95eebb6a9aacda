-- no-transaction
-- Accounts people sign in to: a password (argon2id) set from an invitation
-- link, lockout after repeated failures, several tokens per user (API tokens
-- for scripts, device tokens for each signed-in disca-host), one-time links
-- (invitations, password resets) and OAuth authorization codes, all stored
-- as hashes.
--
-- users loses token_hash (an invited user has no token), which SQLite can
-- only do by rebuilding the table; foreign keys are switched off around the
-- rebuild (they cannot be inside a transaction, hence `no-transaction`) and
-- checked before the commit. Each user's token becomes an API token.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE users_new (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL REFERENCES tenants (slug),
    name           TEXT NOT NULL,
    email          TEXT NOT NULL,
    extension      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('agent', 'manager')),
    created_at     BIGINT NOT NULL,
    crm_user_id    TEXT,
    phone_kind     TEXT NOT NULL DEFAULT 'desk' CHECK (phone_kind IN ('browser', 'desk')),
    disabled_at    INTEGER,
    -- PHC string of the argon2id hash; NULL until the invitation is used.
    password_hash  TEXT,
    -- Wrong passwords in a row, and until when sign-in is refused after
    -- too many (milliseconds since the epoch).
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    UNIQUE (tenant, email),
    UNIQUE (tenant, extension)
);
INSERT INTO users_new (id, tenant, name, email, extension, role, created_at, crm_user_id,
                       phone_kind, disabled_at)
    SELECT id, tenant, name, email, extension, role, created_at, crm_user_id, phone_kind,
           disabled_at
    FROM users;

-- A bearer token: 'api' (made by `user add` or `token create`, for scripts)
-- or 'device' (issued to one disca-host by the sign-in flow). Only the
-- SHA-256 of the secret is kept. Revoking deletes the row.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'device')),
    label       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);
INSERT INTO tokens (id, user_id, kind, label, token_hash, created_at)
    SELECT lower(hex(randomblob(16))), id, 'api', 'user add', token_hash, created_at
    FROM users;

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- One-time links: an invitation (sets the first password) or a password
-- reset. Only the SHA-256 of the link's secret is kept.
CREATE TABLE account_links (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX account_links_user ON account_links (user_id);

-- OAuth 2.0 authorization codes for disca-host's sign-in (RFC 8252 with
-- PKCE): one use, a minute long, bound to the redirect URI and the code
-- challenge. token_id is the device token the code was exchanged for, so a
-- second use of the code revokes it (RFC 6749 section 4.1.2).
CREATE TABLE oauth_codes (
    code_hash     TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    client_id     TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    challenge     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    token_id      TEXT
);

-- Bumped whenever access is taken away (a user disabled, a token revoked):
-- every backend polls it and drops what it cached about who may do what,
-- and closes the event streams of whoever lost access.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
