#!/usr/bin/env python
"""Samples per second of `zoo train` by number of ranks (torchrun, DDP), one model after another.

    python scripts/scaling.py deep-784-32 hinton-30 --nproc 1 2 --epochs 1 --device cpu

Every cell is a real `zoo train` run in a fresh run folder: one process for 1 rank (``python -m zoo
train``), ``torchrun --standalone --nproc_per_node N`` for more. The recipe's batch size stays the
global batch (each rank takes batch / N), so every row makes the same optimizer steps. The figure
is the trainer's own: samples over training-loop seconds (no start-up, no validation), from the
run's metrics.json. The last column is the test MSE, which should agree across rows.

CPU threads: torchrun gives each rank one thread (OMP_NUM_THREADS=1) unless told otherwise; the
one-process row runs with torch's default (all cores) and, with --threads, with other counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(name: str, nproc: int, args: argparse.Namespace, out: Path, threads: int = 0) -> dict:
    flags = ["train", name, "--device", args.device, "--epochs", str(args.epochs), "--out", str(out), "--quiet"]
    if args.limit_batches:
        flags += ["--limit-batches", str(args.limit_batches)]
    if args.batch_size:
        flags += ["--batch-size", str(args.batch_size)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if nproc == 1:
        cmd = [sys.executable, "-m", "zoo", *flags]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "zoo", *flags]
        env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="registry names")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="ranks per row (default: 1 2)")
    parser.add_argument("--threads", type=int, nargs="*", default=[],
                        help="also run 1 rank with these thread counts (OMP_NUM_THREADS)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, help="global batch (default: the recipe's)")
    parser.add_argument("--limit-batches", type=int, help="at most this many batches an epoch (smoke runs)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per rank)")
    args = parser.parse_args()

    import torch

    print(f"torch {torch.__version__}, device {args.device}, {os.cpu_count()} CPUs, {args.epochs} epoch(s)")
    print("| model | ranks | threads per rank | samples/s | s/epoch | steps | test MSE |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            cells = [(n, 0) for n in args.nproc] + [(1, t) for t in args.threads]
            for i, (nproc, threads) in enumerate(cells):
                m = run(name, nproc, args, Path(tmp) / f"{name}-{i}", threads)
                per_rank = threads or (1 if nproc > 1 and args.device == "cpu" else torch.get_num_threads())
                seconds = m["train_seconds"] / max(m["epochs_run"], 1)
                print(f"| {name} | {nproc} | {per_rank} | {m['samples_per_s']:,.0f} | {seconds:.2f} | {m['steps']} "
                      f"| {m['test_mse']:.6f} |", flush=True)


if __name__ == "__main__":
    main()
