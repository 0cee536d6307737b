"""``zoo sample``: images drawn from a model by a sampler (``prior``, ``gmm``), as a grid PNG and, with
``--save-tensor``, as one (N, C, H, W) float tensor in [0, 1] in a safetensors file."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import click

from .cli_options import DEVICE_OPTION
from .errors import UsageError, shown

GRID_MAX = 1024  # the grid shows at most this many of the samples


@click.command("sample")
@click.argument("target", metavar="NAME|PATH")
@click.option("--n", "n", type=int, default=64, show_default=True, help="Samples to draw.")
@click.option("--sampler", type=click.Choice(["prior", "gmm"]), help="[default: the model's own, its card says which]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The grid, a PNG file.")
@click.option("--save-tensor", type=click.Path(dir_okay=False), help="Also the N samples as one tensor in a safetensors file.")
@DEVICE_OPTION
def sample_command(target: str, n: int, sampler: Optional[str], seed: int, out: str, save_tensor: Optional[str],
                   device: str) -> None:
    """Draw N images from NAME|PATH with a sampler; a grid PNG (and the tensor)."""
    from .evaluation.sampling import default_sampler, model_name, sample
    from .figures import image_grid, save_grid
    from .io import atomic_save_safetensors
    from .weights import load

    if not out.lower().endswith(".png"):
        raise UsageError(f"--out names a PNG file, got {shown(out)}")
    if save_tensor is not None and not save_tensor.endswith(".safetensors"):
        raise UsageError(f"--save-tensor names a .safetensors file, got {shown(save_tensor)}")
    model = load(target, device=device)
    used = sampler or default_sampler(model)
    images = sample(model, n, sampler=sampler, seed=seed, say=lambda line: click.echo(line, err=True))
    shown_n = min(n, GRID_MAX)
    for path in (out, save_tensor):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_grid(out, image_grid(images[:shown_n], nrow=max(1, math.ceil(math.sqrt(shown_n)))))
    click.echo(f"wrote {out}: {shown_n} of {n} samples of {model_name(model)} ({used} sampler, seed {seed})")
    if save_tensor is not None:
        meta = {"zoo.model": model_name(model), "zoo.sampler": used, "zoo.seed": str(seed),
                "zoo.shape": json.dumps(list(images.shape))}
        atomic_save_safetensors(save_tensor, {"samples": images}, meta)
        click.echo(f"wrote {save_tensor}: samples {tuple(images.shape)}, float32 in [0, 1]")
