-- The admin console. An admin (a manager may be one too, so it is a flag
-- beside the role) runs the company's people and settings from the
-- console; every change an admin makes (or an operator makes with the CLI)
-- is a row of audit_log, written in the change's own transaction.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE audit_log (
    -- UUIDv7: ordered by time.
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants (slug),
    -- Who: the admin's user id, or NULL for the CLI (an operator on the
    -- server); `actor` is their name and e-mail as they were then.
    actor_id    TEXT REFERENCES users (id),
    actor       TEXT NOT NULL,
    -- What: a stable code (person.invited, person.disabled, policy.changed...).
    action      TEXT NOT NULL,
    -- On what: a person's e-mail, or the tenant's slug.
    target      TEXT NOT NULL,
    -- The change in words (Portuguese, for the console and its CSV).
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant_created ON audit_log (tenant, created_at, id);

-- The destination policy's other half: fixed lines (with shared-cost
-- 0300/4004 numbers), mobiles and toll-free numbers, allowed by default as
-- they always were, and now something an admin may turn off.
ALTER TABLE tenants ADD COLUMN allow_fixed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tenants ADD COLUMN allow_mobile BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tenants ADD COLUMN allow_toll_free BOOLEAN NOT NULL DEFAULT TRUE;
