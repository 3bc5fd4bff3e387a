-- Refunds and returns put units back on the shelf: a movement kind of its own. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt (PostgreSQL would ALTER it).
CREATE TABLE movements_v2 (
    id          TEXT PRIMARY KEY,
    sku         TEXT NOT NULL REFERENCES skus (sku),
    location_id TEXT NOT NULL REFERENCES locations (id),
    kind        TEXT NOT NULL CHECK (kind IN ('received', 'adjusted', 'committed', 'returned')),
    delta       BIGINT NOT NULL CHECK (delta <> 0),
    reason      TEXT,
    reference   TEXT,
    created_at  TEXT NOT NULL
);
INSERT INTO movements_v2 (id, sku, location_id, kind, delta, reason, reference, created_at)
    SELECT id, sku, location_id, kind, delta, reason, reference, created_at FROM movements;
DROP TABLE movements;
ALTER TABLE movements_v2 RENAME TO movements;
CREATE INDEX movements_by_time ON movements (created_at, id);
CREATE INDEX movements_by_sku ON movements (sku, created_at);
CREATE INDEX movements_by_location ON movements (location_id, created_at);
