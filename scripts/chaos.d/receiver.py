"""A caller's webhook endpoint for the fault and soak runs: verifies each
delivery's signature and appends one line per delivery to a log:

    <event_id> <request_id> <ok|BAD> <received_at_epoch_ms>

    python3 receiver.py PORT SECRET_FILE LOG_FILE

The secret is read from SECRET_FILE (written by the load generator once it has
created the caller's callback secret) when the first delivery arrives.
"""

import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, secret_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
log = open(log_file, "a", buffering=1)
secret = {"value": None}


def current_secret():
    if secret["value"] is None:
        try:
            secret["value"] = open(secret_file).read().strip() or None
        except FileNotFoundError:
            pass
    return secret["value"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-Approval-Timestamp", "")
        offered = self.headers.get("X-Approval-Signature", "")
        key = current_secret()
        ok = False
        if key:
            expected = "sha256=" + hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(offered, expected)
        try:
            event = json.loads(body)
            line = f"{event['event_id']} {event['request_id']} {'ok' if ok else 'BAD'} {int(time.time() * 1000)}\n"
        except (ValueError, KeyError):
            line = f"- - BAD {int(time.time() * 1000)}\n"
        with lock:
            log.write(line)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
