-- Drops the orders schema (only for `yoyo rollback` by hand; the deploy never rolls back).
DROP TABLE IF EXISTS shop.orders;
DROP SCHEMA IF EXISTS shop;
