"""The likelihood paths against their matrix-product floor and against pythae 0.1.2, measured in one run.

    python scripts/bench_likelihood.py                  # every part (about 25 minutes on 2 cores)
    python scripts/bench_likelihood.py --parts pythae-nll vae

Parts (each prints JSON lines, appended to benchmarks/likelihood.jsonl):

- ``nll``: ``zoo eval vae-binary --metric nll --samples 5000`` on all 10,000 test images (the whole command, a
  fresh process), between two timings of its floor: the decoder's two matrix products (784-400-40, float32) for
  the same 5*10^7 codes, timed on a tenth of them and scaled, in chunks of 10^5 codes and in the estimator's
  own chunks; the ratio is against the fastest floor measured.
- ``pythae-nll``: the same weights (vae-binary's, copied into a pythae VAE) by both estimators at the same K on
  the same images, alternating: zoo.nll and pythae's ``get_nll`` (its default batch of 100 draws, and one batch
  of all K draws), their numbers and standard errors.
- ``iwae``: one epoch of an IWAE with K=50 (784-200-200-50 tanh, batch 100, Adam 1e-3, mnist-binary) trained by
  ``zoo train`` on one thread, against the epoch's matrix products (forward and backward, the same shapes and
  thread count) timed before and after.
- ``vae``: ``zoo train vae-binary --epochs 3`` and pythae's VAE on the same network, recipe, data and epochs
  (its BaseTrainer), whole processes, alternating twice; and zoo's epoch against its matrix products.

pythae is not a dependency of zoo: ``pip install pythae==0.1.2`` beside it (it installs next to torch 2.14 here;
it also pulls pydantic and the ``dataclasses`` back-port, which Python 3.11 ignores). Run it with nothing else on
the machine: the ratios are of times measured minutes apart on shared cores.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "likelihood.jsonl"
ZOO = [sys.executable, "-m", "zoo"]

IWAE_ENTRY = {
    "description": "IWAE K=50 on Burda et al.'s network, for timing",
    "family": "iwae", "network": {"type": "mlp", "hidden": [200, 200], "activation": "tanh"},
    "kwargs": {"latent_dim": 50, "samples": 50}, "dataset": "mnist-binary",
    "recipe": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 1, "loss": "bce", "seed": 0},
}


def emit(row: Dict[str, Any]) -> None:
    row = {"part": row.pop("part"), **row, "threads": row.get("threads", _threads()), "cpus": os.cpu_count()}
    line = json.dumps(row)
    print(line, flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("a") as handle:
        handle.write(line + "\n")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def run(cmd: List[str], env: Dict[str, str] = None) -> Tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


# ---------------------------------------------------------------------------------------------- floors
def mm_seconds(shapes: List[Tuple[int, int, int]], repeats: int) -> float:
    """Seconds for ``repeats`` rounds of torch.mm over (rows, inner, cols) shapes, into preallocated outputs."""
    import torch

    mats = [(torch.randn(r, k), torch.randn(c, k), torch.empty(r, c)) for r, k, c in shapes]
    for a, b, out in mats:  # warm
        torch.mm(a, b.t(), out=out)
    started = time.perf_counter()
    for _ in range(repeats):
        for a, b, out in mats:
            torch.mm(a, b.t(), out=out)
    return time.perf_counter() - started


def decoder_floor(codes: int, chunk: int, hidden: int = 400, latent: int = 40, pixels: int = 784) -> float:
    """The decoder's two products for ``codes`` codes in chunks of ``chunk``, timed on a tenth and scaled."""
    rounds = max(1, codes // chunk // 10)
    return mm_seconds([(chunk, latent, hidden), (chunk, hidden, pixels)], rounds) * codes / (rounds * chunk)


def training_floor(batch: int, samples: int, encoder: List[int], decoder: List[int], steps: int) -> float:
    """The matrix products of ``steps`` training steps of an MLP (V)AE: each Linear's forward product, its weight
    gradient and (but the first layer's) its input gradient; the decoder's rows are batch x samples."""
    shapes = []
    for layer, (n_in, n_out) in enumerate(zip(encoder[:-1], encoder[1:])):
        shapes += [(batch, n_in, n_out), (n_out, batch, n_in)] + ([(batch, n_out, n_in)] if layer else [])
    rows = batch * samples
    for n_in, n_out in zip(decoder[:-1], decoder[1:]):
        shapes += [(rows, n_in, n_out), (n_out, rows, n_in), (rows, n_out, n_in)]
    measured = max(1, steps // 10)
    return mm_seconds(shapes, measured) * steps / measured


# ---------------------------------------------------------------------------------------------- parts
def part_nll() -> None:
    from zoo.evaluation.likelihood import OUTPUT_BUDGET

    codes, own_chunk = 10_000 * 5000, OUTPUT_BUDGET // (4 * 784)
    floors = {"1e5": [decoder_floor(codes, 100_000)], "own": [decoder_floor(codes, own_chunk)]}
    seconds, stdout = run(ZOO + ["eval", "vae-binary", "--metric", "nll", "--samples", "5000", "--format", "json"])
    floors["1e5"].append(decoder_floor(codes, 100_000))
    floors["own"].append(decoder_floor(codes, own_chunk))
    row = next(r for r in json.loads(stdout) if r.get("name") == "vae-binary")
    floor = min(min(v) for v in floors.values())
    emit({"part": "nll", "command": "zoo eval vae-binary --metric nll --samples 5000", "images": row["n"],
          "seconds": round(seconds, 1), "nll": round(row["nll"], 3),
          "floor_s": {k: [round(s, 1) for s in v] for k, v in floors.items()},
          "codes_per_pass": own_chunk, "ratio": round(seconds / floor, 2)})


def _pythae_vae(model):
    """A pythae VAE whose encoder and decoder are zoo's model's (the same weights)."""
    import torch
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.zoo = model

        def forward(self, x):
            mu, logvar = self.zoo.gaussian(x)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.zoo = model

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.zoo.logits(z)))

    config = VAEConfig(input_dim=tuple(model.image_shape), latent_dim=model.latent_dim, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder()).eval()


