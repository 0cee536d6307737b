"""Every shipped entry, moved to the family form, loads its unchanged weights file and gives the codes and
reconstructions it gave before (recorded by scripts/shipped_outputs.py on the commit before the change)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.data import load_dataset, to_float
from zoo.weights import has_weights

FIXTURE = Path(__file__).parent / "fixtures" / "shipped_outputs.safetensors"
RECORDED = load_file(str(FIXTURE))
NAMES = sorted({key.split("/")[0] for key in RECORDED})


def test_every_shipped_entry_was_recorded():
    assert NAMES == [n for n in sorted(zoo.list_models()) if has_weights(n)]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_entry_gives_the_recorded_outputs(name):
    torch.set_num_threads(1)
    model = zoo.load(name, device="cpu")
    images = to_float(load_dataset(model.entry.dataset, "test").images[:64])
    with torch.no_grad():
        codes = model.encode(images)
        recon = model.decode(codes)
    torch.testing.assert_close(codes.float(), RECORDED[f"{name}/codes"], atol=1e-6, rtol=0)
    torch.testing.assert_close(recon[:16].float(), RECORDED[f"{name}/recon16"], atol=1e-6, rtol=0)
    torch.testing.assert_close(recon.flatten(1).double().sum(1).float(), RECORDED[f"{name}/recon_sums"], atol=1e-4, rtol=0)
