-- Orders schema. UUID keys from gen_random_uuid(): no SERIAL/IDENTITY, because nextval() pins
-- RDS Proxy sessions. One order per (customer, idempotency key): a retried create never duplicates.
-- depends:

CREATE SCHEMA IF NOT EXISTS shop;

CREATE TABLE shop.orders (
    order_id        uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id     uuid        NOT NULL,
    idempotency_key text        NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 128),
    request_hash    text        NOT NULL CHECK (char_length(request_hash) = 64),
    status          text        NOT NULL DEFAULT 'PLACED'
                                CHECK (status IN ('PLACED', 'PAID', 'SHIPPED', 'CANCELLED')),
    items           jsonb       NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_customer_idempotency_key UNIQUE (customer_id, idempotency_key)
);

CREATE INDEX orders_customer_created_idx
    ON shop.orders (customer_id, created_at DESC, order_id DESC);
