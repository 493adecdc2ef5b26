"""An example caller's webhook handler: verifies AWE's signature and prints each event.

    AWE_CALLBACK_SECRET=<the secret shown when it was created> python3 receiver.py

Listens on 0.0.0.0:9000. Verification follows the spec: HMAC-SHA256 over
`X-Approval-Timestamp + "." + raw body`, sent as `sha256=<hex>`; during a
rotation the previous secret's signature comes in X-Approval-Signature-Previous.
Deliveries older than five minutes are refused; events are deduplicated on
X-Approval-Event-Id, since AWE delivers at least once.
"""

import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRETS = [s for s in os.environ.get("AWE_CALLBACK_SECRET", "").split(",") if s]
SEEN = set()


def signed_by(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-Approval-Timestamp", "0")
        offered = [h for h in (self.headers.get("X-Approval-Signature"), self.headers.get("X-Approval-Signature-Previous")) if h]
        if SECRETS:
            expected = [signed_by(s, timestamp, body) for s in SECRETS]
            if not any(hmac.compare_digest(o, e) for o in offered for e in expected):
                return self.answer(401, "bad signature")
            if abs(time.time() - int(timestamp)) > 300:
                return self.answer(401, "stale delivery")
        event = json.loads(body)
        duplicate = event["event_id"] in SEEN
        SEEN.add(event["event_id"])
        print(
            f"{'(again) ' if duplicate else ''}{event['event_type']:<24} request {event['request_id']} "
            f"#{event.get('seq')} {event['artifact_type']}/{event['artifact_id']} status={event['status']} "
            f"actor={event.get('actor')} signed={bool(offered)}",
            flush=True,
        )
        self.answer(204, "")

    def answer(self, code: int, text: str) -> None:
        self.send_response(code)
        self.end_headers()
        if text:
            self.wfile.write(text.encode())

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    print(f"example caller listening on :9000 ({'verifying signatures' if SECRETS else 'no secret: accepting unsigned'})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 9000), Handler).serve_forever()
