-- Audit: who did what, when, under which correlation id. One append-only table: rows are
-- inserted by `record` and by the consumer of identity's events, and removed only by the
-- retention helper (`AuditModule::prune_older_than`), oldest first. No other module's tables are
-- referenced.

CREATE TABLE audit_entries (
    id             TEXT PRIMARY KEY,      -- UUID v7, so ordered by recording
    recorded_at    TEXT NOT NULL,         -- when it was written (this module's clock), RFC 3339 UTC
    occurred_at    TEXT NOT NULL,         -- when it happened (the recorder's clock), RFC 3339 UTC
    category       TEXT NOT NULL CHECK (category IN ('action', 'security')),
    action         TEXT NOT NULL,         -- `auth.login.failed`, `POST /admin/products/{id}/publish`
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    actor_type     TEXT NOT NULL CHECK (actor_type IN ('user', 'app', 'system')),
    actor_id       TEXT,                  -- NULL for an anonymous caller
    actor_label    TEXT,                  -- an e-mail address, an API key's name
    target         TEXT,                  -- a path, or a resource (`apikey:6f1c…`)
    status         BIGINT,                -- the HTTP status answered, for what came through a front-end
    correlation_id TEXT NOT NULL,
    ip             TEXT,
    source         TEXT NOT NULL,         -- `api`, `backoffice`, `audit` (from events)
    detail         TEXT NOT NULL          -- a JSON object, at most 8 KiB
);

-- Every list is newest first: the whole log, and each of the filters admins use most, walk one
-- of these in order and stop after the page. The other filters (outcome, action prefix, words)
-- narrow what these find.
CREATE INDEX audit_entries_by_time ON audit_entries (occurred_at, id);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor_id, occurred_at, id);
CREATE INDEX audit_entries_by_correlation ON audit_entries (correlation_id, occurred_at, id);
CREATE INDEX audit_entries_by_category ON audit_entries (category, occurred_at, id);
