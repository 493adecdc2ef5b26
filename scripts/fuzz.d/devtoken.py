"""A dev-mode bearer token (the server under test runs in dev auth mode)."""
import base64
import json
import sys


def b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def token(sub: str, admin: bool) -> str:
    claims = {"sub": sub, "preferred_username": sub, "azp": "registry"}
    if admin:
        claims["resource_access"] = {"awe-admin-portal": {"roles": ["AWE_ADMIN"]}}
    return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(claims)}.x'


if __name__ == "__main__":
    print(token(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "admin"))
