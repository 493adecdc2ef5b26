-- Idempotency keys may retire (idempotency.retention_hours): the SLA
-- scheduler removes the oldest in small batches, found through this index.
CREATE INDEX idempotency_key_created ON idempotency_key (created_at);
