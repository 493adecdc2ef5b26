-- One full flow's PostgreSQL work, as the engine does it: the create command's
-- transaction, then the decision's. pgbench's tps of this script is the
-- database's ceiling in flows per second on this machine.
\set n random(1, 4000000000000)
BEGIN;
INSERT INTO approval_request (id, policy_id, policy_key, policy_version, artifact_type, artifact_id, source_service, requester, context, status, current_stage_order, last_seq)
  VALUES (md5(:n || 'r')::uuid, (SELECT id FROM policy LIMIT 1), 'bench', 1, 'bench.artifact', 'a-' || :n, 'bench', 'bench', '{"amount": 1}', 'in_review', 1, 2);
INSERT INTO request_stage (request_id, stage_order, stage_id, status, started_at)
  VALUES (md5(:n || 'r')::uuid, 1, md5('stage')::uuid, 'active', now());
INSERT INTO approval_task (id, request_id, stage_id, stage_order, assignee, kind, status, search_text)
  VALUES (md5(:n || 't1')::uuid, md5(:n || 'r')::uuid, md5('stage')::uuid, 1, 'alice', 'approver', 'open', 'bench'),
         (md5(:n || 't2')::uuid, md5(:n || 'r')::uuid, md5('stage')::uuid, 1, 'bob', 'approver', 'open', 'bench');
WITH e AS (INSERT INTO approval_event (id, request_id, seq, event_type, payload)
  VALUES (md5(:n || 'e1')::uuid, md5(:n || 'r')::uuid, 1, 'request_created', '{"status": "pending"}'),
         (md5(:n || 'e2')::uuid, md5(:n || 'r')::uuid, 2, 'stage_started', '{"status": "pending"}') RETURNING id, created_at)
  INSERT INTO event_outbox SELECT id, created_at FROM e;
INSERT INTO processed_command (id, command_type, status_code, outcome) VALUES (md5(:n || 'c1')::uuid, 'request.create', 201, '{"result": "ok"}');
COMMIT;
BEGIN;
SELECT * FROM approval_request WHERE id = (SELECT request_id FROM approval_task WHERE id = md5(:n || 't1')::uuid) FOR UPDATE;
SELECT * FROM request_stage WHERE request_id = md5(:n || 'r')::uuid;
SELECT t.*, d.action FROM approval_task t LEFT JOIN approval_decision d ON d.id = t.decision_id WHERE t.request_id = md5(:n || 'r')::uuid;
INSERT INTO approval_decision (id, request_id, task_id, stage_order, actor, action)
  VALUES (md5(:n || 'd')::uuid, md5(:n || 'r')::uuid, md5(:n || 't1')::uuid, 1, 'alice', 'approve');
UPDATE approval_task SET status = CASE WHEN id = md5(:n || 't1')::uuid THEN 'completed' ELSE 'skipped' END, completed_at = now()
  WHERE id IN (md5(:n || 't1')::uuid, md5(:n || 't2')::uuid);
UPDATE approval_request SET status = 'approved', completed_at = now(), updated_at = now(), last_seq = 4 WHERE id = md5(:n || 'r')::uuid;
UPDATE request_stage SET status = 'approved', completed_at = now() WHERE request_id = md5(:n || 'r')::uuid AND stage_order = 1;
WITH e AS (INSERT INTO approval_event (id, request_id, seq, event_type, payload)
  VALUES (md5(:n || 'e3')::uuid, md5(:n || 'r')::uuid, 3, 'stage_completed', '{"status": "in_review"}'),
         (md5(:n || 'e4')::uuid, md5(:n || 'r')::uuid, 4, 'request_approved', '{"status": "approved"}') RETURNING id, created_at)
  INSERT INTO event_outbox SELECT id, created_at FROM e;
INSERT INTO processed_command (id, command_type, status_code, outcome) VALUES (md5(:n || 'c2')::uuid, 'task.decide', 201, '{"result": "ok"}');
COMMIT;
-- Publication marks (the engine batches these across many flows).
DELETE FROM event_outbox WHERE event_id IN (md5(:n || 'e1')::uuid, md5(:n || 'e2')::uuid, md5(:n || 'e3')::uuid, md5(:n || 'e4')::uuid);
