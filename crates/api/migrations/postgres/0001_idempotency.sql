-- Responses to creating requests, kept under the client's Idempotency-Key so that a retried
-- request gets the first answer instead of doing the work twice.
CREATE TABLE idempotency_keys (
    scope_key    TEXT PRIMARY KEY,  -- caller + method + path + key
    request_hash TEXT NOT NULL,     -- sha256 of the body, to refuse a key reused for another request
    completed    BOOLEAN NOT NULL,
    status       BIGINT,
    content_type TEXT,
    body         TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
