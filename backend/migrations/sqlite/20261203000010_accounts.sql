-- Accounts people sign in to: a password (argon2id) set from an invitation
-- link, lockout after repeated failures, several tokens per user (API tokens
-- for scripts, device tokens for each signed-in disca-host), one-time links
-- (invitations, password resets) and OAuth authorization codes, all stored
-- as hashes.
ALTER TABLE users ADD COLUMN password_hash TEXT;  -- PHC string; NULL until the invitation is used
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;  -- wrong passwords in a row
ALTER TABLE users ADD COLUMN locked_until BIGINT;  -- sign-in refused until then (ms)

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
-- Each user's token becomes an API token. users.token_hash is retired: an
-- invited user has no token, but SQLite cannot drop the column's NOT NULL
-- UNIQUE without rebuilding a table others reference (and sqlx runs every
-- SQLite migration in a transaction, where foreign keys cannot be switched
-- off), so it holds 'retired:<id>', which no hash equals, and nothing reads it.
INSERT INTO tokens (id, user_id, kind, label, token_hash, created_at)
    SELECT lower(hex(randomblob(16))), id, 'api', 'user add', token_hash, created_at
    FROM users;
UPDATE users SET token_hash = 'retired:' || id;

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

-- A manager page session opened with a token (a script's login) ends when
-- that token is revoked: the token's hash, NULL for a password login.
ALTER TABLE manager_sessions ADD COLUMN token_hash TEXT;

-- Bumped whenever access is taken away (a user disabled, a token revoked):
-- every backend polls it and drops what it cached about who may do what,
-- and closes the event streams of whoever lost access.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);
