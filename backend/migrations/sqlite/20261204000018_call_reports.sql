-- What salespeople say about their ended calls (storage/reports.rs), the
-- tenant's list of outcomes they choose from, and the CRM writes that
-- follow a call's note: a complement note, when the report came after the
-- note was written, and the follow-up task.

-- The tenant's outcomes, in the order offered; a tenant without rows
-- offers the built-in list (storage::reports::DEFAULT_DISPOSITIONS).
-- Removed ones stay, retired, so their id is never given again.
CREATE TABLE call_dispositions (
    tenant   TEXT NOT NULL REFERENCES tenants (slug),
    id       TEXT NOT NULL,
    label    TEXT NOT NULL,
    position BIGINT NOT NULL,
    retired  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant, id)
);

-- One report per call, replaced when sent again. The label is kept as
-- chosen: renaming or retiring an outcome does not rewrite history.
CREATE TABLE call_reports (
    call_id           TEXT PRIMARY KEY REFERENCES calls (id),
    tenant            TEXT NOT NULL,
    -- The call's salesperson and when it was asked for, so the dashboard
    -- counts a period's outcomes without reading the calls.
    user_id           TEXT NOT NULL,
    call_created_at   BIGINT NOT NULL,
    disposition_id    TEXT,
    disposition_label TEXT,
    note              TEXT NOT NULL,
    follow_up_at      BIGINT,
    submitted_at      BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX call_reports_dashboard ON call_reports (tenant, call_created_at, user_id, disposition_label);

-- The outbox of what follows a call's note, delivered after it, to the
-- same deal: `complement` (a second note with a report that came late)
-- and `task` (the follow-up, an RD Station task of type call). Same
-- columns and states as crm_deliveries. They go once the call's note is
-- delivered (and stop if it has no deal).
CREATE TABLE crm_followups (
    id              TEXT PRIMARY KEY,
    call_id         TEXT NOT NULL REFERENCES calls (id),
    tenant          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('complement', 'task')),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    remote_id       TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    failures        BIGINT NOT NULL DEFAULT 0,
    maybe_sent      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Bumped by every report saved while this follow-up waits: the worker
    -- marks it "maybe sent" only if the count it read is still the same.
    report_rev      BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX crm_followups_due ON crm_followups (next_attempt_at) WHERE state = 'pending';
CREATE INDEX crm_followups_call ON crm_followups (call_id);

-- Bumped by every report saved while the call's note is not yet sent: the
-- delivery worker renders and marks a note "maybe sent" only if the count
-- it read is still the same, so a note never leaves without the report
-- that came in meanwhile.
ALTER TABLE crm_deliveries ADD COLUMN report_rev BIGINT NOT NULL DEFAULT 0;
