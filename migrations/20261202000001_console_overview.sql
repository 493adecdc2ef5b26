-- What the operator console's overview reads (GET /admin/overview), each a
-- small partial index so that the counts stay fast at a million open tasks.

-- Requests finished per hour or day.
CREATE INDEX approval_request_completed ON approval_request (completed_at) WHERE completed_at IS NOT NULL;
-- The oldest open request.
CREATE INDEX approval_request_open ON approval_request (created_at) WHERE status IN ('pending', 'in_review');
-- SLA breaches per hour or day: an expired task is the breach's mark in the timeline.
CREATE INDEX approval_event_breach ON approval_event (created_at) WHERE event_type = 'task_expired';
-- Candidates for a stalled stage: an active stage can stop being completable
-- only after an approver's task expired or someone decided other than approve
-- (a skipped task belongs to a stage that already ended). By creation time,
-- so the overview reads only what is younger than the oldest open request.
CREATE INDEX approval_task_expired ON approval_task (created_at) WHERE kind = 'approver' AND status = 'expired';
CREATE INDEX approval_decision_unapproved ON approval_decision (created_at) WHERE action <> 'approve';
-- Failing deliveries: pending again after at least one attempt.
CREATE INDEX webhook_delivery_failing ON webhook_delivery (created_at) WHERE status = 'pending' AND attempt > 0;
