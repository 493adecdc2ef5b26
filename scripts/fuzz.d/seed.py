"""Seeds the server under test with a policy, a request, its tasks, a callback
secret and a delegation, and writes a schemathesis config that feeds their ids
to the path parameters, so the fuzzer reaches past 404s into real state."""
import json
import sys
import urllib.request

from devtoken import token

base, out = sys.argv[1], sys.argv[2]
admin = token("ops-admin", admin=True)


def call(method: str, path: str, body=None, bearer: str = admin):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {bearer}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


policy = {
    "policy_key": "fuzz.policy",
    "name": "Fuzz",
    "artifact_type": "registry.change_request",
    "stages": [
        {"stage_order": 1, "name": "Review", "mode": "any-n", "mode_value": 1, "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "alice"}},
            {"rule_type": "user", "rule_value": {"user_id": "bob"}}]},
        {"stage_order": 2, "name": "Approve", "mode": "all", "rules": [
            {"rule_type": "user", "rule_value": {"user_id": "director-x"}}]},
    ],
}
call("POST", "/policies", policy)
call("POST", "/policies/fuzz.policy/versions/1/activate", {})
secret = call("POST", "/admin/callback-secrets", {"caller_service": "registry"})["id"]
created = call("POST", "/requests", {
    "policy_key": "fuzz.policy",
    "artifact_type": "registry.change_request",
    "artifact_id": "cr-fuzz",
    "context": {"district": "D1"},
}, bearer=token("registry", admin=False))
request_id = created["request_id"]
tasks = call("GET", f"/tasks?request_id={request_id}", bearer=token("alice", admin=False))["items"]
delegation = call("POST", "/delegations", {
    "user_id": "alice", "delegate_to": "bob",
    "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2036-01-01T00:00:00Z", "reason": "fuzz",
})["id"]
values = {
    "policy_key": "fuzz.policy",
    "version": 1,
    "request_id": request_id,
    "task_id": tasks[0]["id"],
    "secret_id": secret,
    "delegation_id": delegation,
}
with open(out, "w") as f:
    f.write("[parameters]\n")
    for name, value in values.items():
        f.write(f"\"path.{name}\" = {json.dumps(value)}\n")
print(f"seeded: {values}")
