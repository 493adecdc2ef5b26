-- Callback secrets, one active per caller service. The secret is kept sealed
-- (it must be usable to sign); rotation keeps the previous one valid for an
-- overlap so receivers can switch.
CREATE TABLE callback_secret (
    id             uuid PRIMARY KEY,
    caller_service text NOT NULL CHECK (length(caller_service) BETWEEN 1 AND 255),
    ciphertext     bytea NOT NULL,
    nonce          bytea NOT NULL,
    fingerprint    text NOT NULL,
    status         text NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz,
    -- For a rotated secret: the end of its overlap.
    valid_until    timestamptz,
    revoked_at     timestamptz
);
CREATE UNIQUE INDEX callback_secret_one_active ON callback_secret (caller_service) WHERE status = 'active';
CREATE INDEX callback_secret_caller ON callback_secret (caller_service, created_at DESC);
