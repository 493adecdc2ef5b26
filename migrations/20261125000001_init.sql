-- AWE schema, version 1.
-- Workflow state is written only by engine workers; the ingress reads.

-- Rows that must never change once written (decisions, audit, events except
-- their publication mark) are guarded by triggers, not only by code.
CREATE FUNCTION awe_forbid_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

-- ---------------------------------------------------------------- policies
CREATE TABLE policy (
    id                      uuid PRIMARY KEY,
    policy_key              text NOT NULL CHECK (length(policy_key) BETWEEN 1 AND 128),
    version                 integer NOT NULL CHECK (version >= 1),
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description             text CHECK (length(description) <= 1024),
    status                  text NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
    artifact_type           text NOT NULL CHECK (length(artifact_type) BETWEEN 1 AND 128),
    forbid_self_approval    boolean NOT NULL DEFAULT false,
    forbid_repeat_approvers boolean NOT NULL DEFAULT false,
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (policy_key, version)
);
-- At most one active version per key, enforced by the database.
CREATE UNIQUE INDEX policy_one_active_per_key ON policy (policy_key) WHERE status = 'active';

CREATE TABLE policy_stage (
    id               uuid PRIMARY KEY,
    policy_id        uuid NOT NULL REFERENCES policy (id) ON DELETE CASCADE,
    stage_order      integer NOT NULL CHECK (stage_order >= 1),
    name             text NOT NULL,
    mode             text NOT NULL CHECK (mode IN ('all', 'any-n', 'quorum', 'percentage')),
    mode_value       integer CHECK (mode_value >= 1),
    sla_hours        double precision CHECK (sla_hours > 0),
    skip_if          jsonb,
    on_empty         text NOT NULL DEFAULT 'block' CHECK (on_empty IN ('skip', 'block')),
    parallel_group   integer,
    on_breach        text CHECK (on_breach IN ('notify', 'auto_approve', 'auto_reject', 'escalate')),
    escalation_rules jsonb NOT NULL DEFAULT '[]',
    UNIQUE (policy_id, stage_order)
);

CREATE TABLE policy_rule (
    id         uuid PRIMARY KEY,
    stage_id   uuid NOT NULL REFERENCES policy_stage (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    rule_type  text NOT NULL CHECK (rule_type IN ('user', 'role', 'group', 'expression', 'http')),
    rule_value jsonb NOT NULL,
    kind       text NOT NULL DEFAULT 'approver' CHECK (kind IN ('approver', 'observer')),
    required   boolean NOT NULL DEFAULT false,
    UNIQUE (stage_id, position)
);

-- ---------------------------------------------------------------- requests
CREATE TABLE approval_request (
    id                  uuid PRIMARY KEY,
    policy_id           uuid NOT NULL REFERENCES policy (id),
    policy_key          text NOT NULL,
    policy_version      integer NOT NULL,
    artifact_type       text NOT NULL,
    artifact_id         text NOT NULL,
    source_service      text NOT NULL,
    requester           text NOT NULL,
    context             jsonb NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'in_review', 'approved', 'rejected', 'cancelled', 'expired')),
    current_stage_order integer NOT NULL DEFAULT 1,
    -- Sequence number of the request's newest event (events count from 1).
    last_seq            integer NOT NULL DEFAULT 0,
    callback_url        text,
    callback_secret_id  uuid,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approval_request_artifact ON approval_request (artifact_type, artifact_id, created_at DESC);
CREATE INDEX approval_request_status ON approval_request (status, created_at DESC);
CREATE INDEX approval_request_created ON approval_request (created_at DESC);

-- Per-request state of each policy stage.
CREATE TABLE request_stage (
    request_id   uuid NOT NULL REFERENCES approval_request (id) ON DELETE CASCADE,
    stage_order  integer NOT NULL,
    stage_id     uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('waiting', 'resolving', 'active', 'approved', 'rejected', 'skipped')),
    reason       text,
    started_at   timestamptz,
    completed_at timestamptz,
    PRIMARY KEY (request_id, stage_order)
);

