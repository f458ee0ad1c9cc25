"""A/B of whole CLI runs by process CPU (profiling rounds; not part of `deno task bench`).

Runs `orch run --dag X --json` of each tree in alternation (after one warm-up each), with
SCHED_MAX_PARALLEL=2, and prints per tree the median and minimum of the process's CPU time
(user + sys, from getrusage of the finished child) and of dag_start..dag_done per task.
A tree may carry Deno flags after an `@`: `/tmp/base@--v8-flags=--min-semi-space-size=8`.

    python3 bench/ab_cpu.py /tmp/dags/fan_10000.yaml 9 /tmp/base .
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime


def run(tree_flags, dag, tmp):
    tree, _, flags = tree_flags.partition("@")
    tree = os.path.abspath(tree)
    events = os.path.join(tmp, "events.jsonl")
    if os.path.exists(events):
        os.remove(events)
    env = dict(
        os.environ,
        ORCH_EVENTS_PATH=events,
        STATE_STORE_PATH=os.path.join(tmp, "state.jsonl"),
        WORKFLOWS_DIR=f"{tree}/bench/workflows",
        SCHED_MAX_PARALLEL="2",
        NO_COLOR="1",
    )
    args = ["deno", "run", "-A", "--quiet"] + ([flags] if flags else [])
    args += ["--config", f"{tree}/deno.json", f"{tree}/main.ts", "run", "--dag", dag, "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, env=env, stdout=subprocess.PIPE, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    tasks = len(json.loads(out.stdout)["tasks"])
    at = {}
    with open(events) as f:
        for line in f:
            if '"dag_start"' in line or '"dag_done"' in line:
                e = json.loads(line)
                at[e["event"]] = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
    us = (at["dag_done"] - at["dag_start"]).total_seconds() * 1e6 / tasks
    return cpu_ms, us


def main():
    dag, reps, trees = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    cpu = {t: [] for t in trees}
    us = {t: [] for t in trees}
    with tempfile.TemporaryDirectory(prefix="orch-abcpu-") as tmp:
        for r in range(reps + 1):
            for t in trees if r % 2 == 0 else trees[::-1]:
                c, u = run(t, dag, tmp)
                if r:  # the first round is a warm-up
                    cpu[t].append(c)
                    us[t].append(u)
    for t in trees:
        print(
            f"{t}: process CPU ms median {statistics.median(cpu[t]):.0f} (min {min(cpu[t]):.0f}),"
            f" us/task median {statistics.median(us[t]):.1f} (min {min(us[t]):.1f})"
        )
    with open("/proc/loadavg") as f:
        print("load", " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
