-- Shipping: zones and the countries they cover, shipping methods with their rates, shipments with
-- their tracking history, and the carrier webhook events already applied.

CREATE TABLE zones (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per country so that a quote finds the zones of a destination with an index.
CREATE TABLE zone_countries (
    zone_id  TEXT NOT NULL REFERENCES zones (id),
    position BIGINT NOT NULL,   -- keeps the countries in the order they were given
    country  TEXT NOT NULL,     -- ISO 3166-1 alpha-2, uppercase
    PRIMARY KEY (zone_id, country)
);
CREATE INDEX zone_countries_by_country ON zone_countries (country);

CREATE TABLE shipping_methods (
    id            TEXT PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    carrier       TEXT NOT NULL,
    zone_id       TEXT NOT NULL REFERENCES zones (id),
    currency      TEXT NOT NULL,
    -- The rate as JSON: {"kind": "flat", "amount": 490} or {"kind": "weight_based", "brackets": [...]}.
    rate          TEXT NOT NULL,
    free_above    BIGINT CHECK (free_above IS NULL OR free_above >= 0),
    delivery_days BIGINT CHECK (delivery_days IS NULL OR delivery_days >= 0),
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL
);
CREATE INDEX shipping_methods_by_zone ON shipping_methods (zone_id);

-- One shipment per order. Method, carrier and destination are the order's snapshot, not a
-- reference: a method changed later does not change a parcel already labelled.
CREATE TABLE shipments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL UNIQUE,
    order_number    TEXT NOT NULL,
    method          TEXT NOT NULL,
    method_name     TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('label_created', 'shipped', 'in_transit', 'delivered')),
    destination     TEXT NOT NULL,   -- the shipping address as JSON
    weight_grams    BIGINT NOT NULL CHECK (weight_grams >= 0),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX shipments_by_time ON shipments (created_at, id);

CREATE TABLE tracking_events (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    position    BIGINT NOT NULL,   -- 0 for the label, then one more per update
    status      TEXT NOT NULL,
    note        TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (shipment_id, position)
);

-- Carrier webhook events already applied: a carrier retrying a delivery has no second effect.
CREATE TABLE carrier_events (
    carrier     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    status      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (carrier, event_id)
);
