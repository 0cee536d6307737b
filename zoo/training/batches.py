"""The training data on the training device: uint8 splits, the seeded order of each epoch, batches."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch

from ..data import checksums, image_shape, load_dataset, to_float
from ..errors import DataError, option
from ..seeds import derive_seed
from ..sources.idx import binarized_from

PREVIEW = 16  # test images shown in reconstructions.png and TensorBoard


class DeviceData:
    """``fit``, ``val`` and ``test`` of a data set as uint8 on ``device``: batches become floats there.
    ``PREVIEW`` test images (fewer if the test split is smaller) are shown in figures.

    ``limit_batches`` cuts every epoch to that many batches, and validation and test to as many
    images as that many batches hold (smoke tests).
    """

    def __init__(self, dataset: str, device: torch.device, *, batch_size: int, seed: int,
                 limit_batches: Optional[int] = None, stream: tuple = ()):
        self.dataset, self.batch_size, self.seed, self.limit_batches = dataset, batch_size, seed, limit_batches
        grey = binarized_from(dataset)
        self.fit = load_dataset(grey or dataset, "fit").images.to(device)  # a binarized set: its grey images...
        self.generator: Optional[torch.Generator] = None  # ...binarized afresh at every step from this generator
        if grey:
            self.generator = torch.Generator(device=device).manual_seed(derive_seed(seed, "binarize", *stream))
        self.sha256 = checksums(dataset)  # of the content just read
        self.steps_per_epoch = self.steps(batch_size)
        eval_limit = limit_batches * batch_size if limit_batches else None
        self.val = load_dataset(dataset, "val").images[:eval_limit].to(device)
        self.test = load_dataset(dataset, "test").images[:eval_limit].to(device)
        self.preview = to_float(self.test[:PREVIEW])
        self.image_shape = image_shape(dataset)  # (C, H, W): what the model is built for

    def steps(self, batch_size: int) -> int:
        """Batches of ``batch_size`` in an epoch of the fit split (at most ``limit_batches``)."""
        n_steps = math.ceil(len(self.fit) / batch_size)
        return min(n_steps, self.limit_batches) if self.limit_batches else n_steps

    def order(self, epoch: int, purpose: tuple = ("order",)) -> torch.Tensor:
        """The permutation of the fit split used in ``epoch`` of training, or of another ``purpose`` (a
        pretraining layer's); a function of seed, purpose and epoch only."""
        g = torch.Generator().manual_seed(derive_seed(self.seed, *purpose, epoch))
        return torch.randperm(len(self.fit), generator=g).to(self.fit.device)

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """The fit images ``idx`` as floats (N, C, H, W) in [0, 1]; for a binarized data set (``mnist-binary``)
        each pixel drawn anew as 0 or 1 with its grey value as probability (dynamic binarization)."""
        x = to_float(self.fit[idx])
        return torch.bernoulli(x, generator=self.generator) if self.generator is not None else x

    def batch(self, order: torch.Tensor, step: int) -> torch.Tensor:
        """Indices of the ``step``-th global batch of an epoch in ``order``."""
        return order[step * self.batch_size : (step + 1) * self.batch_size]

    # ------------------------------------------------------------------ a part of the run's state
    def state_dict(self) -> Dict[str, Any]:
        """What each epoch's order is a function of, and the content it was drawn from."""
        return {"dataset": self.dataset, "sha256": self.sha256, "fit": len(self.fit), "seed": self.seed,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Refuse to resume on other data than the run was saved on (a changed file, another split)."""
        if state["sha256"] != self.sha256 or state["fit"] != len(self.fit):
            def digest(sums: Dict[str, str]) -> str:
                return ", ".join(f"{k} {v[:12]}" for k, v in sorted(sums.items()))
            raise DataError(f"the data set {state['dataset']} changed since this run was saved (SHA-256 then: "
                            f"{digest(state['sha256'])}; now: {digest(self.sha256)}); a resumed run must see the same "
                            f"data: restore it, or train again into another {option('--out')}")
