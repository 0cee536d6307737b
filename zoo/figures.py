"""Figures: functions that return a tensor grid or a matplotlib Figure, and thin atomic savers.

No pyplot: figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, so nothing
depends on a display or on global state.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch

from .io import atomic_write_bytes


def reconstruction_grid(rows: Sequence[torch.Tensor], *, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Stack image bands (originals first, then e.g. noisy inputs, then reconstructions) into one grid.

    Each band is ``(N, C, H, W)`` in ``[0, 1]`` with the same N; every band starts on a new row.
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


def image_grid(images: torch.Tensor, *, nrow: int, padding: int = 2) -> torch.Tensor:
    """Any number of images ``(N, C, H, W)`` in ``[0, 1]``, ``nrow`` a row (the last row may be short)."""
    from torchvision.utils import make_grid

    if images.dim() != 4 or not len(images):
        raise ValueError(f"image_grid needs images (N, C, H, W) with N >= 1, got {tuple(images.shape)}")
    return make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)


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


def _grid_image(images: torch.Tensor, nrow: int) -> torch.Tensor:
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    return grid[0] if images.shape[1] == 1 else grid.permute(1, 2, 0)  # grey (H, W) or colour (H, W, 3)


def image_rows_figure(rows: List[tuple], *, title: str = ""):
    """One labelled row of images per ``(label, images (N, C, H, W))``, e.g. original vs each model."""
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("image_rows_figure needs at least one row")
    n = rows[0][1].shape[0]
    fig = Figure(figsize=(1.0 + 0.6 * n, 0.75 * len(rows) + 0.5), dpi=100)
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, images) in zip(axes, rows):
        ax.imshow(_grid_image(images, nrow=n).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_figure(names: List[str], values: List[float], baselines: Optional[List[float]], *, label: str,
               title: str = ""):
    """Horizontal bars of a metric per model, each with its PCA baseline beside it (where there is one)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.45 * len(names) + 1.2), dpi=100)
    ax = fig.add_subplot()
    ys = list(range(len(names)))
    ax.barh([y - 0.2 for y in ys], values, height=0.4, label="model")
    if baselines is not None:
        ax.barh([y + 0.2 for y in ys], baselines, height=0.4, label="PCA, same code size", color="lightgrey")
    ax.set_yticks(ys, names)
    ax.invert_yaxis()  # best (first) at the top, each model's bar above its baseline
    ax.set_xlabel(label)
    ax.set_title(title)
    fig.legend(loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def scatter_figure(points: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], *, title: str = "",
                   xlabel: str = "", ylabel: str = ""):
    """A 2-d scatter coloured by class."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 5.5), dpi=100)
    ax = fig.add_subplot()
    pts, lab = points.detach().double().cpu().numpy(), labels.cpu().numpy()
    cmap = __import__("matplotlib").colormaps["tab10"]
    for c, name in enumerate(classes):
        mask = lab == c
        ax.scatter(pts[mask, 0], pts[mask, 1], s=3, color=cmap(c), label=name, alpha=0.7, linewidths=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(markerscale=4, fontsize=7, loc="best")
    fig.tight_layout()
    return fig
