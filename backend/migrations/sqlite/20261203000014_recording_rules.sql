-- Recordings under each tenant's rules, set by its admin (LGPD): whether
-- calls are recorded, the announcement played to the lead before the
-- bridge (a prompt in the backend's prompts folder, by name), and how many
-- days recordings are kept. A tenant without a row records every answered
-- call, with no announcement, and keeps the recordings.
CREATE TABLE tenant_recording (
    tenant          TEXT PRIMARY KEY REFERENCES tenants (slug),
    enabled         BOOLEAN NOT NULL,
    announcement    TEXT,
    retention_days  BIGINT,
    updated_at      BIGINT NOT NULL
);

-- When a recording was deleted for being past its tenant's retention:
-- its links then answer "gravação expirada".
ALTER TABLE calls ADD COLUMN recording_expired_at BIGINT;
