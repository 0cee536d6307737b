"""Fingerprint the first steps of every shipped entry's training, to show that a change of the trainer
leaves every trajectory bitwise as it was.

Each entry trains ``--steps`` steps (one epoch cut by ``limit_batches``; a pretraining stage for one
epoch per layer of as many steps) on one thread, and the SHA-256 of its final weights (the tensors of
``model.safetensors``, names and bytes, sorted by name) is printed as JSON, one entry per line. Run it
on two commits and compare the outputs::

    python scripts/trajectory.py > before.json   # on the old commit
    python scripts/trajectory.py > after.json    # on the new one
    diff before.json after.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import zoo  # noqa: E402
from zoo.models.legacy import old_names  # noqa: E402
from zoo.registry import load_registry  # noqa: E402


def fingerprint(path: Path, names: dict) -> str:
    """SHA-256 of the tensors by name; ``names`` maps a tensor's name to the one the architecture form of the
    entry gave it (zoo.models.legacy), so that a trajectory compares with one recorded before families."""
    digest = hashlib.sha256()
    for name, tensor in sorted((names.get(k, k), v) for k, v in load_file(str(path)).items()):
        digest.update(name.encode() + b"\0" + tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("names", nargs="*", help="entries (default: every entry of registry.json)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.names or list(load_registry().entries)
    for name in names:
        entry = load_registry().entries[name]
        extra = {"pretrain_epochs": 1} if entry.recipe.pretrain is not None else {}
        with tempfile.TemporaryDirectory() as tmp:
            summary = zoo.train(name, epochs=1, limit_batches=args.steps, out=Path(tmp) / name, quiet=True,
                                device="cpu", **extra)
            print(json.dumps({"name": name, "steps": summary["steps"], "test_loss": summary["test_loss"],
                              "weights_sha256": fingerprint(Path(tmp) / name / "model.safetensors",
                                                                old_names(entry.family, entry.network))}), flush=True)


if __name__ == "__main__":
    main()
