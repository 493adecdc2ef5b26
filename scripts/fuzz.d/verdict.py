"""Reads the schemathesis reports of one or more passes and prints the figures:
cases, failures by check, and any response that leaks SQL or a stack trace.
Exits non-zero on a failure of a check we hold the API to, or on a leak.
Errors inside schemathesis itself (its own tracebacks) are counted apart."""
import glob
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter

report_dir = sys.argv[1]
LEAK = re.compile(
    r"SQLSTATE|sqlx|syntax error at|violates (foreign key|unique|check|not-null) constraint|duplicate key value"
    r"|relation \"|panicked at|stack backtrace|RUST_BACKTRACE|thread '|src/[a-z_/]+\.rs:\d+",
    re.I,
)

cases = 0
statuses = Counter()
leaks = []
for har in glob.glob(f"{report_dir}/har-*.json"):
    for entry in json.load(open(har))["log"]["entries"]:
        cases += 1
        response = entry["response"]
        statuses[response["status"] // 100 * 100] += 1
        text = response.get("content", {}).get("text") or ""
        if LEAK.search(text):
            leaks.append((entry["request"]["method"], entry["request"]["url"], response["status"], text[:300]))

failures = Counter()
tool_errors = 0
for junit in glob.glob(f"{report_dir}/junit-*.xml"):
    for case in ET.parse(junit).iter("testcase"):
        for failure in case.iter("failure"):
            text = (failure.get("message") or "") + (failure.text or "")
            for code in re.findall(r"- (ST\d+ [^\n]+)", text) or ["unclassified failure"]:
                failures[(case.get("name"), code.strip())] += 1
        for error in case.iter("error"):
            tool_errors += 1

print(f"cases sent: {cases}")
print("responses: " + ", ".join(f"{k // 100}xx {v}" for k, v in sorted(statuses.items())))
print(f"check failures: {sum(failures.values())}")
for (operation, code), n in sorted(failures.items()):
    print(f"  {operation}: {code} ×{n}")
print(f"responses leaking SQL or a stack: {len(leaks)}")
for leak in leaks[:20]:
    print(f"  {leak}")
print(f"schemathesis internal errors (not findings): {tool_errors}")
sys.exit(1 if failures or leaks or statuses.get(500) or cases == 0 else 0)
