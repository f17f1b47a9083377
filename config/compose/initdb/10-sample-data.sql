-- A little data to back up: run once by the postgres image when its data
-- volume is empty (docker compose down -v starts over).

CREATE TABLE customers (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name    text NOT NULL,
    email   text NOT NULL UNIQUE
);
CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    placed_at   timestamptz NOT NULL,
    total_cents integer NOT NULL CHECK (total_cents >= 0)
);
INSERT INTO customers (name, email)
SELECT 'customer ' || i, 'customer' || i || '@example.org'
FROM generate_series(1, 200) AS i;
INSERT INTO orders (customer_id, placed_at, total_cents)
SELECT 1 + (i % 200), timestamptz '2026-01-01' + i * interval '37 minutes', (i * 7919) % 50000
FROM generate_series(1, 5000) AS i;

-- A second database, for the TOML variant that backs up several.
CREATE DATABASE crm;
\connect crm
CREATE TABLE contacts (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name  text NOT NULL,
    note  text
);
INSERT INTO contacts (name, note)
SELECT 'contact ' || i, 'met at event ' || (i % 12)
FROM generate_series(1, 300) AS i;
