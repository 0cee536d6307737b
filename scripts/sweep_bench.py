"""The sweep benchmark of BENCHMARKS.md: one search (fashion-64's lr and batch size, 16 complete trials at 5 epochs)
run by 1 and by 2 worker processes on this machine, each a fresh SQLite study; and the shipped recipe trained for
the same 5 epochs, the value the search is measured against.

    python scripts/sweep_bench.py --workers 1 2 --out runs/bench-sweep

Each worker is the same ``zoo sweep`` command (as a user would start it in two terminals); with W workers each
trial gets cores/W torch threads. Prints one JSON line per measurement and appends them to --log.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import zoo  # noqa: E402
from zoo.sweeps import best_trial, load_study  # noqa: E402
from zoo.sweeps.threads import cores  # noqa: E402


def sweep_command(args, study: str, folder: Path, seed: int):
    cmd = [sys.executable, "-m", "zoo", "sweep", args.name, "--study", study, "--out", str(folder), "--trials",
           str(args.trials), "--epochs", str(args.epochs), "--sampler", "tpe", "--seed", str(seed), "--pruner", args.pruner,
           "--quiet"]
    for p in args.param:
        cmd += ["--param", p]
    return cmd


def run_sweep(args, workers: int) -> dict:
    study = f"bench-{workers}w-{int(time.time())}"
    folder = Path(args.out) / study
    started = time.perf_counter()
    # each worker its own sampler seed (0, 1, ...): workers with one seed would propose the same values
    procs = [subprocess.Popen(sweep_command(args, study, folder, seed), cwd=REPO) for seed in range(workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a worker failed: exit statuses {codes}")
    made = load_study(study, out=folder)
    best = best_trial(made)
    states = [t.state.name for t in made.trials]
    distinct = len({json.dumps(t.params, sort_keys=True) for t in made.trials})
    return {"what": "sweep", "workers": workers, "wall_s": round(wall, 1), "trials": len(states), "distinct": distinct,
            "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"), "best_value": best.value,
            "best_params": best.params, "best_trial": best.number,
            "threads_per_trial": sorted({t.user_attrs.get("threads") for t in made.trials if "threads" in t.user_attrs})}


def run_baseline(args) -> dict:
    torch.set_num_threads(cores())
    out = Path(args.out) / f"recipe-{int(time.time())}"
    started = time.perf_counter()
    summary = zoo.train(args.name, epochs=args.epochs, out=out, quiet=True)
    return {"what": "shipped recipe", "epochs": args.epochs, "wall_s": round(time.perf_counter() - started, 1),
            "best_val_loss": summary["best_val_loss"], "recipe": {k: zoo.get_entry(args.name).recipe.value(k)
                                                                  for k in ("lr", "batch_size")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="fashion-64")
    parser.add_argument("--param", action="append", default=None,
                        help="KEY=SPEC [default: lr=log:1e-4:1e-2 batch_size=choice:32,64,128,256]")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-baseline", action="store_true", help="skip training the shipped recipe")
    parser.add_argument("--out", default="runs/bench-sweep")
    parser.add_argument("--log", default=str(REPO / "benchmarks" / "sweep.jsonl"))
    args = parser.parse_args()
    args.param = args.param or ["lr=log:1e-4:1e-2", "batch_size=choice:32,64,128,256"]
    machine = {"cores": cores(), "torch": torch.__version__, "python": platform.python_version(),
               "name": args.name, "params": args.param, "trials_wanted": args.trials, "pruner": args.pruner}
    baseline = [] if args.no_baseline else [lambda: run_baseline(args)]
    for measure in [*(lambda w=w: run_sweep(args, w) for w in args.workers), *baseline]:
        line = json.dumps({**machine, **measure()})
        print(line, flush=True)
        with open(args.log, "a") as log:  # each measurement as soon as it is made
            log.write(line + "\n")


if __name__ == "__main__":
    main()
