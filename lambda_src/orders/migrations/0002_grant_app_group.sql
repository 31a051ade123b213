-- What the functions may do with orders, granted to the app's NOLOGIN group role
-- (orders.contract.APP_GROUP_ROLE; the migration creates it before this runs and makes the app
-- user a member). Read and insert only: no UPDATE, DELETE or TRUNCATE. A later table's grants go
-- in the migration file that creates it.
-- depends: 0001_create_orders

GRANT USAGE ON SCHEMA shop TO orders_app_group;
GRANT SELECT, INSERT ON shop.orders TO orders_app_group;
