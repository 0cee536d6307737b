"""Image-quality metrics, per image and batched on the images' device.

Every function takes ``(N, C, H, W)`` tensors in ``[0, 1]`` (reconstruction first, target second
where it matters) and returns one value per image, shape ``(N,)``, in float64.

SSIM follows Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, and
population (not sample) covariances. The mean is taken over the pixels whose window lies wholly
inside the image, which is what scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`` reports after cropping its border. Colour
images are scored per channel and averaged. Images smaller than the window use the largest odd
window that fits (``ssim_any_size``, what the ``"ssim"`` metric is).
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple

import torch


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"metrics need two (N, C, H, W) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel, per image."""
    _check(recon, target)
    return (recon.double() - target.double()).pow(2).flatten(1).mean(1)


def psnr(recon: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image (a perfect copy is capped at 100 dB)."""
    return 10 * torch.log10(data_range**2 / mse(recon, target).clamp_min(data_range**2 * 1e-10))


def bce(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per pixel, per image (logs clamped at -100, as torch's BCELoss).

    ``recon`` is clipped to [0, 1] first, so unbounded reconstructions (PCA's) have a BCE too.
    """
    _check(recon, target)
    p, t = recon.double().clamp(0, 1), target.double()
    loss = -(t * torch.log(p).clamp_min(-100) + (1 - t) * torch.log1p(-p).clamp_min(-100))
    return loss.flatten(1).mean(1)


def gaussian_window(size: int = 11, sigma: float = 1.5, *, device=None) -> torch.Tensor:
    """The normalised 1-d Gaussian of ``size`` taps (scipy.ndimage's kernel for that radius)."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _band(n: int, size: int, sigma: float, device) -> torch.Tensor:
    """``(n - size + 1, n)`` matrix whose rows are the window at each valid offset: A @ z is a 1-d blur."""
    g = gaussian_window(size, sigma, device=device)
    out = torch.zeros(n - size + 1, n, dtype=torch.float64, device=device)
    for i in range(n - size + 1):
        out[i, i : i + size] = g
    return out


def ssim(recon: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0, size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean structural similarity per image (Wang et al. 2004)."""
    _check(recon, target)
    h, w = recon.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"SSIM's {size}x{size} window does not fit {h}x{w} images")
    rows, cols = _band(h, size, sigma, recon.device), _band(w, size, sigma, recon.device)

    def blur(z: torch.Tensor) -> torch.Tensor:  # separable and 'valid': windows wholly inside
        return rows @ z @ cols.T

    x, y = recon.double(), target.double()
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


def ssim_any_size(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`ssim` with the standard 11x11 window, or for images smaller than that (8x8 digits) the
    largest odd window that fits, with the same sigma (as scikit-image's ``win_size`` advice)."""
    h, w = recon.shape[-2:]
    size = min(11, min(h, w) if min(h, w) % 2 else min(h, w) - 1)
    if size < 3:
        raise ValueError(f"SSIM needs images of at least 3x3, got {h}x{w}")
    return ssim(recon, target, size=size)


class Metric(NamedTuple):
    fn: Callable[..., torch.Tensor]
    higher_is_better: bool
    label: str


METRICS: Dict[str, Metric] = {
    "mse": Metric(mse, False, "MSE per pixel"),
    "psnr": Metric(psnr, True, "PSNR (dB)"),
    "ssim": Metric(ssim_any_size, True, "SSIM"),
    "bce": Metric(bce, False, "BCE per pixel"),
}
