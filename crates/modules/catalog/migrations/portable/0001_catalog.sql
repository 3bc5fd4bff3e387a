-- Catalog schema. Portable SQL: ids are UUID text, timestamps RFC 3339 text (sortable), money is
-- BIGINT minor units with a currency code, maps are JSON text.

CREATE TABLE channels (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    currency TEXT NOT NULL
);

INSERT INTO channels (code, name, currency) VALUES
    ('online', 'Online store', 'EUR'),
    ('store', 'Physical store', 'EUR');

CREATE TABLE categories (
    id         TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES categories (id),
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    position   BIGINT NOT NULL,
    -- 0 for a root; bounded so that walking the tree stays shallow.
    depth      BIGINT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    seller_id   TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    attributes  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Lists are newest first, for staff (all) and for the storefront (published only).
CREATE INDEX products_newest ON products (created_at, id);
CREATE INDEX products_status_newest ON products (status, created_at, id);
CREATE INDEX products_seller ON products (seller_id, created_at);

CREATE TABLE variants (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    sku          TEXT NOT NULL UNIQUE,
    options      TEXT NOT NULL,
    weight_grams BIGINT CHECK (weight_grams >= 0),
    position     BIGINT NOT NULL
);

CREATE INDEX variants_product ON variants (product_id, position);

CREATE TABLE variant_prices (
    variant_id TEXT NOT NULL REFERENCES variants (id),
    channel    TEXT NOT NULL REFERENCES channels (code),
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    currency   TEXT NOT NULL,
    PRIMARY KEY (variant_id, channel)
);

CREATE INDEX variant_prices_channel ON variant_prices (channel, variant_id);

CREATE TABLE product_categories (
    product_id  TEXT NOT NULL REFERENCES products (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    position    BIGINT NOT NULL,
    PRIMARY KEY (product_id, category_id)
);

CREATE INDEX product_categories_category ON product_categories (category_id, product_id);

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX collections_newest ON collections (created_at, id);

CREATE TABLE collection_products (
    collection_id TEXT NOT NULL REFERENCES collections (id),
    product_id    TEXT NOT NULL REFERENCES products (id),
    position      BIGINT NOT NULL,
    PRIMARY KEY (collection_id, product_id)
);

CREATE INDEX collection_products_product ON collection_products (product_id);
