-- The table of examples/kafka_to_postgres.yaml. The sink creates its table of offsets
-- (sluice_kafka_offsets) itself; PostgreSQL 14 or later.
CREATE TABLE IF NOT EXISTS orders (
    id text PRIMARY KEY,
    customer text NOT NULL,
    quantity integer NOT NULL CHECK (quantity <= 1000),
    unit_price numeric(12, 2) NOT NULL,
    total numeric(14, 2) NOT NULL,
    placed_at timestamptz,
    source text NOT NULL
);
