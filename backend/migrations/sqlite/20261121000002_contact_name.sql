-- The contact's name as the CRM page showed it at the click.
ALTER TABLE calls ADD COLUMN contact_name TEXT;
