"""The VQ-VAE (``"vq-vae"``; van den Oord, Vinyals & Kavukcuoglu 2017): a network's grid encoder to a grid of
vectors (a 1x1 convolution to ``embedding_dim``), each snapped to its nearest codebook vector, the network's grid
decoder, and a PixelCNN prior over the grid of codebook indices trained as a second stage (``recipe.prior``).

The code: ``encode`` returns the codebook *indices*, one per grid position, ``(N, latent_dim)`` int64 in
raster order (``latent_dim`` = the grid's positions: 49 for 28 x 28 on two stride-2 stages); ``decode`` takes
such indices (integers, or floats holding integers) and ``quantized`` gives the codebook vectors. The codes are
discrete, so the ``gmm`` sampler does not apply; ``zoo sample`` draws index grids from the PixelCNN prior.

The codebook is not trained by the optimizer: it follows the encoder outputs assigned to each code by
exponential moving averages (the paper's appendix A.1), and a code whose moving-average use falls below
``restart_below`` vectors per batch restarts at a random encoder output of the batch (dead-code restarts, as
in Dhariwal et al. 2020). Its buffers are part of the weights, so a resumed run goes on bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UsageError
from ...networks import Network
from ...networks.layers import check_widths
from ...schema import require
from ..base import Autoencoder, LossOutput, reconstruction_loss
from ..config import check_optional_latent
from ..registry import register_family
from .pixelcnn import PixelCNNPrior

EPSILON = 1e-5  # Laplace smoothing of the codes' moving-average counts


@dataclass(frozen=True)
class VQVAEConfig:
    """Every setting has a default: the code's size is the network's grid (``latent_dim``, if given, is checked
    against it: 49 for 28 x 28 images on two stride-2 stages)."""

    latent_dim: Optional[int] = None
    embedding_dim: int = 16  # D: of each codebook vector
    codebook_size: int = 128  # K
    commitment_cost: float = 0.25  # beta: of |z_e - sg(e)|^2
    decay: float = 0.99  # of the codebook's moving averages
    restart_below: float = 1.0  # a code whose moving-average use falls below this (per batch) restarts at an encoder output
    prior_channels: int = 32  # of the PixelCNN prior's gated layers
    prior_layers: int = 6  # gated layers: the first a 5x5 mask-A layer, then 3x3 mask-B layers (6 see all of a 7x7 grid)

    def __post_init__(self):
        check_optional_latent(self.latent_dim)
        check_widths("embedding_dim", [self.embedding_dim])
        check_widths("prior_channels", [self.prior_channels])
        require(2 <= self.codebook_size <= 65536, "codebook_size", f"must be 2..65536, got {self.codebook_size}")
        require(self.commitment_cost >= 0, "commitment_cost", f"must be >= 0, got {self.commitment_cost}")
        require(0 < self.decay < 1, "decay", f"must be in (0, 1), got {self.decay}")
        require(self.restart_below >= 0, "restart_below", f"must be >= 0, got {self.restart_below}")
        require(1 <= self.prior_layers <= 32, "prior_layers", f"must be 1..32, got {self.prior_layers}")


class Codebook(nn.Module):
    """K vectors of D, updated by moving averages of the encoder outputs assigned to them (in training mode)."""

    def __init__(self, size: int, dim: int, *, decay: float, restart_below: float):
        super().__init__()
        self.decay, self.restart_below = decay, restart_below
        embed = torch.empty(size, dim).uniform_(-1.0 / size, 1.0 / size)
        self.register_buffer("embedding", embed)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embedding_sum", embed.clone())

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """The index of each row's nearest codebook vector (squared Euclidean distance)."""
        e = self.embedding
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)
        return distances.argmin(1)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, indices: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One moving-average step on the batch's encoder outputs ``flat`` (M, D) and their codes; then restart
        the dead codes. Returns the batch's perplexity, the share of codes it used and the codes restarted."""
        onehot = F.one_hot(indices, len(self.embedding)).to(flat.dtype)
        counts, sums = onehot.sum(0), onehot.T @ flat
        counts, sums = _all_reduce_sum(counts), _all_reduce_sum(sums)  # under torchrun: every rank's batch
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embedding_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + EPSILON) / (n + len(self.embedding) * EPSILON) * n
        self.embedding.copy_(self.embedding_sum / smoothed.unsqueeze(1))
        dead = self.cluster_size < self.restart_below
        # a candidate for every code, drawn each step from torch's generator (saved in the run's state): no host sync
        fresh = _broadcast(flat[torch.randint(0, len(flat), (len(self.embedding),), device=flat.device)])
        self.embedding.copy_(torch.where(dead.unsqueeze(1), fresh, self.embedding))
        self.embedding_sum.copy_(torch.where(dead.unsqueeze(1), fresh, self.embedding_sum))
        self.cluster_size.copy_(torch.where(dead, torch.ones_like(self.cluster_size), self.cluster_size))
        restarts = dead.sum()
        p = counts / counts.sum()
        perplexity = torch.exp(-(p * torch.log(p + 1e-10)).sum())
        return {"perplexity": perplexity, "usage": (counts > 0).float().mean(), "restarts": restarts.float()}


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(t)
    return t


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    """Rank 0's restart vectors on every rank (the codebooks stay identical)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast(t, 0)
    return t


@register_family("vq-vae", VQVAEConfig)
class VQVAE(Autoencoder):
    """The network's grid encoder and a 1x1 convolution to D channels, quantized, and the network's grid
    decoder to a sigmoid image. Loss: reconstruction + beta * |z_e - sg(e)|^2, straight-through."""

    network_kind = "grid"
    default_network = "resnet"
    samplers = ("prior",)
    default_sampler = "prior"
    generative = True
    code_kind = "codebook indices"
    code_prior = True

    def __init__(self, config: VQVAEConfig, image_shape: Sequence[int], network: Network):
        super().__init__(config, image_shape, network)
        c, h, w = self.image_shape
        body = network.grid_encoder(self.image_shape)
        self.grid = body.grid
        positions = self.grid[0] * self.grid[1]
        require(config.latent_dim in (None, positions), "latent_dim",
                f"must be the code grid's positions, {self.grid[0]}x{self.grid[1]} = {positions} "
                f"for {h}x{w} images on this network, got {config.latent_dim}")
        self.set_latent_dim(positions)
        self.encoder = nn.Sequential(*body.layers, nn.Conv2d(body.channels, config.embedding_dim, 1))
        self.decoder = nn.Sequential(*network.grid_decoder(config.embedding_dim, self.image_shape, c))
        self.codebook = Codebook(config.codebook_size, config.embedding_dim, decay=config.decay,
                                 restart_below=config.restart_below)
        self.prior = PixelCNNPrior(config.codebook_size, self.grid, channels=config.prior_channels,
                                   layers=config.prior_layers)
        self.register_buffer("prior_trained", torch.zeros((), dtype=torch.uint8))  # set by the prior stage

    # ------------------------------------------------------------------ the code
    def _quantize(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(encoder output (N, D, h, w) in float32, indices (N, h*w))."""
        z_e = self.encoder(x).float()
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        return z_e, self.codebook.nearest(flat).view(-1, self.latent_dim)  # no len(x): exports keep a dynamic batch

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The codebook index of each grid position, (N, latent_dim) int64 in raster order."""
        return self._quantize(x)[1]

    def quantized(self, codes: torch.Tensor) -> torch.Tensor:
        """The codebook vectors of index codes (N, latent_dim), as the decoder's input (N, D, h, w). Integers, or
        floats holding integers (what ``encode_all`` gives); anything else is refused in one line."""
        if not torch.jit.is_tracing():
            self._check_codes(codes)
        idx = codes.round().long() if codes.is_floating_point() else codes.long()
        vectors = self.codebook.embedding[idx]  # (N, h*w, D)
        return vectors.view(-1, *self.grid, self.config.embedding_dim).permute(0, 3, 1, 2)

    def _check_codes(self, codes: torch.Tensor) -> None:
        top = self.config.codebook_size - 1
        what = f"a VQ-VAE code is (N, {self.latent_dim}) codebook indices in 0..{top}"
        if not isinstance(codes, torch.Tensor) or codes.dtype == torch.bool or codes.is_complex():
            raise UsageError(f"{what}, got {type(codes).__name__ if not isinstance(codes, torch.Tensor) else codes.dtype}")
        if codes.dim() != 2 or codes.shape[1] != self.latent_dim:
            raise UsageError(f"{what}, got shape {tuple(codes.shape)}")
        if not codes.numel():
            return
        if codes.is_floating_point():
            if not torch.isfinite(codes).all():
                raise UsageError(f"{what}, got NaN or infinite values")
            if (codes != codes.round()).any():
                raise UsageError(f"{what}, got values that are not whole numbers (such as "
                                 f"{float(codes[codes != codes.round()][0]):g})")
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high > top:
            raise UsageError(f"a VQ-VAE code is an index in 0..{top}, got {low}..{high}")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.quantized(z)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The code as vectors: each position's codebook vector, (N, D * h * w) floats. The continuous view of
        the code that the latent scatter projects, the linear probe reads and the interpolation walks (each of
        its points snapped to the codebook again by ``decode_features``)."""
        return self.quantized(self.encode(x)).flatten(1)

    def decode_features(self, f: torch.Tensor) -> torch.Tensor:
        """Images from vectors (N, D * h * w) as ``features`` gives them, each position snapped to its nearest
        codebook vector first."""
        z_e = f.view(-1, self.config.embedding_dim, self.latent_dim).transpose(1, 2).reshape(-1, self.config.embedding_dim)
        return self.decode(self.codebook.nearest(z_e).view(-1, self.latent_dim))

    def trained_parameters(self) -> Iterator[nn.Parameter]:
        """What the training stage's optimizer trains: all but the prior (the prior stage trains that)."""
        return (p for name, p in self.named_parameters() if not name.startswith("prior."))

    def loss(self, x: torch.Tensor, target: torch.Tensor, *, kind: str = "mse") -> LossOutput:
        z_e, idx = self._quantize(x)
        e = self.quantized(idx)
        if self.training:
            stats = self.codebook.update(z_e.detach().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1]), idx.flatten())
        else:
            stats = _stats(idx.flatten(), self.config.codebook_size)
        commitment = F.mse_loss(z_e, e.detach())
        recon = reconstruction_loss(torch.sigmoid(self.decoder(z_e + (e - z_e).detach())), target, kind)  # straight through
        loss = recon + self.config.commitment_cost * commitment
        return LossOutput(loss, {"recon": recon.detach(), "commitment": commitment.detach(), **stats})

    # ------------------------------------------------------------------ the prior
    def prior_loss(self, codes: torch.Tensor) -> torch.Tensor:
        """Mean -log p(codes) of the PixelCNN prior over (N, latent_dim) index codes, in nats per grid."""
        return self.prior.nll(codes.view(len(codes), *self.grid)).mean()

    def sample_prior(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` index codes (n, latent_dim) drawn from the PixelCNN prior."""
        if not int(self.prior_trained):
            raise UsageError("this VQ-VAE's code prior was never trained (its recipe's prior stage did not run): "
                             "train it with recipe.prior.epochs >= 1 to sample")
        return self.prior.sample(n, generator=generator, device=self.device).flatten(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return self.decode(self.sample_prior(n, generator))


def _stats(indices: torch.Tensor, size: int) -> Dict[str, torch.Tensor]:
    """The batch's perplexity and code usage without touching the codebook (eval mode)."""
    counts = torch.bincount(indices, minlength=size).float()
    p = counts / counts.sum()
    return {"perplexity": torch.exp(-(p * torch.log(p + 1e-10)).sum()), "usage": (counts > 0).float().mean(),
            "restarts": torch.zeros((), device=indices.device)}
