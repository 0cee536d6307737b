#!/usr/bin/env python
"""GPU figures as data: epoch times of zoo's loop at the recipe batch, the CPU reference loop on the
same machine for the ratio, the whole zoo retrained (all ten recipes) and the CUDA tests' counts,
written to benchmarks/gpu.json. Run by benchmarks/gpu.sh; prepared without a GPU, not yet run."""
from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import torch  # noqa: E402
from bench import reference_epoch, torchvision_root, zoo_epoch  # noqa: E402

import zoo  # noqa: E402
from zoo.devices import resolve_device  # noqa: E402

MODELS = ("linear-128", "fashion-64", "deep-784-32", "conv-32", "hinton-30")
VARIANTS = {"zoo": {}, "zoo --amp": {"amp": True}, "zoo --compile": {"compile": True, "warmup": 20}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "gpu.json")
    parser.add_argument("--skip-retrain", action="store_true", help="leave zoo_retrain_s out (it trains every recipe)")
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args()
    device = resolve_device("cuda")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            entry = zoo.get_entry(name)
            for variant, options in VARIANTS.items():
                out = Path(tmp) / f"{name}-{len(rows)}"
                zoo_epoch(entry, device, out, **options)  # warm-up epoch (allocator, kernels, autotuning)
                seconds, samples, _ = zoo_epoch(entry, device, Path(tmp) / f"{name}-{len(rows)}-timed", **options)
                rows.append({"model": name, "variant": variant, "batch": entry.recipe.batch_size,
                             "s_per_epoch": seconds, "samples_per_s": samples / seconds})
                print(json.dumps(rows[-1]), flush=True)
            root = torchvision_root(entry.dataset, Path(tmp) / f"tv-{name}")
            seconds, samples, _ = reference_epoch(entry, torch.device("cpu"), root)
            rows.append({"model": name, "variant": "reference loop, CPU", "batch": entry.recipe.batch_size,
                         "s_per_epoch": seconds, "samples_per_s": samples / seconds})
    result = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "date": datetime.date.today().isoformat(), "rows": rows}
    if not args.skip_retrain:  # every full recipe into a temporary folder (weights/ is never touched)
        started, result["retrain"] = time.perf_counter(), []
        with tempfile.TemporaryDirectory() as runs:
            for name in zoo.list_models():
                summary = zoo.train(name, out=Path(runs) / name, device="cuda", quiet=True)
                card = json.loads((REPO / "weights" / name / "card.json").read_text())
                shipped = card["test"]["reconstruction"]["model"]["mse"]
                result["retrain"].append({"model": name, "train_seconds": summary["train_seconds"],
                                          "test_mse": summary["test_mse"], "card_test_mse": shipped,
                                          "within_3_percent": summary["test_mse"] <= 1.03 * shipped})
        result["zoo_retrain_s"] = time.perf_counter() - started
    if not args.skip_tests:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", str(REPO / "tests" / "test_cuda.py")],
                              capture_output=True, text=True)
        counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped)", done.stdout)}
        result["cuda_tests"] = {k: counts.get(k, 0) for k in ("passed", "failed", "skipped")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
