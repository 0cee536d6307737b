#!/usr/bin/env python
"""Start-up and loading latency, and the wall times of `zoo compare` and `zoo report`, in fresh processes.

    python scripts/latency.py --reps 5

Each repetition is a new Python process that times, with perf_counter: ``import torch``, then
``import zoo``, then ``zoo.load(NAME)`` twice. Then `zoo compare --metric ssim` runs twice as a
command, first with an empty cache folder (PCA fitted and cached), then with that cache (warm); then
`zoo report --out DIR` the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, time
t0 = time.perf_counter(); import torch
t1 = time.perf_counter(); import zoo
t2 = time.perf_counter(); zoo.load({name!r})
t3 = time.perf_counter(); zoo.load({name!r})
t4 = time.perf_counter()
print(json.dumps({{"import torch": t1 - t0, "import zoo after torch": t2 - t1, "zoo.load": t3 - t2,
                  "zoo.load again": t4 - t3}}))
"""


def env(**extra: str) -> dict:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3f} s" if f"{lo:.3f}" == f"{hi:.3f}" else f"{lo:.3f} to {hi:.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="fashion-64", help="model to load")
    parser.add_argument("--reps", type=int, default=5, help="fresh processes for the load timings")
    parser.add_argument("--skip-compare", action="store_true", help="only the import and load timings")
    args = parser.parse_args()

    runs = []
    for _ in range(args.reps):
        out = subprocess.run([sys.executable, "-c", PROBE.format(name=args.name)], capture_output=True, text=True,
                             env=env(), cwd=tempfile.gettempdir())
        if out.returncode != 0:
            sys.exit(out.stderr[-3000:])
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.reps} fresh processes, {os.cpu_count()} CPUs")
    print("| what | measured |")
    print("| --- | ---: |")
    for key in runs[0]:
        print(f"| {key} | {span([r[key] for r in runs])} |")
    both = [r["import torch"] + r["import zoo after torch"] for r in runs]
    print(f"| import zoo, torch included | {span(both)} |")
    if args.skip_compare:
        return 0
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold PCA cache", "warm PCA cache"):
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "zoo", "compare", "--metric", "ssim"], capture_output=True,
                                 text=True, env=env(ZOO_CACHE_DIR=cache))
            if out.returncode != 0:
                sys.exit(out.stderr[-3000:])
            print(f"| zoo compare --metric ssim, {label} | {time.perf_counter() - started:.1f} s |", flush=True)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        for label in ("cold PCA cache", "warm PCA cache"):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "zoo", "report", "--out", out, "--force"], capture_output=True,
                                  text=True, env=env(ZOO_CACHE_DIR=cache))
            if done.returncode != 0:
                sys.exit(done.stderr[-3000:])
            size = (Path(out) / "index.html").stat().st_size / 2**20
            models = len(zoo_models())
            print(f"| zoo report, all {models} models ({size:.1f} MB page), {label} | {time.perf_counter() - started:.1f} s |",
                  flush=True)
    return 0


def zoo_models() -> list:
    sys.path.insert(0, str(REPO))
    import zoo

    return zoo.list_models()


if __name__ == "__main__":
    sys.exit(main())
