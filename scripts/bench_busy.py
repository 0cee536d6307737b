"""``zoo train`` alone and beside busy processes: how much more than its share of the cores zoo loses.

    python scripts/bench_busy.py                              # deep-784-32, one epoch, every variant, twice
    python scripts/bench_busy.py --variants auto threads-1 --repeats 3

Each measurement is one whole ``zoo train ENTRY --epochs 1`` process (a fresh run folder); the row holds the
epoch's time from its ``metrics.json`` (``history[0].seconds``) and the process's wall time. It runs alone, then
beside ``--busy`` processes (default two) that each multiply 1024x1024 float32 matrices on 2 torch threads without
pause, as a test run or another training does. The variants, alternated within each round:

- ``auto``: the ``zoo`` command as shipped: its threads from the cores it may use, the other zoo commands and the
  other runnable tasks it finds when it starts; OpenMP waiting passively when there are such tasks;
- ``before``: zoo before that (all cores, OpenMP's default waiting: its threads spin a while before they sleep),
  as ``--threads 2`` with an empty ``OMP_WAIT_POLICY`` (which OpenMP ignores) on 2 cores;
- ``threads-1`` / ``threads-2``: ``--threads 1`` / ``--threads 2`` (the waiting as shipped);
- ``spin-N``: ``GOMP_SPINCOUNT=N``, the wait policy unset (tried: see BENCHMARKS.md).

A fair share of C cores among P busy processes and zoo is C / (P + 1) of them, so beside two busy 2-thread
processes on 2 cores zoo's fair slow-down is 3x. Rows are appended to benchmarks/busy.jsonl; the summary (the
median of each variant's epochs, busy over alone) is printed at the end. Run it with nothing else on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "busy.jsonl"
BUSY = ("import torch\ntorch.set_num_threads(2)\na = torch.randn(1024, 1024)\n"
        "while True:\n    a @ a\n")
VARIANTS = {
    "auto": ([], {}),
    "before": (["--threads", "2"], {"OMP_WAIT_POLICY": ""}),
    "threads-1": (["--threads", "1"], {}),
    "threads-2": (["--threads", "2"], {}),
}


def variant_of(name: str):
    """A variant's flags and environment: VARIANTS, or ``spin-N`` (GOMP_SPINCOUNT=N, the wait policy unset)."""
    if name.startswith("spin-"):
        return [], {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": name[5:]}
    return VARIANTS[name]


def train_once(entry: str, variant: str, limit_batches: int) -> Dict[str, Any]:
    flags, env_extra = variant_of(variant)
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "zoo", "train", entry, "--epochs", "1", "--out", str(run), "--quiet", *flags]
        if limit_batches:
            cmd += ["--limit-batches", str(limit_batches)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
        metrics = json.loads((run / "metrics.json").read_text())
    return {"epoch_s": metrics["history"][0]["seconds"], "wall_s": wall, "threads": metrics.get("threads")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entry", default="deep-784-32")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                        help=f"of {', '.join(VARIANTS)}, or spin-N (GOMP_SPINCOUNT=N)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside zoo (2 threads each)")
    parser.add_argument("--limit-batches", type=int, default=0, help="cut the epoch (0: the whole epoch)")
    args = parser.parse_args()
    rows: List[Dict[str, Any]] = []
    for load in ("alone", "busy"):
        procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.busy if load == "busy" else 0)]
        try:
            time.sleep(3 if procs else 0)  # the busy processes past their start-up
            for repeat in range(args.repeats):
                for variant in args.variants:
                    row = {"entry": args.entry, "load": load, "busy": len(procs), "variant": variant,
                           "repeat": repeat, "cpus": len(os.sched_getaffinity(0)), **train_once(
                               args.entry, variant, args.limit_batches)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    OUT.parent.mkdir(parents=True, exist_ok=True)
                    with OUT.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    def median(variant, load, key="epoch_s"):
        return statistics.median(r[key] for r in rows if r["variant"] == variant and r["load"] == load)

    first = args.variants[0]
    print(f"\n| variant | threads | epoch alone | epoch busy | busy / its alone | busy / {first} alone | "
          f"process alone | process busy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant in args.variants:
        threads = sorted({r["threads"] for r in rows if r["variant"] == variant})
        alone, busy = median(variant, "alone"), median(variant, "busy")
        print(f"| {variant} | {'/'.join(map(str, threads))} | {alone:.2f} s | {busy:.2f} s | {busy / alone:.2f}x | "
              f"{busy / median(first, 'alone'):.2f}x | {median(variant, 'alone', 'wall_s'):.1f} s | "
              f"{median(variant, 'busy', 'wall_s'):.1f} s |")


if __name__ == "__main__":
    main()
