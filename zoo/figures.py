"""Figures: functions that return a tensor grid or a matplotlib Figure, and thin atomic savers.

No pyplot: figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, so nothing
depends on a display or on global state.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Sequence, Union

import torch

from .io import atomic_write_bytes


def reconstruction_grid(rows: Sequence[torch.Tensor], *, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Stack image bands (originals first, then e.g. noisy inputs, then reconstructions) into one grid.

    Each band is ``(N, 1, 28, 28)`` in ``[0, 1]`` with the same N; every band starts on a new row.
    """
    from torchvision.utils import make_grid

    if not rows:
        raise ValueError("reconstruction_grid needs at least one band of images")
    shapes = {tuple(r.shape) for r in rows}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4:
        raise ValueError(f"every band must be (N, C, H, W) of one shape, got {sorted(shapes)}")
    if rows[0].shape[0] % nrow:
        raise ValueError(f"band size {rows[0].shape[0]} is not a multiple of nrow={nrow}")
    images = torch.cat([r.detach().float().cpu().clamp(0, 1) for r in rows])
    return make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)


def _png_bytes_of_tensor(grid: torch.Tensor) -> bytes:
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return buffer.getvalue()


def save_grid(path: Union[str, Path], grid: torch.Tensor) -> None:
    """Write an image grid as PNG, atomically."""
    atomic_write_bytes(path, _png_bytes_of_tensor(grid))


def loss_figure(history: List[Dict[str, float]], *, title: str = "", best_epoch: int | None = None):
    """Train and validation loss per epoch on a log scale (a matplotlib Figure)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", ms=3, label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", ms=3, label="validation")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best (epoch {best_epoch})")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_figure(path: Union[str, Path], fig) -> None:
    """Render a matplotlib Figure to PNG and write it atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
