"""Metrics against independent implementations: scikit-image (SSIM, PSNR), numpy and torch (MSE, BCE)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from zoo.evaluation.metrics import bce, mse, psnr, ssim


def _pairs(batch: torch.Tensor):
    """Real images against several kinds of damage: noise, blur, shift, darkening, themselves."""
    g = torch.Generator().manual_seed(0)
    noisy = (batch + 0.25 * torch.randn(batch.shape, generator=g)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(batch, 3, stride=1, padding=1)
    shifted = torch.roll(batch, shifts=(2, -1), dims=(2, 3))
    return {"noisy": noisy, "blurred": blurred, "shifted": shifted, "dark": batch * 0.5, "same": batch.clone()}


@pytest.mark.parametrize("which", ["mnist_batch", "fashion_batch"])
def test_ssim_matches_scikit_image_per_image(which, request):
    target = request.getfixturevalue(which)
    for kind, recon in _pairs(target).items():
        ours = ssim(recon, target).numpy()
        theirs = np.array([
            structural_similarity(r[0].double().numpy(), t[0].double().numpy(), data_range=1, gaussian_weights=True,
                                  sigma=1.5, use_sample_covariance=False)
            for r, t in zip(recon, target)
        ])
        assert np.abs(ours - theirs).max() < 1e-4, kind
        if kind == "same":
            assert np.allclose(ours, 1.0)


def test_psnr_mse_bce_match_independent_formulas(mnist_batch):
    target = mnist_batch
    recon = _pairs(target)["noisy"].clamp(1e-4, 1 - 1e-4)
    t, r = target.double().numpy()[:, 0], recon.double().numpy()[:, 0]
    assert np.allclose(mse(recon, target).numpy(), ((r - t) ** 2).mean(axis=(1, 2)))
    theirs = [peak_signal_noise_ratio(a, b, data_range=1) for a, b in zip(t, r)]
    assert np.allclose(psnr(recon, target).numpy(), theirs)
    torch_bce = torch.nn.functional.binary_cross_entropy(recon.double(), target.double(), reduction="none").mean((1, 2, 3))
    assert torch.allclose(bce(recon, target), torch_bce)
    assert np.allclose(bce(recon, target).numpy(), -(t * np.log(r) + (1 - t) * np.log(1 - r)).mean(axis=(1, 2)))


def test_edge_cases(mnist_batch):
    assert torch.all(psnr(mnist_batch, mnist_batch) == 100)  # a perfect copy is capped, not infinite
    assert torch.isfinite(bce(torch.zeros_like(mnist_batch), mnist_batch)).all()  # logs clamped
    with pytest.raises(ValueError, match="one shape"):
        ssim(mnist_batch, mnist_batch[:, :, :20])
    with pytest.raises(ValueError, match="does not fit"):
        ssim(mnist_batch[:, :, :8, :8], mnist_batch[:, :, :8, :8])
