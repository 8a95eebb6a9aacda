-- "Conectar RD Station" in the admin console: the OAuth2 authorization
-- code flow's pending requests. The state sent to RD Station is 256 random
-- bits; only its SHA-256 is kept, with the tenant and admin who asked, the
-- app's client id and its client secret (sealed like the other CRM
-- secrets), for 10 minutes and one use.
CREATE TABLE crm_connect_states (
    state_hash      TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES tenants (slug),
    admin_id        TEXT NOT NULL REFERENCES users (id),
    client_id       TEXT NOT NULL,
    client_secret   BLOB NOT NULL,
    expires_at      BIGINT NOT NULL
);
