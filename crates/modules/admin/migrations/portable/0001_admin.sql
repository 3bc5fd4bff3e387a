-- Admin: the shop's settings, one row (id 1), written on first read from the configured defaults.
CREATE TABLE settings (
    id                           INTEGER PRIMARY KEY CHECK (id = 1),
    shop_name                    TEXT NOT NULL,
    default_channel              TEXT NOT NULL,   -- a catalog channel code; no foreign key across modules
    default_currency             TEXT NOT NULL,
    maintenance_mode             BOOLEAN NOT NULL,
    maintenance_message          TEXT NOT NULL,
    maintenance_retry_after_secs BIGINT NOT NULL,
    version                      BIGINT NOT NULL, -- +1 per change: optimistic concurrency
    updated_at                   TEXT NOT NULL,
    updated_by                   TEXT
);
