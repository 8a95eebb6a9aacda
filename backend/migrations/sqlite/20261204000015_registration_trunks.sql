-- A carrier that wants the PBX to register (a registration trunk) rather
-- than knowing it by its address: the tenant's account there, its user
-- name and its password, sealed (XChaCha20-Poly1305 under the backend's
-- secrets key, like the CRM secrets; the directory Asterisk reads holds it
-- in clear, as it does the phones' passwords). Both NULL: an
-- IP-authenticated trunk.
ALTER TABLE tenant_dialing ADD COLUMN trunk_username TEXT;
ALTER TABLE tenant_dialing ADD COLUMN trunk_password BLOB;
