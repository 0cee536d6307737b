"""Every family on every network that fits it: trained a few steps on real data, sampled where generative, an NLL
where it has a likelihood; one cell per family SIGKILLed mid-epoch resumes bit for bit (slow)."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from killing import straight_and_killed_weights
from safetensors.torch import load_file

import zoo
from zoo.models import FAMILIES
from zoo.models.capabilities import capabilities
from zoo.networks import NETWORKS

SMALL_NETWORKS = {
    "mlp": {"type": "mlp", "hidden": [64]},
    "gated-mlp": {"type": "gated-mlp", "hidden": [64]},
    "conv": {"type": "conv", "channels": [8, 16]},
    "resnet": {"type": "resnet", "channels": [8, 16], "residual_layers": 1},
}
FAMILY_KWARGS = {
    "ae": {"latent_dim": 8},
    "vae": {"latent_dim": 8},
    "iwae": {"latent_dim": 8, "samples": 3},
    "ciwae": {"latent_dim": 8, "samples": 3, "beta": 0.5},
    "vamp": {"latent_dim": 8, "pseudo_inputs": 20},
    "wae": {"latent_dim": 8},
    "rae": {"latent_dim": 8},
    "aae": {"latent_dim": 8, "discriminator": [32]},
    "vq-vae": {"embedding_dim": 4, "codebook_size": 16, "prior_channels": 8, "prior_layers": 3},
    "custom-layer": {"latent_dim": 8},
}
LIKELIHOOD = ("vae", "iwae", "ciwae", "vamp")
# every family x {mlp, conv}; vq-vae x {conv, resnet}; the hand-written family on its mlp; the other networks once
CELLS = [(f, n) for f in ("ae", "vae", "iwae", "ciwae", "vamp", "wae", "rae", "aae") for n in ("mlp", "conv")]
CELLS += [("vq-vae", "conv"), ("vq-vae", "resnet"), ("custom-layer", "mlp"), ("vae", "resnet"), ("vamp", "gated-mlp")]
KILLED = [("ae", "conv"), ("vae", "conv"), ("iwae", "mlp"), ("ciwae", "conv"), ("vamp", "conv"), ("wae", "conv"), ("rae", "mlp"),
          ("aae", "conv"), ("vq-vae", "conv"), ("custom-layer", "mlp")]


def cell_name(family: str, network: str) -> str:
    return f"{family}-on-{network}"


def cell_entry(family: str, network: str) -> dict:
    likelihood = family in LIKELIHOOD
    recipe = {"epochs": 1, "batch_size": 32, "loss": "bce" if likelihood or family == "vq-vae" else "mse"}
    if family == "vq-vae":
        recipe["prior"] = {"type": "pixelcnn", "epochs": 1, "batch_size": 64}
    return {"description": f"{family} on {network}", "family": family, "network": SMALL_NETWORKS[network],
            "kwargs": FAMILY_KWARGS[family], "dataset": "mnist-binary" if likelihood else "mnist", "recipe": recipe}


@pytest.fixture(scope="module")
def cells_registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("cells") / "registry.json"
    models = {cell_name(f, n): cell_entry(f, n) for f, n in set(CELLS) | set(KILLED)}
    path.write_text(json.dumps({"version": 1, "models": models}))
    return path


def test_the_matrix_covers_every_built_in_family_and_network():
    built_in = {k for k, f in FAMILIES.items() if f.model_cls.__module__.startswith("zoo.models.")}  # not tests' plugins
    networks = {k for k, n in NETWORKS.items() if n.network_cls.__module__.startswith("zoo.networks.")}
    assert {f for f, _ in CELLS} == built_in and {n for _, n in CELLS} == networks
    assert {f for f, _ in KILLED} == built_in


@pytest.mark.parametrize("family, network", CELLS, ids=[cell_name(*c) for c in CELLS])
def test_a_family_trains_samples_and_measures_on_a_network(family, network, cells_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(cells_registry))
    name = cell_name(family, network)
    out = tmp_path / "run"
    summary = zoo.train(name, out=out, limit_batches=3, device="cpu", quiet=True)
    assert summary["steps"] == 3 and math.isfinite(summary["test_loss"])
    model = zoo.load(out, device="cpu")
    assert model.entry.family == family and model.entry.network_type == network
    caps = capabilities(model)
    if caps.generative:
        images = zoo.sample(model, 4, seed=0)
        assert images.shape == (4, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    if caps.likelihood:
        result = zoo.nll(model, samples=4, limit=8)
        assert math.isfinite(result["nll"]) and result["nll"] > 0 and result["bits_per_dim"] == pytest.approx(
            result["nll"] / (784 * math.log(2)))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("family, network", KILLED, ids=[cell_name(*c) for c in KILLED])
def test_a_cell_resumes_bitwise_after_sigkill(family, network, cells_registry, tmp_path):
    name = cell_name(family, network)
    args = ["train", name, "--epochs", "2", "--limit-batches", "30", "--checkpoint-every", "5", "--device", "cpu", "--quiet"]
    env = {**os.environ, "ZOO_REGISTRY": str(cells_registry)}
    a, b = straight_and_killed_weights(args, env, tmp_path, kill_at=10, steps=30)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_network_that_does_not_fit_its_family_is_refused_in_one_line(tmp_path):
    bad = {"vq-vae": {"type": "mlp"}, "custom-layer": {"type": "conv"}}
    for family, network in bad.items():
        entry = {**cell_entry(family, "conv"), "network": network}
        path = tmp_path / f"{family}.json"
        path.write_text(json.dumps({"version": 1, "models": {"bad": entry}}))
        result = subprocess.run([sys.executable, "-m", "zoo", "--registry", str(path), "train", "bad", "--out",
                                 str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "entry 'bad': network.type: the " + family in result.stderr
    assert not (tmp_path / "run").exists()


def test_every_network_setting_and_every_family_setting_but_the_code_size_has_a_default():
    shape = (1, 28, 28)
    for key in NETWORKS:
        model = zoo.models.build_model("ae", {"latent_dim": 4}, shape, {"type": key})
        assert model(torch.rand(2, *shape)).shape == (2, *shape)
    for key in FAMILIES:
        kwargs = {} if key == "vq-vae" else {"latent_dim": 4}
        assert zoo.models.build_model(key, kwargs, shape).latent_dim == (49 if key == "vq-vae" else 4)


def test_an_old_architecture_form_registry_still_trains_with_a_one_line_note(tmp_path):
    path = tmp_path / "registry.json"
    old = {"description": "mine, in the older form", "architecture": "vae", "dataset": "mnist-binary",
           "kwargs": {"hidden": [32], "latent_dim": 4, "activation": "tanh"}, "recipe": {"epochs": 1, "loss": "bce"}}
    path.write_text(json.dumps({"version": 1, "models": {"old-vae": old}}))
    result = subprocess.run([sys.executable, "-m", "zoo", "--registry", str(path), "train", "old-vae", "--out",
                             str(tmp_path / "run"), "--limit-batches", "2", "--device", "cpu", "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "older form" in line]
    assert notes == ['warning: registry.json: entry \'old-vae\': "architecture" is the older form; read as family \'vae\' on '
                     'network {"activation": "tanh", "hidden": [32], "type": "mlp"}'.replace("registry.json", str(path))]
    model = zoo.load(tmp_path / "run", device="cpu")
    assert model.entry.family == "vae" and model.entry.network == {"type": "mlp", "hidden": [32], "activation": "tanh"}
    assert [n for n, _ in model.named_parameters()][:2] == ["encoder.0.weight", "encoder.0.bias"]


def test_a_variational_file_of_the_architecture_form_loads_through_the_renames():
    """vae-binary's shipped file names its encoder's tensors as the architecture form did (encoder.1.0, encoder.2);
    zoo.load maps them to the family's names, and the file is unchanged."""
    from safetensors import safe_open

    path = Path(zoo.weights.shipped_weights("vae-binary"))
    with safe_open(str(path), framework="pt") as f:
        stored = set(f.keys())
    assert {"encoder.1.0.weight", "encoder.2.weight"} <= stored
    model = zoo.load("vae-binary", device="cpu")
    names = set(model.state_dict())
    assert {"encoder.0.weight", "encoder.2.weight"} <= names and "encoder.1.0.weight" not in names
    tensors = load_file(str(path))
    assert torch.equal(model.state_dict()["encoder.0.weight"], tensors["encoder.1.0.weight"])
    assert torch.equal(model.state_dict()["encoder.2.weight"], tensors["encoder.2.weight"])  # the head, after 400 + act


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.3])
def test_the_ciwae_bound_is_the_mix_of_the_elbo_and_the_iwae_bound_from_the_same_draws(beta, mnist_batch):
    shape, net = (1, 28, 28), {"type": "mlp", "hidden": [32]}
    ciwae = zoo.models.build_model("ciwae", {"latent_dim": 4, "samples": 6, "beta": beta}, shape, net).train()
    iwae = zoo.models.build_model("iwae", {"latent_dim": 4, "samples": 6}, shape, net).train()
    iwae.load_state_dict(ciwae.state_dict())
    x = (mnist_batch > 0.5).float()
    torch.manual_seed(0)
    log_w = ciwae.log_weights(x, x, 6)
    expected = beta * log_w.mean(0) + (1 - beta) * (torch.logsumexp(log_w, 0) - math.log(6))
    torch.manual_seed(0)
    out = ciwae.loss(x, x)
    torch.testing.assert_close(out.loss, -expected.mean() / 784)
    if beta == 0.0:
        torch.manual_seed(0)
        torch.testing.assert_close(iwae.loss(x, x).loss, out.loss)
