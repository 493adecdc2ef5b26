-- Webhook deliveries: one per event for a request with a callback_url, and
-- every attempt made for it.
CREATE TABLE webhook_delivery (
    id               uuid PRIMARY KEY,
    event_id         uuid NOT NULL UNIQUE,
    request_id       uuid NOT NULL,
    event_type       text NOT NULL,
    seq              integer NOT NULL,
    url              text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'exhausted')),
    attempt          integer NOT NULL DEFAULT 0,
    -- False when the request has no callback secret: the delivery went unsigned.
    signed           boolean NOT NULL DEFAULT false,
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_delivery_request ON webhook_delivery (request_id, seq);
CREATE INDEX webhook_delivery_status ON webhook_delivery (status, created_at DESC);

CREATE TABLE webhook_attempt (
    id          uuid PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_delivery (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error       text,
    signed      boolean NOT NULL,
    UNIQUE (delivery_id, attempt)
);
