-- Every token gets an id (to list and revoke it without its secret), who
-- issued it, the role its issuer held when minting a runtime token (the
-- token works only while the issuer still holds it; secret values go only
-- to tokens minted as 'owner' or by the 'server' itself), an optional
-- expiry and a label.
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN issued_by TEXT;
ALTER TABLE tokens ADD COLUMN minted_role TEXT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN label TEXT;
UPDATE tokens SET id = 'tok-' || substr(token_hash, 1, 24), issued_by = user_id;
-- Who minted older runtime tokens is not known: they keep working for as
-- long as their issuer may edit, and read no secret values.
UPDATE tokens SET minted_role = 'editor' WHERE kind = 'runtime';
CREATE UNIQUE INDEX tokens_by_id ON tokens (id);
CREATE INDEX tokens_by_user ON tokens (user_id);
