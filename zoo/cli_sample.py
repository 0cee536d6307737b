"""``zoo sample``: images drawn from a model by a sampler (``prior``, ``gmm``), as a grid PNG and, with
``--save-tensor``, as one (N, C, H, W) float tensor in [0, 1] in a safetensors file."""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import List, Optional

import click
import torch

from .cli_options import DEVICE_OPTION, threads_option
from .errors import UsageError, shown

GRID_MAX = 1024  # the grid shows at most this many of the samples


@click.command("sample", short_help="images drawn by a sampler (prior, gmm)")
@click.argument("target", metavar="NAME|PATH")
@click.option("--n", "n", type=int, default=64, show_default=True, help="Samples to draw.")
@click.option("--sampler", type=click.Choice(["prior", "gmm"]), help="[default: the model's own, its card says which]")
@click.option("--seed", type=int, default=0, show_default=True, help="Of the draws: 0..2**63 - 1.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The grid, a PNG file.")
@click.option("--save-tensor", type=click.Path(dir_okay=False), help="Also the N samples as one tensor in a safetensors file.")
@click.option("--force", is_flag=True, help="Replace --out and --save-tensor files that exist.")
@DEVICE_OPTION
@threads_option
def sample_command(target: str, n: int, sampler: Optional[str], seed: int, out: str, save_tensor: Optional[str],
                   force: bool, device: str) -> None:
    """Draw N images from NAME|PATH with a sampler; a grid PNG (and the tensor).

    The samples are decoded a thousand at a time: the grid keeps its (at most 1,024) images, the tensor file is
    written as they come, so memory stays bounded for any N."""
    from .evaluation.sampling import check_request, model_name, sample_chunks
    from .figures import image_grid, save_grid
    from .io import atomic_stream_safetensors, output_file
    from .weights import load

    if not out.lower().endswith(".png"):
        raise UsageError(f"--out names a PNG file, got {shown(out)}")
    if save_tensor is not None and not save_tensor.endswith(".safetensors"):
        raise UsageError(f"--save-tensor names a .safetensors file, got {shown(save_tensor)}")
    model = load(target, device=device)
    used = check_request(model, n, sampler=sampler, seed=seed)
    for flag, path in (("--out", out), ("--save-tensor", save_tensor)):
        if path is not None:
            output_file(path, force, flag=flag)
    chunks = sample_chunks(model, n, sampler=sampler, seed=seed, say=lambda line: click.echo(line, err=True))
    shown_n = min(n, GRID_MAX)
    kept: List = []

    def grid_kept(stream):
        """Pass the chunks on, keeping the grid's first images."""
        for chunk in stream:
            have = sum(len(c) for c in kept)
            if have < shown_n:
                kept.append(chunk[:shown_n - have].clone())
            yield chunk

    if save_tensor is not None:
        first = next(chunks)
        shape = (n, *first.shape[1:])
        meta = {"zoo.model": model_name(model), "zoo.sampler": used, "zoo.seed": str(seed), "zoo.shape": json.dumps(list(shape))}
        atomic_stream_safetensors(save_tensor, "samples", shape, grid_kept(itertools.chain([first], chunks)), meta)
    else:
        for _ in grid_kept(chunks):
            if sum(len(c) for c in kept) >= shown_n:
                break
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_grid(out, image_grid(torch.cat(kept)[:shown_n], nrow=max(1, math.ceil(math.sqrt(shown_n)))))
    click.echo(f"wrote {out}: {shown_n} of {n} samples of {model_name(model)} ({used} sampler, seed {seed})")
    if save_tensor is not None:
        click.echo(f"wrote {save_tensor}: samples {shape}, float32 in [0, 1]")

