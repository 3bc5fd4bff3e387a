-- Inventory: the SKUs announced by the catalog, stock locations, stock per SKU and location,
-- the movements that changed on-hand stock, and reservations held for carts and orders.
-- PostgreSQL: the same schema as migrations/sqlite/0001_inventory.sql (integers are BIGINT in both).

-- SKUs learnt from catalog events. Rows are never deleted: stock and movements refer to them.
CREATE TABLE skus (
    sku                 TEXT PRIMARY KEY,
    product_id          TEXT NOT NULL,
    product_name        TEXT NOT NULL,
    discontinued        BOOLEAN NOT NULL DEFAULT FALSE,
    -- `inventory.stock.low` fires when available stock falls to this or below; NULL: no alert.
    low_stock_threshold BIGINT CHECK (low_stock_threshold IS NULL OR low_stock_threshold >= 0),
    -- Timestamp of the last catalog event applied, so that a late redelivery of an older event
    -- cannot undo a newer one.
    catalog_event_at    TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX skus_by_product ON skus (product_id);

CREATE TABLE locations (
    id         TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('warehouse', 'store')),
    created_at TEXT NOT NULL
);

-- The service checks every change; the CHECKs are the last line of defence against overselling.
CREATE TABLE stock_levels (
    sku         TEXT NOT NULL REFERENCES skus (sku),
    location_id TEXT NOT NULL REFERENCES locations (id),
    on_hand     BIGINT NOT NULL DEFAULT 0,
    reserved    BIGINT NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (sku, location_id),
    CHECK (on_hand >= 0),
    CHECK (reserved >= 0),
    CHECK (reserved <= on_hand)
);

CREATE TABLE movements (
    id          TEXT PRIMARY KEY,
    sku         TEXT NOT NULL REFERENCES skus (sku),
    location_id TEXT NOT NULL REFERENCES locations (id),
    -- Named so that a later migration can replace it.
    kind        TEXT NOT NULL CONSTRAINT movements_kind_check CHECK (kind IN ('received', 'adjusted', 'committed')),
    delta       BIGINT NOT NULL CHECK (delta <> 0),
    reason      TEXT,
    reference   TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX movements_by_time ON movements (created_at, id);
CREATE INDEX movements_by_sku ON movements (sku, created_at);
CREATE INDEX movements_by_location ON movements (location_id, created_at);

CREATE TABLE reservations (
    id         TEXT PRIMARY KEY,
    reference  TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One active reservation per reference: a retried checkout finds it instead of reserving twice,
-- even when two retries race on a backend with concurrent writers.
CREATE UNIQUE INDEX reservations_active_reference ON reservations (reference) WHERE status = 'active';
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'active';

CREATE TABLE reservation_lines (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    position       BIGINT NOT NULL,   -- keeps the lines in the order they were reserved
    sku            TEXT NOT NULL,
    location_id    TEXT NOT NULL REFERENCES locations (id),
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku, location_id)
);
