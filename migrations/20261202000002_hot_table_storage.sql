-- Storage settings for the tables every command writes, as a production
-- install tunes its queue tables. The server's defaults vacuum a table once a
-- fifth of it is dead and analyse it once a tenth has changed: far too late
-- for a table that churns, and for one that grows by millions of rows.

-- The outbox: a row is inserted by every event and deleted once it is on the
-- stream, so the live table stays tiny while dead rows pile up behind it.
-- Vacuum it after a fixed number of dead rows, whatever its size, without the
-- cost-based pauses, so that the relay's scans stay on a few pages.
ALTER TABLE event_outbox SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);

-- Rows updated in place by later commands (a request's status, a stage's end,
-- a task's claim and decision, a delivery's attempts): room on each page for
-- the new versions, and dead versions vacuumed at 2 % rather than 20 %.
ALTER TABLE approval_request SET (fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE request_stage SET (fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE approval_task SET (fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE webhook_delivery SET (fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- Append-only tables: analysed as they grow (statements keep generic plans,
-- which an ANALYZE replans for the new size) and vacuumed after inserts, so
-- the visibility map stays current for index-only scans.
ALTER TABLE approval_event SET (
    autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE approval_decision SET (
    autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE processed_command SET (
    autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE idempotency_key SET (
    autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE webhook_attempt SET (
    autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
