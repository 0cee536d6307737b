"""Every registry entry builds and honours the model contract on real images (timm-style)."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.data import image_shape
from zoo.models import FAMILIES, build_model, register_family
from zoo.models.ae import AEConfig
from zoo.models.custom_layer import Linear, ReLU, Sigmoid
from zoo.training.objectives import trained_parameters

NAMES = zoo.list_models()


def test_the_registry_holds_the_reference_projects_entries_and_every_shipped_one():
    expected = {"linear-128", "deep-64", "custom-layer", "deep-784-32", "fashion-64", "denoising",
                "deep-784-2", "conv-32", "vae-16", "hinton-30"}
    shipped = {p.parent.name for p in (zoo.paths.REPO_DIR / "weights").glob("*/model.safetensors")}
    assert expected <= set(NAMES) and shipped <= set(NAMES) and len(shipped) == 18


@pytest.mark.parametrize("name", NAMES)
def test_entry_honours_contract(name, mnist_batch, fashion_batch):
    entry = zoo.get_entry(name)
    x = fashion_batch if entry.dataset == "fashion-mnist" else mnist_batch
    torch.manual_seed(0)
    model = zoo.load(name, pretrained=False, device="cpu")
    assert not model.training
    assert model.latent_dim == entry.latent_dim
    with torch.no_grad():
        recon = model(x)
        z = model.encode(x)
        decoded = model.decode(z)
    assert recon.shape == x.shape and recon.dtype == torch.float32
    assert 0 <= recon.min() and recon.max() <= 1
    assert z.shape == (x.shape[0], entry.latent_dim)
    assert torch.allclose(decoded, recon)

    model.train()
    out = model.loss(x, x, kind=entry.recipe.loss)
    assert out.loss.dim() == 0 and math.isfinite(out.loss.item())
    assert out.parts and all(torch.isfinite(v) for v in out.parts.values())
    # every loss with a reconstruction term names it; the IWAE's bound has none apart (its parts: bound, ess)
    assert ("recon" in out.parts) != (entry.family == "iwae") and set(out.parts) >= ({"bound", "ess"} if entry.family == "iwae" else set())
    out.loss.backward()
    grads = [p.grad for p in trained_parameters(model)]  # all, but a VQ-VAE's prior (its own stage trains it)
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_registry(name):
    entry = zoo.get_entry(name)
    assert entry.params is not None, f"{name}: registry.json should state its parameter count"
    assert entry.build(image_shape(entry.dataset)).num_parameters() == entry.params


def test_custom_layers_are_hand_written_and_correct():
    torch.manual_seed(0)
    layer = Linear(784, 256)
    bound = math.sqrt(6 / (784 + 256))
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.95 * bound
    assert torch.equal(layer.bias, torch.zeros(256))
    # uniform on [-a, a] has standard deviation a / sqrt(3)
    assert abs(layer.weight.std().item() - bound / math.sqrt(3)) < 0.02 * bound
    x = torch.randn(4, 784)
    assert torch.allclose(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-5)

    t = torch.tensor([-1000.0, -3.0, 0.0, 2.0, 1000.0], requires_grad=True)
    assert torch.equal(ReLU()(t), torch.relu(t))
    s = Sigmoid()(t)
    assert torch.allclose(s, torch.sigmoid(t), atol=1e-7)
    s.sum().backward()
    assert torch.isfinite(t.grad).all()
    assert torch.allclose(t.grad, torch.sigmoid(t) * (1 - torch.sigmoid(t)), atol=1e-7)


def test_custom_model_uses_no_torch_nn_layers():
    model = zoo.load("custom-layer", pretrained=False, device="cpu")
    kinds = {type(m) for m in model.modules()}
    assert not kinds & {torch.nn.Linear, torch.nn.ReLU, torch.nn.Sigmoid}
    assert Linear in kinds and ReLU in kinds and Sigmoid in kinds


def test_vae_samples_and_kl(mnist_batch):
    model = zoo.load("vae-16", pretrained=False, device="cpu")
    g = torch.Generator().manual_seed(1)
    samples = model.sample(5, generator=g)
    assert samples.shape == (5, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    out = model.loss(mnist_batch, mnist_batch, kind="bce")
    assert out.parts["kl"] >= 0
    expected = out.parts["recon"] + out.parts["kl"] / 784
    assert torch.allclose(out.loss.detach(), expected)
    model.eval()  # deterministic in eval mode: the posterior mean, no sampling
    assert torch.equal(model.loss(mnist_batch, mnist_batch).loss, model.loss(mnist_batch, mnist_batch).loss)


@pytest.mark.parametrize("channels", [[8], [8, 16], [8, 16, 32]])
def test_conv_depths_land_on_28x28(channels):
    model = build_model("ae", {"latent_dim": 5}, (1, 28, 28), {"type": "conv", "channels": channels})
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_register_family_refuses_a_duplicate_key():
    assert "ae" in FAMILIES
    with pytest.raises(zoo.ZooError, match="already registered"):
        register_family("ae", AEConfig)(type("Other", (), {}))
