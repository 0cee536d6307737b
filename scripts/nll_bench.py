"""Time the importance-sampled NLL (zoo.evaluation.likelihood.nll) on the CPU: how the time grows with K,
and one full measurement (K=5000 on all 10,000 test images) for one family.

    python scripts/nll_bench.py                       # K in 100, 500, 1000, 5000 on 500 images, each family
    python scripts/nll_bench.py --full vae            # also K=5000 on the 10,000 test images (minutes)

The models are the shapes of pythae's table (784-400-40; the VampPrior with 500 pseudo-inputs), freshly
initialised: the time of the estimator does not depend on the weights. Prints JSON lines.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.evaluation.likelihood import nll  # noqa: E402
from zoo.registry import parse_entry  # noqa: E402

RECIPE = {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 1, "loss": "bce",
          "early_stopping": {"patience": 5}, "seed": 0}
SHAPES = {"vae": {"hidden": [400], "latent_dim": 40}, "iwae": {"hidden": [400], "latent_dim": 40, "samples": 50},
          "vamp": {"hidden": [400], "latent_dim": 40, "pseudo_inputs": 500}}


def model_of(arch: str) -> torch.nn.Module:
    entry = parse_entry(f"bench-{arch}", {"description": "timing", "architecture": arch, "kwargs": SHAPES[arch],
                                          "dataset": "mnist-binary", "recipe": RECIPE})
    torch.manual_seed(0)
    return entry.build((1, 28, 28)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--samples", type=int, nargs="*", default=[100, 500, 1000, 5000])
    parser.add_argument("--full", nargs="*", default=[], choices=sorted(SHAPES), help="also K=5000 on all test images")
    args = parser.parse_args()
    for arch in SHAPES:
        model = model_of(arch)
        nll(model, samples=10, limit=10)  # the data set read and binarized once, outside the timings
        for k in args.samples:
            started = time.perf_counter()
            result = nll(model, samples=k, limit=args.images)
            seconds = time.perf_counter() - started
            print(json.dumps({"family": arch, "images": args.images, "samples": k, "seconds": round(seconds, 2),
                              "ms_per_1000_draws": round(1e6 * seconds / (k * args.images), 3),
                              "nll": round(result["nll"], 2), "threads": torch.get_num_threads()}), flush=True)
    for arch in args.full:
        started = time.perf_counter()
        result = nll(model_of(arch), samples=5000)
        print(json.dumps({"family": arch, "images": result["n"], "samples": 5000,
                          "seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads()}),
              flush=True)


if __name__ == "__main__":
    main()
