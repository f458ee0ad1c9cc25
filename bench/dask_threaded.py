#!/usr/bin/python3
"""Dask's threaded scheduler on orch's benchmark DAGs, for docs/PERFORMANCE.md.

Not part of CI. Needs Debian's python3-dask (`apt-get install python3-dask`).
Usage: deno run -A bench/gen_dags.ts /tmp/dags && /usr/bin/python3 bench/dask_threaded.py /tmp/dags

Each task is a no-op that receives its upstream outputs (dask substitutes each dep key
with that task's output) and returns {id, depth}; depths are checked afterwards, as the
orch bench checks them. Timed: the dask.threaded.get call only (2 threads, raw graph, no
fuse/cull), median of 3 runs after one warm-up. Prints one TSV line per DAG:
name, us/task.
"""
import json
import os
import statistics
import sys
import time

import dask
import dask.threaded


def noop(i, *ups):
    return {"id": i, "depth": 1 + max((u["depth"] for u in ups), default=0)}


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench_dags"
    print(f"# dask {dask.__version__}, dask.threaded.get num_workers=2")
    for shape in ("chain", "fan", "layered"):
        for n in (100, 1000, 10000):
            path = os.path.join(d, f"{shape}_{n}.json")
            if not os.path.exists(path):
                continue
            tasks = json.load(open(path))["tasks"]
            depth = {}
            for t in tasks:
                depth[t["id"]] = 1 + max((depth[x] for x in t["deps"]), default=0)
            used = {x for t in tasks for x in t["deps"]}
            keys = [t["id"] for t in tasks if t["id"] not in used]
            times = []
            for r in range(4):
                g = {t["id"]: (noop, i, *t["deps"]) for i, t in enumerate(tasks)}
                t0 = time.perf_counter()
                out = dask.threaded.get(g, keys, num_workers=2)
                dt = time.perf_counter() - t0
                for k, o in zip(keys, out):
                    assert o["depth"] == depth[k], (k, o, depth[k])
                if r:
                    times.append(dt)
            print(f"{shape}_{n}\t{statistics.median(times) / n * 1e6:.1f}", flush=True)


if __name__ == "__main__":
    main()