CREATE TABLE approval_task (
    id              uuid PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES approval_request (id) ON DELETE CASCADE,
    stage_id        uuid NOT NULL,
    stage_order     integer NOT NULL,
    assignee        text NOT NULL,
    assignee_name   text,
    kind            text NOT NULL CHECK (kind IN ('approver', 'observer')),
    required        boolean NOT NULL DEFAULT false,
    delegated_from  text,
    reassigned_from text,
    status          text NOT NULL CHECK (status IN ('open', 'claimed', 'completed', 'skipped', 'expired', 'reassigned')),
    claimed_at      timestamptz,
    completed_at    timestamptz,
    due_at          timestamptz,
    decision_id     uuid,
    search_text     text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- The inbox: my tasks in a status, newest first.
CREATE INDEX approval_task_inbox ON approval_task (assignee, status, created_at DESC);
CREATE INDEX approval_task_request ON approval_task (request_id, stage_order);
-- The SLA scan: open approver tasks by due time, nothing else in the index.
CREATE INDEX approval_task_due ON approval_task (due_at) WHERE status IN ('open', 'claimed') AND due_at IS NOT NULL;

CREATE TABLE approval_decision (
    id              uuid PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES approval_request (id) ON DELETE CASCADE,
    task_id         uuid NOT NULL REFERENCES approval_task (id),
    stage_order     integer NOT NULL,
    actor           text NOT NULL,
    actor_name      text,
    action          text NOT NULL CHECK (action IN ('approve', 'reject', 'abstain')),
    comment         text,
    attachments_ref text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approval_decision_request ON approval_decision (request_id, stage_order);
CREATE UNIQUE INDEX approval_decision_one_per_task ON approval_decision (task_id);
CREATE TRIGGER approval_decision_append_only BEFORE UPDATE OR DELETE ON approval_decision
    FOR EACH ROW EXECUTE FUNCTION awe_forbid_mutation();

-- The timeline: append-only, one row per event, numbered per request.
CREATE TABLE approval_event (
    id         uuid PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES approval_request (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    event_type text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, seq)
);
CREATE TRIGGER approval_event_append_only BEFORE UPDATE OR DELETE ON approval_event
    FOR EACH ROW EXECUTE FUNCTION awe_forbid_mutation();

-- The transactional outbox: a row per event not yet published, written in the
-- transaction that commits the event and deleted once JetStream has it. Kept
-- apart from the timeline so that marking an event published never rewrites it.
CREATE TABLE event_outbox (
    event_id   uuid PRIMARY KEY,
    created_at timestamptz NOT NULL
);
CREATE INDEX event_outbox_created ON event_outbox (created_at);

-- ---------------------------------------------------------------- exactly once
-- Idempotency-Key rows, scoped to the calling client.
CREATE TABLE idempotency_key (
    client      text NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    body_hash   text NOT NULL,
    request_id  uuid NOT NULL,
    status_code integer NOT NULL,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client, key)
);

-- Every command the engine has applied (or refused), with its outcome, so a
-- redelivered or replayed command changes nothing and answers the same.
CREATE TABLE processed_command (
    id           uuid PRIMARY KEY,
    command_type text NOT NULL,
    status_code  integer NOT NULL,
    outcome      jsonb NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- audit
CREATE TABLE audit_action (
    id            uuid PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    actor_email   text,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    summary       text,
    before        jsonb,
    after         jsonb,
    metadata      jsonb
);
CREATE INDEX audit_action_occurred ON audit_action (occurred_at DESC);
CREATE INDEX audit_action_resource ON audit_action (resource_type, resource_id, occurred_at DESC);
CREATE INDEX audit_action_actor ON audit_action (actor, occurred_at DESC);
CREATE TRIGGER audit_action_append_only BEFORE UPDATE OR DELETE ON audit_action
    FOR EACH ROW EXECUTE FUNCTION awe_forbid_mutation();
