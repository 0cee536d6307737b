"""A family and a network that exist only in a test plugin folder (tests/beta_tc_plugin.py: a beta-TC-VAE on a
network of its own) train, sample, report an NLL, export to ONNX and appear in zoo report, with no change under
zoo/; and 32x32 RGB photographs get a convolutional VAE with an 8-bit likelihood (bits/dim) and a VQ-VAE."""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.cli import main

TESTS = Path(__file__).resolve().parent


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    shutil.copy(TESTS / "beta_tc_plugin.py", root / "beta_tc_plugin.py")
    (root / "registry.json").write_text(json.dumps({"version": 1, "plugins": ["beta_tc_plugin"], "models": {
        "btc-8": {"description": "a beta-TC-VAE on a plugin network", "family": "beta-tc-vae",
                  "network": {"type": "dense-elu", "widths": [64]}, "kwargs": {"latent_dim": 8, "beta": 4.0},
                  "dataset": "mnist-binary", "recipe": {"epochs": 1, "batch_size": 64, "loss": "bce"}}}}))
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_REGISTRY", str(root / "registry.json"))
    zoo.train("btc-8", out=root / "run", limit_batches=20, device="cpu", quiet=True)
    yield root
    mp.undo()


def test_a_plugin_family_on_a_plugin_network_trains_samples_and_measures(plugin):
    model = zoo.load(plugin / "run", device="cpu")
    assert type(model).__name__ == "BetaTCVAE" and model.entry.network_type == "dense-elu"
    assert [n for n, _ in model.named_parameters()][:2] == ["encoder.0.weight", "encoder.0.bias"]
    images = zoo.sample(model, 6, seed=0)
    assert images.shape == (6, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    result = zoo.nll(model, samples=20, limit=50)
    assert math.isfinite(result["nll"]) and 60 < result["nll"] < 600


def test_a_plugin_family_exports_to_onnx_and_appears_in_the_report(plugin, tmp_path):
    pytest.importorskip("onnxruntime")
    result = cli("export", plugin / "run", "--format", "onnx", "--out", tmp_path / "btc.onnx")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "btc.onnx").stat().st_size > 0
    result = cli("report", plugin / "run", "--out", tmp_path / "report", "--quiet")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "beta-tc-vae" in page and "dense-elu" in page


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """32x32 RGB tiles of scikit-image's sample photographs, as a folder a registry file declares."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    (root / "tiles").mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        photo = getattr(skimage.data, name)()
        for r in range(0, photo.shape[0] - 31, 32):
            for c in range(0, photo.shape[1] - 31, 32):
                Image.fromarray(photo[r:r + 32, c:c + 32]).save(root / "tiles" / f"{name}-{r:03d}-{c:03d}.png")
    conv = {"type": "conv", "channels": [16, 32]}
    (root / "registry.json").write_text(json.dumps({"version": 1, "datasets": {"tiles": {"path": "tiles"}}, "models": {
        "tiles-vae": {"description": "conv VAE of 8-bit RGB tiles", "family": "vae", "network": conv,
                      "kwargs": {"latent_dim": 16, "likelihood": "logistic"}, "dataset": "tiles",
                      "recipe": {"epochs": 12, "batch_size": 32, "lr": 0.002}},
        "tiles-vq": {"description": "VQ-VAE of RGB tiles", "family": "vq-vae", "network": conv,
                     "kwargs": {"embedding_dim": 8, "codebook_size": 32, "prior_channels": 8, "prior_layers": 4},
                     "dataset": "tiles", "recipe": {"epochs": 2, "batch_size": 32, "loss": "bce",
                                                    "prior": {"type": "pixelcnn", "epochs": 1, "batch_size": 32}}}}}))
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_REGISTRY", str(root / "registry.json"))
    zoo.train("tiles-vae", out=root / "tiles-vae", device="cpu", quiet=True)  # 12 epochs of ~22 steps
    zoo.train("tiles-vq", out=root / "tiles-vq", limit_batches=10, device="cpu", quiet=True)
    yield root
    mp.undo()


@pytest.mark.parametrize("name", ["tiles-vae", "tiles-vq"])
def test_rgb_photographs_train_and_sample_three_channel_images(photos, name, tmp_path):
    model = zoo.load(photos / name, device="cpu")
    assert model.image_shape == (3, 32, 32)
    out, tensor = tmp_path / "grid.png", tmp_path / "samples.safetensors"
    result = cli("sample", photos / name, "--n", 8, "--out", out, "--save-tensor", tensor, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert Image.open(out).mode == "RGB"
    from safetensors.torch import load_file

    samples = next(iter(load_file(str(tensor)).values()))
    assert samples.shape == (8, 3, 32, 32) and 0 <= samples.min() and samples.max() <= 1


def test_an_8_bit_likelihood_reports_bits_per_dim(photos):
    result = cli("eval", photos / "tiles-vae", "--metric", "nll", "--samples", 10, "--limit", 40, "--no-baseline",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["n"] == 40 and row["bits_per_dim"] == pytest.approx(row["nll"] / (3 * 32 * 32 * math.log(2)))
    assert 1.0 < row["bits_per_dim"] < 7.8  # a model, not noise: below the 8 bits of a uniform 8-bit value
    table = cli("eval", photos / "tiles-vae", "--metric", "nll", "--samples", 5, "--limit", 8, "--no-baseline")
    assert table.exit_code == 0 and re.search(r"bits_per_dim", table.output), table.output
    vq = cli("eval", photos / "tiles-vq", "--metric", "nll", "--limit", 8)
    assert vq.exit_code == 2 and "has no likelihood" in vq.output
