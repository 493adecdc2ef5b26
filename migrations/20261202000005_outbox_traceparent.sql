-- One request, one trace: an event waiting in the outbox keeps the W3C
-- traceparent of the work that committed it, so that the relay publishes it
-- in the same trace after a crash. NULL for events committed outside a trace.
ALTER TABLE event_outbox ADD COLUMN traceparent text;
