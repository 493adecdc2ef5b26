-- Out-of-office delegations: for [starts_at, ends_at), new tasks for user_id
-- go to delegate_to. Revoked windows stay for the record.
CREATE TABLE user_delegation (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    delegate_to text NOT NULL CHECK (length(delegate_to) BETWEEN 1 AND 255),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text CHECK (length(reason) <= 1024),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (user_id <> delegate_to)
);
-- Task creation asks: whose window covers now?
CREATE INDEX user_delegation_active ON user_delegation (user_id, starts_at) WHERE revoked_at IS NULL;
