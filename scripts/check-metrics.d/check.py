#!/usr/bin/env python3
"""Checks one role's /metrics for scripts/check-metrics with the Prometheus
project's own parser: the exposition parses, every family is described,
labels never carry ids, and the role's families are there with samples.

    check.py ROLE EXPOSITION HEADERS
"""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

ROLE, PATH, HEADERS = sys.argv[1:4]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# What each role owes after the flows: family -> labels one sample must have.
OWED = {
    "all": {"awe_build_info": {}, "awe_db_connections": {"state": "in_use"}},
    "ingress": {
        "awe_http_requests": {"route": "/v1/awe/requests", "method": "POST", "status": "201"},
        "awe_http_request_duration_seconds": {"route": "/v1/awe/requests/{request_id}"},
    },
    "engine": {
        "awe_commands_applied": {"kind": "request.create", "outcome": "ok"},
        "awe_command_apply_duration_seconds": {"kind": "task.decide"},
        "awe_events_committed": {"event_type": "request_approved"},
        "awe_events_published": {},
        "awe_consumer_pending": {"consumer": "engine"},
        "awe_sla_ticks": {"outcome": "ok"},
        "awe_outbox_waiting": {},
    },
    "webhook": {
        "awe_webhook_attempts": {"outcome": "delivered"},
        "awe_webhook_attempt_duration_seconds": {},
        "awe_consumer_ack_pending": {"consumer": "webhook"},
    },
    "resolver": {
        "awe_resolutions": {"rule_type": "http", "outcome": "resolved"},
        "awe_consumer_redelivered": {"consumer": "resolver"},
    },
    "sla-scheduler": {"awe_sla_ticks_published": {}, "awe_idempotency_keys_retired": {}},
}


def main():
    problems = []
    headers = open(HEADERS).read().lower()
    if "content-type: text/plain; version=0.0.4" not in headers:
        problems.append("the content type is not the text exposition format 0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(open(PATH).read())}
    for family in families.values():
        if not family.documentation:
            problems.append(f"{family.name} has no HELP")
        if not family.name.startswith("awe_"):
            problems.append(f"{family.name} lacks the awe_ prefix")
        for sample in family.samples:
            for name, value in sample.labels.items():
                if UUID.search(value):
                    problems.append(f"{sample.name} carries an id in label {name}: {value}")
    for name, labels in {**OWED["all"], **OWED[ROLE]}.items():
        family = families.get(name)
        if family is None:
            problems.append(f"{name} is missing")
        elif not any(all(s.labels.get(k) == v for k, v in labels.items()) for s in family.samples):
            problems.append(f"{name} has no sample with {labels}")
    if problems:
        print(f"{ROLE}: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{ROLE}: {len(families)} families, {sum(len(f.samples) for f in families.values())} samples, all parsed")


if __name__ == "__main__":
    main()
