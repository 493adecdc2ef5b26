-- A cancelled request ends its unfinished stages as `cancelled`.
ALTER TABLE request_stage DROP CONSTRAINT request_stage_status_check;
ALTER TABLE request_stage ADD CONSTRAINT request_stage_status_check
    CHECK (status IN ('waiting', 'resolving', 'active', 'approved', 'rejected', 'skipped', 'cancelled'));

-- Approver tasks an SLA escalation added: they stand in for the stage's expired tasks.
ALTER TABLE approval_task ADD COLUMN escalated boolean NOT NULL DEFAULT false;
