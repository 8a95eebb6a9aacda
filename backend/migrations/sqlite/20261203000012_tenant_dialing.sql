-- How a tenant's calls leave the PBX, when its admin set it in the console
-- (a tenant without a row keeps its site's dialplan file): the trunk, the
-- number format, the tenant's caller ID and the lead's ring time. The
-- backend writes these, with the dial rule, into the phone directory
-- Asterisk reads (disca_tenants, the trunk's ps_endpoints/ps_aors rows).
CREATE TABLE tenant_dialing (
    tenant          TEXT PRIMARY KEY REFERENCES tenants (slug),
    trunk_host      TEXT NOT NULL,
    trunk_port      BIGINT NOT NULL,
    number_format   TEXT NOT NULL CHECK (number_format IN ('e164', 'e164-digits', 'national')),
    national_prefix TEXT NOT NULL,
    caller_id       TEXT NOT NULL,
    lead_ring_secs  BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Caller IDs other than the tenant's: per area code (DDD) of the lead, or
-- per salesperson (whose wins).
CREATE TABLE caller_ids (
    tenant      TEXT NOT NULL REFERENCES tenants (slug),
    -- 'area': scope_key is a DDD ("11"); 'user': a user's id.
    scope       TEXT NOT NULL CHECK (scope IN ('area', 'user')),
    scope_key   TEXT NOT NULL,
    number      TEXT NOT NULL,
    PRIMARY KEY (tenant, scope, scope_key)
);