def part_pythae_nll(images: int, samples: int) -> None:
    import torch

    import zoo
    from zoo.data import load_dataset, to_float

    model = zoo.load("vae-binary").eval()
    theirs = _pythae_vae(model)
    x = to_float(load_dataset("mnist-binary", "test").images[:images])
    zoo.nll(model, samples=10, limit=10)  # the data read once, outside the timings
    rows: Dict[str, List[float]] = {}
    values: Dict[str, Tuple[float, float]] = {}
    for _ in range(2):
        started = time.perf_counter()
        ours = zoo.nll(model, samples=samples, limit=images)
        rows.setdefault("zoo", []).append(time.perf_counter() - started)
        values["zoo"] = (ours["nll"], ours["nll_sem"])
        for batch in (100, samples):
            torch.manual_seed(0)
            started = time.perf_counter()
            with torch.no_grad():
                nll = -theirs.get_nll(x, n_samples=samples, batch_size=batch)  # it returns the mean log p(x)
            rows.setdefault(f"pythae batch {batch}", []).append(time.perf_counter() - started)
            values[f"pythae batch {batch}"] = (float(nll), math.nan)
    best = {k: min(v) for k, v in rows.items()}
    for name, seconds in best.items():
        emit({"part": "pythae-nll", "estimator": name, "images": images, "samples": samples,
              "seconds": [round(s, 2) for s in rows[name]], "nll": round(values[name][0], 3),
              "nll_sem": None if math.isnan(values[name][1]) else round(values[name][1], 3),
              "zoo_faster": round(seconds / best["zoo"], 2)})


def part_iwae(steps: int = 500) -> None:
    env = {"OMP_NUM_THREADS": "1"}
    floor_code = ("import sys, torch; sys.path.insert(0, %r); torch.set_num_threads(1); "
                  "from scripts.bench_likelihood import training_floor; "
                  "print(training_floor(100, 50, [784, 200, 200, 100], [50, 200, 200, 784], %d))" % (str(ROOT), steps))
    floors = [float(run([sys.executable, "-c", floor_code], env)[1])]
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry.json"
        registry.write_text(json.dumps({"version": 1, "models": {"iwae-k50": IWAE_ENTRY}}))
        seconds, _ = run(ZOO + ["--registry", str(registry), "train", "iwae-k50", "--out", str(Path(tmp) / "run"),
                                "--quiet"], env)
        history = json.loads((Path(tmp) / "run" / "metrics.json").read_text())["history"]
    floors.append(float(run([sys.executable, "-c", floor_code], env)[1]))
    epoch = history[0]["seconds"]
    emit({"part": "iwae", "what": "IWAE K=50 784-200-200-50, batch 100, one epoch (500 steps)", "threads": 1,
          "epoch_s": round(epoch, 1), "floor_s": [round(f, 1) for f in floors], "ratio": round(epoch / min(floors), 2),
          "process_s": round(seconds, 1)})


def part_vae(epochs: int = 3) -> None:
    pythae_script = ROOT / "scripts" / "pythae_vae.py"
    times: Dict[str, List[float]] = {"zoo": [], "pythae": []}
    epoch_times: List[float] = []
    floors = [training_floor(100, 1, [784, 400, 80], [40, 400, 784], 500)]
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, _ = run(ZOO + ["train", "vae-binary", "--epochs", str(epochs), "--out", str(Path(tmp) / "zoo"),
                                    "--quiet"])
            times["zoo"].append(seconds)
            metrics = json.loads((Path(tmp) / "zoo" / "metrics.json").read_text())
            epoch_times += [h["seconds"] for h in metrics["history"]]
            seconds, _ = run([sys.executable, str(pythae_script), str(Path(tmp) / "pythae"), str(epochs)])
            times["pythae"].append(seconds)
    floors.append(training_floor(100, 1, [784, 400, 80], [40, 400, 784], 500))
    floor = min(floors)
    emit({"part": "vae", "what": f"vae-binary (784-400-40, batch 100), {epochs} epochs, whole process",
          "zoo_s": [round(s, 1) for s in times["zoo"]], "pythae_s": [round(s, 1) for s in times["pythae"]],
          "zoo_over_pythae": round(min(times["zoo"]) / min(times["pythae"]), 2),
          "epoch_s": [round(s, 2) for s in epoch_times], "epoch_floor_s": [round(f, 2) for f in floors],
          "epoch_ratio": round(min(epoch_times) / floor, 2),
          "fixed_s": round(min(times["zoo"]) - sum(sorted(epoch_times)[:epochs]), 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="*", default=["pythae-nll", "iwae", "vae", "nll"],
                        choices=["nll", "pythae-nll", "iwae", "vae"])
    parser.add_argument("--images", type=int, default=500, help="pythae-nll: test images")
    parser.add_argument("--samples", type=int, default=1000, help="pythae-nll: K")
    args = parser.parse_args()
    from zoo.devices import flush_denormal_everywhere, keep_freed_memory

    flush_denormal_everywhere()  # as the zoo command does, before torch's threads start (pythae's runs benefit too)
    keep_freed_memory()
    os.environ.setdefault("ZOO_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    for part in args.parts:
        {"nll": part_nll, "pythae-nll": lambda: part_pythae_nll(args.images, args.samples), "iwae": part_iwae,
         "vae": part_vae}[part]()


if __name__ == "__main__":
    main()
