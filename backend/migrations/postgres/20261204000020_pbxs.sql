-- Several Asterisk servers: each tenant's calls go through one of them
-- (`default` is the one configured under [ami]), and each call remembers
-- the one it was placed on, so moving a tenant never loses a live call.
ALTER TABLE tenants ADD COLUMN pbx TEXT NOT NULL DEFAULT 'default';
ALTER TABLE calls ADD COLUMN pbx TEXT NOT NULL DEFAULT 'default';
