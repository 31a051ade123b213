-- Takes the group role's privileges away (only for `yoyo rollback` by hand).
REVOKE SELECT, INSERT ON shop.orders FROM orders_app_group;
REVOKE USAGE ON SCHEMA shop FROM orders_app_group;
