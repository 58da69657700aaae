-- Users, tokens and roles.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Only a hash of each token is kept: a copied database grants nothing.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,          -- 'user' or 'runtime'
    user_id TEXT NOT NULL,
    notebook_id TEXT,            -- set for runtime tokens: their only notebook
    created_at BIGINT NOT NULL
);

CREATE TABLE notebooks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE grants (
    notebook_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,          -- 'owner', 'editor' or 'viewer'
    PRIMARY KEY (notebook_id, user_id)
);

-- The event log: every accepted Automerge change, in arrival order per document.
CREATE TABLE changes (
    notebook_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    author TEXT NOT NULL,
    event_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (notebook_id, doc, seq)
);
CREATE UNIQUE INDEX changes_by_hash ON changes (notebook_id, doc, hash);

CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

-- Saved documents covering the log up to upto_seq, so loading replays only the tail.
CREATE TABLE snapshots (
    notebook_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    upto_seq BIGINT NOT NULL,
    bytes BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (notebook_id, doc, upto_seq)
);

CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which notebooks a blob belongs to: reading a blob needs a role on one of them.
CREATE TABLE blob_refs (
    notebook_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (notebook_id, sha256)
);
