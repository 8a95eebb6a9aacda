-- Event ids (the SSE `id:`) count per tenant, so a tenant's stream does not
-- show how busy the other tenants are (the global `seq` did). `seq` stays
-- the log's internal order; `tenant_seq` is the id a tenant's clients see.
--
-- Ids handed out before this migration were global `seq` values, and
-- clients connected during the upgrade resume with one. Every per-tenant id
-- is therefore above `legacy_max` (the last global id ever handed out), so
-- an id at or below it is read as an old global one (see
-- Store::resume_point) and nothing is lost or repeated across the upgrade.
-- A new database has legacy_max = 0: ids are 1, 2, 3... per tenant.
CREATE TABLE call_event_ids (
    id          INTEGER PRIMARY KEY,
    legacy_max  BIGINT NOT NULL
);
INSERT INTO call_event_ids (id, legacy_max)
    SELECT 1, COALESCE(MAX(seq), 0) FROM call_events;

ALTER TABLE call_events ADD COLUMN tenant_seq BIGINT NOT NULL DEFAULT 0;
UPDATE call_events
   SET tenant_seq = (SELECT legacy_max FROM call_event_ids WHERE id = 1) + numbered.n
  FROM (SELECT seq, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY seq) AS n
          FROM call_events) AS numbered
 WHERE call_events.seq = numbered.seq;
CREATE UNIQUE INDEX call_events_tenant_ids ON call_events (tenant, tenant_seq);
