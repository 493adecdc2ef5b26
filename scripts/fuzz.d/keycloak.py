"""A Keycloak stand-in for the fuzzing run: the service-account token and the
admin endpoints the console's pickers and the resolver call (users, clients,
client and realm roles, groups, role and group members), with Keycloak's
shapes, so that /v1/awe/admin/keycloak/* answer 200 under fuzzing.

    python3 keycloak.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

USERS = [{"id": "id-alice", "username": "alice", "email": "alice@example.org", "firstName": "Alice",
          "lastName": "Ng", "enabled": True}]
CLIENTS = [{"id": "c-1", "clientId": "registry-staff-portal", "name": "Registry staff portal"}]
ROLES = [{"id": "r-1", "name": "PROGRAM_MANAGER", "description": "Programme managers"}]
GROUPS = [{"id": "g-1", "name": "districts", "path": "/districts", "subGroups": [
    {"id": "g-2", "name": "D1", "path": "/districts/D1", "subGroups": []}]}]
ADMIN = "/admin/realms/staff/"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if urlparse(self.path).path == "/realms/staff/protocol/openid-connect/token":
            self.answer(200, {"access_token": "fuzz-kc", "expires_in": 300, "token_type": "Bearer"})
        else:
            self.answer(404, {"error": "not found"})

    def do_GET(self):
        path = urlparse(self.path).path
        if self.headers.get("authorization") != "Bearer fuzz-kc":
            return self.answer(401, {"error": "HTTP 401 Unauthorized"})
        if not path.startswith(ADMIN):
            return self.answer(404, {"error": "not found"})
        rest = path[len(ADMIN):].split("/")
        if rest == ["users"]:
            return self.answer(200, USERS)
        if rest == ["clients"]:
            return self.answer(200, CLIENTS)
        if rest == ["roles"] or (len(rest) == 3 and rest[0] == "clients" and rest[2] == "roles"):
            return self.answer(200, ROLES)
        if rest == ["groups"]:
            return self.answer(200, GROUPS)
        if rest[-1] in ("users", "groups", "members", "children"):
            return self.answer(200, [])
        self.answer(404, {"error": "Could not find it"})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
