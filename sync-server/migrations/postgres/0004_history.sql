-- What the history view needs of each change beyond event_type and author
-- (the cells it touched, an AI run's attribution, a restore's target), read
-- once from the change's message and kept here, so paging the history never
-- decodes a change twice. Derived data: filled by the history reader for
-- the rows it reads, never by the log writer; the log itself stays
-- append-only and untouched.
CREATE TABLE change_details (
    notebook_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    seq BIGINT NOT NULL,
    detail TEXT NOT NULL,        -- JSON: {"cells": [...], "by"?, "on_behalf_of"?, "ai_run"?, "restore_to"?}
    PRIMARY KEY (notebook_id, doc, seq)
);

-- The runtime document as it was when a notebook change was made: the last
-- runtime change at or before a time.
CREATE INDEX changes_by_time ON changes (notebook_id, doc, created_at);
