-- Search: what the index is built from. The tantivy index itself lives in memory and is rebuilt
-- from these tables when the process starts; they are the module's durable read model.

-- One row per product ever seen: the document to index, or a tombstone (unpublished or deleted).
-- `seq` orders the changes: the index applies every row whose seq is above the last it applied.
CREATE TABLE search_documents (
    product_id TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    searchable INTEGER NOT NULL,   -- 0: removed from the index (draft, unpublished or deleted)
    document   TEXT NOT NULL,      -- JSON: the product as search needs it
    updated_at TEXT NOT NULL
);
CREATE INDEX search_documents_by_seq ON search_documents (seq);

-- What is available to sell of each SKU, as inventory last said, and when it said so: a stock
-- event older than what is stored changes nothing (events may come out of order).
CREATE TABLE search_skus (
    sku        TEXT PRIMARY KEY,
    product_id TEXT,
    available  BIGINT NOT NULL,
    previous   BIGINT NOT NULL,     -- before the last change, to tell when it came into or out of stock
    as_of      TEXT NOT NULL
);
CREATE INDEX search_skus_by_product ON search_skus (product_id);

-- The category tree and the sellers' names, to build facet paths and labels.
CREATE TABLE search_categories (
    id        TEXT PRIMARY KEY,
    parent_id TEXT,
    slug      TEXT NOT NULL,
    name      TEXT NOT NULL,
    position  BIGINT NOT NULL
);

CREATE TABLE search_sellers (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- The last seq handed out. Taking the next one locks this row until the change commits, so
-- changes commit in seq order and the index never skips one still being written.
CREATE TABLE search_sequence (
    id  INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO search_sequence (id, seq) VALUES (1, 0);
