-- The shop's name as admin last announced it (admin.settings.updated); until then, the configured one.
CREATE TABLE shop (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,  -- the settings version it came with: an older event never wins
    updated_at TEXT NOT NULL
);
