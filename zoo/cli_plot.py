"""``zoo plot``: figures of a model or a data set, each written as a PNG beside the run it shows (a run folder
or weights file), under ``runs/plots/`` for a registry name or a data set, or to ``--out``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click
import torch

from .cli_options import DEVICE_OPTION
from .errors import UsageError, shown
from .figures import save_figure, save_grid
from .io import output_file
from .recipe import MAX_SEED
from .reporting.model_figures import dataset_grid, digit_grid, interpolation_grid, latent_figure, samples_grid
from .weights import load

PLOTS_DIR = Path("runs") / "plots"  # where figures of registry names and data sets go without --out


@click.group("plot", short_help="latent space, samples, digits, data set")
def plot_group() -> None:
    """Figures: latent space, samples, a chosen digit, the data set, interpolation."""


def _check_out(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """A --out given: a PNG, and not a file that exists unless --force (processed first: it is eager)."""
    if value is None:
        return value
    if not value.lower().endswith(".png"):
        raise UsageError(f"--out names a PNG file, got {shown(value)}")
    output_file(value, bool(ctx.meta.get("zoo.force")))
    return value


def _out_option(func):
    func = click.option("--out", type=click.Path(dir_okay=False), callback=_check_out,
                        help="PNG file to write [default: beside the run, or runs/plots/NAME-KIND.png].")(func)
    return click.option("--force", is_flag=True, is_eager=True, expose_value=False,
                        callback=lambda ctx, param, value: ctx.meta.__setitem__("zoo.force", value),
                        help="Replace an --out file that exists.")(func)


OUT_OPTION = _out_option


def default_path(target: str, kind: str) -> Path:
    """Beside the run: in a run folder, or the folder of a weights file; else under runs/plots/."""
    given = Path(target)
    stem = f"{given.name if given.suffix != '.safetensors' else given.parent.name}-{kind}.png"
    if given.is_dir():
        return given / stem
    if given.is_file():
        return given.parent / stem
    return PLOTS_DIR / f"{given.name}-{kind}.png"


def _write_png(target: str, kind: str, out: Optional[str], figure_or_grid: Any) -> None:
    path = Path(out) if out else default_path(target, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(figure_or_grid, torch.Tensor):
        save_grid(path, figure_or_grid)
    else:
        save_figure(path, figure_or_grid)
    click.echo(f"wrote {path}")


def _load(target: str, device: str):
    return load(target, device=device)


@plot_group.command("latent")
@click.argument("target", metavar="NAME|PATH")
@click.option("--method", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True,
              help="Projection to 2-d for wider codes.")
@click.option("--limit", type=click.IntRange(min=10), default=5000, show_default=True, help="Test images plotted.")
@OUT_OPTION
@DEVICE_OPTION
def plot_latent(target: str, method: str, limit: int, out: Optional[str], device: str) -> None:
    """Test codes in 2-d, coloured by label."""
    _write_png(target, "latent", out, latent_figure(_load(target, device), method=method, limit=limit))


@plot_group.command("samples")
@click.argument("target", metavar="NAME|PATH")
@click.option("--n", type=click.IntRange(min=1, max=1024), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True)
@OUT_OPTION
@DEVICE_OPTION
def plot_samples(target: str, n: int, seed: int, out: Optional[str], device: str) -> None:
    """Images decoded from the prior (variational models)."""
    _write_png(target, "samples", out, samples_grid(_load(target, device), n=n, seed=seed))


@plot_group.command("digit")
@click.argument("target", metavar="NAME|PATH")
@click.option("--digit", type=int, required=True, help="Class to show (0-9).")
@click.option("--n", type=click.IntRange(min=1, max=64), default=8, show_default=True)
@OUT_OPTION
@DEVICE_OPTION
def plot_digit(target: str, digit: int, n: int, out: Optional[str], device: str) -> None:
    """Test images of one class above their reconstructions."""
    _write_png(target, f"digit{digit}", out, digit_grid(_load(target, device), digit, n=n))


@plot_group.command("dataset")
@click.argument("dataset")
@click.option("--n", type=click.IntRange(min=1, max=32), default=5, show_default=True, help="Grid side.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True)
@OUT_OPTION
def plot_dataset(dataset: str, n: int, seed: int, out: Optional[str]) -> None:
    """An n x n grid of training images."""
    _write_png(dataset, "grid", out, dataset_grid(dataset, n=n, seed=seed))


@plot_group.command("interpolate")
@click.argument("target", metavar="NAME|PATH")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="Test image index.")
@click.option("--end", type=click.IntRange(min=0), default=1, show_default=True, help="Test image index.")
@click.option("--steps", type=click.IntRange(min=2, max=64), default=10, show_default=True)
@OUT_OPTION
@DEVICE_OPTION
def plot_interpolate(target: str, start: int, end: int, steps: int, out: Optional[str], device: str) -> None:
    """Decodings along the line between two test images' codes."""
    _write_png(target, "interpolation", out, interpolation_grid(_load(target, device), start=start, end=end, steps=steps))
