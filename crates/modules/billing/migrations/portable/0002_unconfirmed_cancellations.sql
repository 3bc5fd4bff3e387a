-- Orders cancelled before their checkout completed (order.order.cancelled with
-- before_confirmation): never invoiced, so a refund of their payment needs no credit note.
CREATE TABLE unconfirmed_cancellations (
    order_id     TEXT PRIMARY KEY,
    cancelled_at TEXT NOT NULL
);
