"""Input corruption for denoising: seeded, of the right strength, and validated in the registry."""
from __future__ import annotations

import pytest
import torch

from zoo.noise import corrupt
from zoo.recipe import Noise
from zoo.schema import SchemaError, from_dict


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_is_seeded_clipped_and_of_the_right_strength():
    x = torch.full((256, 1, 28, 28), 0.5)
    noise = Noise("gaussian", std=0.1)
    a, b = corrupt(x, noise, gen()), corrupt(x, noise, gen())
    assert torch.equal(a, b) and not torch.equal(a, corrupt(x, noise, gen(1)))
    assert (a - x).std().item() == pytest.approx(0.1, rel=0.02)
    strong = corrupt(x, Noise("gaussian", std=2.0), gen())
    assert strong.min() == 0 and strong.max() == 1
    assert corrupt(x, Noise("gaussian", std=2.0, clip=False), gen()).max() > 1


def test_blind_gaussian_draws_one_level_per_image():
    x = torch.full((2000, 1, 28, 28), 0.5)
    noisy = corrupt(x, Noise("gaussian", std=0.4, std_min=0.0, clip=False), gen())
    levels = (noisy - x).flatten(1).std(1)
    assert levels.min() < 0.03 and levels.max() > 0.37  # spread over [0, 0.4]
    assert levels.mean().item() == pytest.approx(0.2, abs=0.02)  # uniform: mean 0.2
    assert Noise("gaussian", std=0.4, std_min=0.0).hardest() == Noise("gaussian", std=0.4)


def test_masking_and_salt_pepper_fractions():
    x = torch.full((64, 1, 28, 28), 0.5)
    masked = corrupt(x, Noise("masking", p=0.3), gen())
    assert (masked == 0).double().mean().item() == pytest.approx(0.3, abs=0.01)
    sp = corrupt(x, Noise("salt_pepper", p=0.2), gen())
    assert (sp == 0).double().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (sp == 1).double().mean().item() == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("data, words", [
    ({"type": "gaussian", "std": 0.5, "std_min": 0.6}, "std_min"),
    ({"type": "gaussian", "std": 0.5, "p": 0.1}, "does not apply"),
    ({"type": "masking", "p": 0.2, "std_min": 0.1}, "does not apply"),
    ({"type": "blur"}, "one of"),
])
def test_noise_validation(data, words):
    with pytest.raises(SchemaError, match=words):
        from_dict(Noise, data)
