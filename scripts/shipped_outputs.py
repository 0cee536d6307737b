"""Record what every shipped entry gives for the first test images: its codes for the first 64 and its
reconstructions of the first 16 (float32), plus each of the 64 reconstructions' pixel sum. The file pins
``zoo.load(name)`` across refactorings: ``tests/test_shipped_outputs.py`` compares the current code with it
(to 1e-6). Written once, on the commit before the families x networks change::

    ZOO_DATA_DIR=../shared/data python scripts/shipped_outputs.py tests/fixtures/shipped_outputs.safetensors
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import zoo  # noqa: E402
from zoo.data import load_dataset, to_float  # noqa: E402
from zoo.weights import has_weights  # noqa: E402


def outputs(name: str) -> dict:
    model = zoo.load(name, device="cpu")
    images = to_float(load_dataset(model.entry.dataset, "test").images[:64])
    with torch.no_grad():
        codes = model.encode(images)
        recon = model.decode(codes)
    return {f"{name}/codes": codes.float().contiguous(), f"{name}/recon16": recon[:16].float().contiguous(),
            f"{name}/recon_sums": recon.flatten(1).double().sum(1).float().contiguous()}


def main() -> None:
    torch.set_num_threads(1)
    tensors = {}
    for name in zoo.list_models():
        if has_weights(name):
            tensors.update(outputs(name))
    save_file(tensors, sys.argv[1])


if __name__ == "__main__":
    main()
