-- Years of use in one go: :requests requests in review, each with
-- :tasks_per_request open approver tasks spread over :assignees people, two
-- timeline events each, and half as many finished requests with their decided
-- tasks beside them. Every open task is due in a week (nothing due yet).
--
--   psql -v requests=200000 -v tasks_per_request=5 -v assignees=20000 -f seed.sql
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO policy (id, policy_key, version, name, status, artifact_type, created_by)
VALUES ('00000000-0000-5000-8000-000000000001', 'scale.cr', 1, 'Scale: change requests', 'active',
        'registry.change_request', 'seed');
INSERT INTO policy_stage (id, policy_id, stage_order, name, mode, mode_value, sla_hours)
VALUES ('00000000-0000-5000-8000-000000000002', '00000000-0000-5000-8000-000000000001', 1, 'District officers',
        'any-n', 1, 168);
INSERT INTO policy_rule (id, stage_id, position, rule_type, rule_value)
VALUES ('00000000-0000-5000-8000-000000000003', '00000000-0000-5000-8000-000000000002', 0, 'user',
        '{"user_id": "officer-1"}');

-- Requests in review (i ≤ :requests) and finished ones (i > :requests), created over two years.
CREATE TEMP TABLE seeded AS
SELECT i, gen_random_uuid() AS id, now() - (i * interval '5 minutes') AS created_at, i <= :requests AS open
FROM generate_series(1, :requests + :requests / 2) AS i;

INSERT INTO approval_request (id, policy_id, policy_key, policy_version, artifact_type, artifact_id, source_service,
                              requester, context, status, current_stage_order, last_seq, completed_at, created_at, updated_at)
SELECT id, '00000000-0000-5000-8000-000000000001', 'scale.cr', 1, 'registry.change_request', 'cr-' || i, 'registry',
       'clerk-' || (i % 500), jsonb_build_object('district', 'D' || (i % 40), 'amount', i % 10000),
       CASE WHEN open THEN 'in_review' ELSE 'approved' END, 1, CASE WHEN open THEN 2 ELSE 4 END,
       CASE WHEN open THEN NULL ELSE created_at + interval '1 day' END, created_at, created_at
FROM seeded;

INSERT INTO request_stage (request_id, stage_order, stage_id, status, started_at, completed_at)
SELECT id, 1, '00000000-0000-5000-8000-000000000002', CASE WHEN open THEN 'active' ELSE 'approved' END, created_at,
       CASE WHEN open THEN NULL ELSE created_at + interval '1 day' END
FROM seeded;

INSERT INTO approval_task (id, request_id, stage_id, stage_order, assignee, kind, status, completed_at, due_at,
                           search_text, created_at)
SELECT gen_random_uuid(), s.id, '00000000-0000-5000-8000-000000000002', 1,
       'officer-' || ((s.i::bigint * 7919 + t * 104729) % :assignees), 'approver',
       CASE WHEN s.open THEN 'open' ELSE 'skipped' END,
       CASE WHEN s.open THEN NULL ELSE s.created_at + interval '1 day' END,
       CASE WHEN s.open THEN now() + interval '7 days' END,
       'registry.change_request cr-' || s.i, s.created_at
FROM seeded s, generate_series(1, :tasks_per_request) AS t;

INSERT INTO approval_event (id, request_id, seq, event_type, payload, created_at)
SELECT gen_random_uuid(), id, e.seq, e.kind, '{}'::jsonb, created_at
FROM seeded, (VALUES (1, 'request_created'), (2, 'stage_started')) AS e (seq, kind);
COMMIT;
ANALYZE;
SELECT (SELECT count(*) FROM approval_request) AS requests,
       (SELECT count(*) FROM approval_task WHERE status = 'open') AS open_tasks,
       (SELECT count(DISTINCT assignee) FROM approval_task WHERE status = 'open') AS assignees,
       (SELECT count(*) FROM approval_event) AS events,
       pg_size_pretty(pg_database_size(current_database())) AS size;

-- What autovacuum would have done by now on a production server (this
-- machine's runs with it off): statistics and the visibility map, so the plans
-- and index-only scans are the ones production gets.
VACUUM ANALYZE;
