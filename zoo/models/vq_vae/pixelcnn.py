"""A gated PixelCNN (van den Oord et al. 2016) over a grid of category indices: the VQ-VAE's prior over its
codes. Each position's distribution over the K codes is conditioned on the positions before it in raster
order (rows above, and the row's positions to the left), through a vertical and a horizontal stack of
masked convolutions, so the grid has no blind spot."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class GatedLayer(nn.Module):
    """One gated layer: ``first`` (mask A) does not see the position itself, later ones (mask B) see the
    horizontal stack's features of it, which only ever saw the positions before it."""

    def __init__(self, channels: int, kernel: int, *, first: bool):
        super().__init__()
        self.first, self.kernel = first, kernel
        half = kernel // 2
        self.vertical = nn.Conv2d(channels, 2 * channels, (half + 1, kernel), padding=(half, half))
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, half + 1), padding=(0, half))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        vmask, hmask = torch.ones(self.vertical.weight.shape), torch.ones(self.horizontal.weight.shape)  # factories:
        # on the meta device (parameter counts) torch's *_like run through slow Python reference kernels
        if first:  # the vertical stack sees only the rows above, the horizontal one only the positions to the left
            vmask[:, :, -1] = 0
            hmask[:, :, :, -1] = 0
        self.register_buffer("vmask", vmask, persistent=False)
        self.register_buffer("hmask", hmask, persistent=False)

    def forward(self, v: torch.Tensor, h: torch.Tensor):
        rows, cols = v.shape[-2:]
        v_out = F.conv2d(v, self.vertical.weight * self.vmask, self.vertical.bias,
                         padding=self.vertical.padding)[:, :, :rows]  # output row i: input rows i-k/2..i
        h_out = F.conv2d(h, self.horizontal.weight * self.hmask, self.horizontal.bias,
                         padding=self.horizontal.padding)[:, :, :, :cols]  # output column j: columns j-k/2..j
        h_gated = _gate(h_out + self.vertical_to_horizontal(v_out))
        h_next = self.out(h_gated)
        return _gate(v_out), (h_next if self.first else h_next + h)


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class PixelCNNPrior(nn.Module):
    """p(c) = prod_i p(c_i | c_<i) over an (H, W) grid of indices in 0..K-1."""

    def __init__(self, categories: int, grid: tuple, *, channels: int = 64, layers: int = 6):
        super().__init__()
        self.categories, self.grid = categories, tuple(grid)
        self.embedding = nn.Embedding(categories, channels)
        self.layers = nn.ModuleList([GatedLayer(channels, 5 if i == 0 else 3, first=i == 0) for i in range(layers)])
        self.head = nn.Sequential(nn.Conv2d(channels, 4 * channels, 1), nn.ReLU(), nn.Conv2d(4 * channels, categories, 1))

    def logits_of(self, embedded: torch.Tensor) -> torch.Tensor:
        """(N, K, H, W) logits from embedded indices (N, C, H, W): the differentiable path the tests probe."""
        v = h = embedded
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, K, H, W) logits of each position given the ones before it; ``codes`` (N, H, W) indices."""
        return self.logits_of(self.embedding(codes).permute(0, 3, 1, 2))

    def nll(self, codes: torch.Tensor) -> torch.Tensor:
        """-log p(codes) in nats, one per grid (N,)."""
        logits = self.forward(codes).float()
        return F.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None, device=None) -> torch.Tensor:
        """``n`` grids (n, H, W) drawn position by position in raster order."""
        rows, cols = self.grid
        codes = torch.zeros(n, rows, cols, dtype=torch.long, device=device)
        for i in range(rows):
            for j in range(cols):
                logits = self.forward(codes[:, :i + 1])[:, :, i, j]  # row i depends on rows <= i only: the rest is not run
                probs = torch.softmax(logits.float(), dim=1)
                codes[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return codes
