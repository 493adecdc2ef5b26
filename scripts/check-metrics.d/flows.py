#!/usr/bin/env python3
"""A few flows through every role for scripts/check-metrics: a policy whose
first stage a caller's HTTP resolver answers (served here), a request with a
callback URL (a receiver here), the approver's decision, and a bad call.

    flows.py BASE_URL
"""
import base64
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = sys.argv[1]
received = []


def token(claims):
    b64 = lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none'})}.{b64(claims)}.x"


ADMIN = token({"sub": "metrics-admin", "realm_access": {"roles": ["AWE_ADMIN"]}})
CALLER = token({"sub": "metrics-caller"})
ALICE = token({"sub": "sub-alice", "preferred_username": "alice"})


class Local(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/resolve":
            answer = json.dumps({"user_ids": ["alice"]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        else:
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

    def log_message(self, *args):
        pass


def call(method, path, who, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("authorization", f"Bearer {who}")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Local)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    local = f"http://127.0.0.1:{server.server_port}"
    policy = {"policy_key": "metrics.flow", "name": "metrics", "artifact_type": "metrics.artifact", "stages": [
        {"name": "review", "stage_order": 1, "mode": "any-n", "mode_value": 1,
         "rules": [{"rule_type": "http", "rule_value": {"url": f"{local}/resolve"}}]}]}
    status, body = call("POST", "/policies", ADMIN, policy)
    assert status == 201, (status, body)
    status, body = call("POST", "/policies/metrics.flow/versions/1/activate", ADMIN)
    assert status in (200, 201), (status, body)
    for n in range(3):
        status, body = call("POST", "/requests", CALLER, {
            "policy_key": "metrics.flow", "artifact_type": "metrics.artifact", "artifact_id": f"m-{n}",
            "context": {"n": n}, "callback_url": f"{local}/hook"})
        assert status == 201, (status, body)
        task = next(t for t in body["tasks"] if t["assignee"] == "alice")
        status, body = call("POST", f"/tasks/{task['id']}/decision", ALICE, {"action": "approve"})
        assert status == 201, (status, body)
    status, _ = call("GET", "/requests/not-a-uuid", CALLER)
    assert status == 422, status
    for _ in range(100):
        if len(received) >= 6:
            break
        time.sleep(0.1)
    assert len(received) >= 6, f"the receiver got {len(received)} deliveries"
    print(f"3 flows approved, {len(received)} webhook deliveries received")


if __name__ == "__main__":
    main()
