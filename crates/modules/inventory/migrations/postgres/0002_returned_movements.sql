-- Refunds and returns put units back on the shelf: a movement kind of its own. PostgreSQL changes
-- the CHECK in place (SQLite rebuilds the table).
ALTER TABLE movements
    DROP CONSTRAINT movements_kind_check,
    ADD CONSTRAINT movements_kind_check CHECK (kind IN ('received', 'adjusted', 'committed', 'returned'));
