-- Notebook secrets, encrypted at rest (see src/secrets/). Values are sealed
-- with a per-secret data key, and the data key with the master key, which
-- never sits in this database. Unlike the event log these rows are updated
-- and deleted: a rotated or removed secret must really be gone.
CREATE TABLE secrets (
    notebook_id TEXT NOT NULL,
    name TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,   -- nonce || AES-256-GCM(master key, data key)
    sealed_value BYTEA NOT NULL,  -- nonce || AES-256-GCM(data key, value)
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notebook_id, name)
);

-- One row: the passphrase's KDF salt and a sealed known value, so a wrong
-- master key is refused at start instead of failing on first use.
CREATE TABLE secrets_keyring (
    id BIGINT PRIMARY KEY,
    kdf_salt BYTEA NOT NULL,
    key_check BYTEA NOT NULL
);
