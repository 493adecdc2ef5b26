#!/usr/bin/env python3
"""CPU seconds per process group, from /proc, for scripts/bench.

    cpu.py snapshot NAME=PID [NAME=PID ...] > before.json
    cpu.py per-flow before.json after.json FLOWS

A group is the process and every descendant alive at the snapshot, plus the
CPU of the descendants it has already reaped (cutime, cstime): a PostgreSQL
postmaster stands for every backend it ever ran. `per-flow` prints the CPU
milliseconds each group spent per flow between the two snapshots, and the JSON.
"""
import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    # The command name is in parentheses and may hold spaces.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime, cutime + cstime


def tree_seconds(root):
    children = {}
    own = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, ticks, reaped = stat(int(entry))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        own[int(entry)] = (ticks, reaped)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid not in own:
            continue
        ticks, reaped = own[pid]
        total += ticks + (reaped if pid == root else 0)
        stack.extend(children.get(pid, []))
    return total / TICK


def main():
    if sys.argv[1] == "snapshot":
        groups = dict(arg.split("=", 1) for arg in sys.argv[2:])
        print(json.dumps({name: tree_seconds(int(pid)) for name, pid in groups.items()}))
    elif sys.argv[1] == "per-flow":
        before, after = (json.load(open(p)) for p in sys.argv[2:4])
        flows = max(int(sys.argv[4]), 1)
        per = {name: (after[name] - before[name]) * 1000 / flows for name in after if name in before}
        print("  CPU per flow: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per.items()))
        print("  " + json.dumps({"cpu_ms_per_flow": per}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
