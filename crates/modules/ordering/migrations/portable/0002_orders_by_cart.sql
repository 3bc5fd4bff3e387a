-- A cart becomes at most one live order: checkout looks its orders up by cart.
CREATE INDEX orders_by_cart ON orders (cart_id, status);
