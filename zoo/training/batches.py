"""The training data on the training device: uint8 splits, the seeded order of each epoch, batches."""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..data import load_dataset, to_float
from ..seeds import derive_seed

PREVIEW = 16  # test images shown in reconstructions.png and TensorBoard


class DeviceData:
    """``fit``, ``val`` and ``test`` of a data set as uint8 on ``device``: batches become floats there.
    ``PREVIEW`` test images (fewer if the test split is smaller) are shown in figures.

    ``limit_batches`` cuts every epoch to that many batches, and validation and test to as many
    images as that many batches hold (smoke tests).
    """

    def __init__(self, dataset: str, device: torch.device, *, batch_size: int, seed: int,
                 limit_batches: Optional[int] = None):
        self.batch_size, self.seed, self.limit_batches = batch_size, seed, limit_batches
        self.fit = load_dataset(dataset, "fit").images.to(device)
        self.steps_per_epoch = self.steps(batch_size)
        eval_limit = limit_batches * batch_size if limit_batches else None
        self.val = load_dataset(dataset, "val").images[:eval_limit].to(device)
        self.test = load_dataset(dataset, "test").images[:eval_limit].to(device)
        self.preview = to_float(self.test[:PREVIEW])
        self.image_shape = tuple(self.preview.shape[1:])  # (C, H, W): what the model is built for

    def steps(self, batch_size: int) -> int:
        """Batches of ``batch_size`` in an epoch of the fit split (at most ``limit_batches``)."""
        n_steps = math.ceil(len(self.fit) / batch_size)
        return min(n_steps, self.limit_batches) if self.limit_batches else n_steps

    def order(self, epoch: int, purpose: tuple = ("order",)) -> torch.Tensor:
        """The permutation of the fit split used in ``epoch`` of training, or of another ``purpose`` (a
        pretraining layer's); a function of seed, purpose and epoch only."""
        g = torch.Generator().manual_seed(derive_seed(self.seed, *purpose, epoch))
        return torch.randperm(len(self.fit), generator=g).to(self.fit.device)

    def batch(self, order: torch.Tensor, step: int) -> torch.Tensor:
        """Indices of the ``step``-th global batch of an epoch in ``order``."""
        return order[step * self.batch_size : (step + 1) * self.batch_size]
