-- Units put back on a shelf by `restock` (a return at a store's till), one row per reference and
-- SKU: the primary key is what makes a retried return put its units back only once, on every
-- backend, even when two retries race. Portable: the same SQL on SQLite and PostgreSQL.
CREATE TABLE restocks (
    reference   TEXT NOT NULL,
    sku         TEXT NOT NULL REFERENCES skus (sku),
    location_id TEXT NOT NULL REFERENCES locations (id),
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (reference, sku)
);
