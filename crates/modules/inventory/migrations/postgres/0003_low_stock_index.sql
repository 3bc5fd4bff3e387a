-- The low-stock list reads only the SKUs that have a threshold (a few among many).
CREATE INDEX skus_with_threshold ON skus (sku) WHERE low_stock_threshold IS NOT NULL AND discontinued = FALSE;
