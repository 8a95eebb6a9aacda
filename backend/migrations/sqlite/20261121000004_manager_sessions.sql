-- Manager page logins. The cookie carries 256 random bits; only their
-- SHA-256 is stored, so a copy of the database logs nobody in. A session
-- ends at expires_at or at logout; expired rows are removed at the next
-- login.
CREATE TABLE manager_sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX manager_sessions_expiry ON manager_sessions (expires_at);
