"""The ``zoo`` command line: list, info, train.

Every error reaches the user as one line on stderr, without a traceback: exit status 2 for usage
errors (unknown names, bad flag values), 1 for everything else (bad data, a diverged run).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import click

from .cli_options import DEVICE_OPTION, FORMAT_OPTION, LIMIT_OPTION, QUIET_OPTION, THREADS_HELP, threads_option
from .cli_plot import plot_group
from .cli_sample import sample_command
from .cli_sweep import sweep_command
from .console import ZooGroup
from .data import image_shape
from .errors import UsageError
from .evaluation.results import ALL_METRICS, EVAL_METRICS, SORTABLE, compare, compare_columns, eval_rows
from .recipe import OVERRIDES, parse_setting
from .registry import get_entry, list_models
from .reporting.model_figures import write_comparison
from .reporting.tables import render
from .schema import SchemaError
from .training.distributed import from_env
from .training.run import train
from .version import __version__
from .weights import has_weights, shipped_weights


@click.group("zoo", cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
@click.option("--registry", "registries", multiple=True, type=click.Path(dir_okay=False),
              help="A registry file of your own entries, data sets and plugins, layered over the built-in one "
                   "(repeatable; added to $ZOO_REGISTRY).")
def main(registries: tuple) -> None:
    """zoo: trained autoencoders for MNIST-like data."""
    if registries:  # in the environment, so that torchrun's ranks and subprocesses see them too
        paths = [p for p in os.environ.get("ZOO_REGISTRY", "").split(os.pathsep) if p]
        os.environ["ZOO_REGISTRY"] = os.pathsep.join([*paths, *(str(Path(r).resolve()) for r in registries)])


def model_summary(name: str) -> dict:
    """The facts ``zoo list`` shows for one entry (parameters counted on a built model)."""
    entry = get_entry(name)
    return {
        "name": name,
        "dataset": entry.dataset,
        "family": entry.family,
        "network": entry.network_type,
        "latent_dim": entry.latent_dim,
        "params": entry.num_parameters(image_shape(entry.dataset)),
        "weights": has_weights(name),
        "description": entry.description,
    }


@main.command("list", short_help="the models in the registry")
@click.argument("pattern", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(pattern: Optional[str], fmt: str) -> None:
    """List registry models, optionally matching a wildcard PATTERN (e.g. 'deep-*')."""
    names = list_models(pattern)
    if not names and pattern:
        raise click.UsageError(f"No model matches {pattern!r}; run 'zoo list' to see them all")
    rows = [model_summary(n) for n in names]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        row["latent"] = row["latent_dim"]
    click.echo(render(rows, ["name", "dataset", "family", "network", "latent", "params", "weights"]))


@main.command("info", short_help="one registry entry in full")
@click.argument("name")
def info_command(name: str) -> None:
    """Show NAME's registry entry in full (JSON), with its parameter count and weights status."""
    entry = get_entry(name)
    summary = model_summary(name)
    data = {"name": name, **entry.to_dict(), "params": summary["params"]}
    data["weights"] = str(shipped_weights(name)) if summary["weights"] else None
    click.echo(json.dumps(data, indent=2))


def recipe_overrides(command: Callable) -> Callable:
    """One click option per recipe override (zoo.recipe.OVERRIDES), in the table's order."""
    for o in reversed(OVERRIDES):
        kind = click.IntRange if o.type is int else click.FloatRange
        extra = {"min_open": True} if o.min_open else {}
        command = click.option(o.flag, o.name, type=kind(min=o.minimum, max=o.maximum, **extra), help=o.help)(command)
    return command


@main.command("train", short_help="train NAME with its recipe")
@click.argument("name")
@recipe_overrides
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder [default: runs/NAME].")
@click.option("--resume", is_flag=True, help="Continue the run saved in the run folder.")
@click.option("--force", is_flag=True, help="Train into a folder that holds files that are not a zoo run's.")
@click.option("--dataset", help="Train on this data set instead of the entry's: a name, or the path of an image "
                                "folder or an .npz.")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also save the resumable state every this many steps (0: at epoch ends only).")
@click.option("--limit-batches", type=click.IntRange(min=1), help="At most this many batches per epoch (smoke tests).")
@click.option("--quiet", is_flag=True, help="No progress bar and no per-epoch lines.")
@click.option("--amp", is_flag=True, help="bf16 autocast for the training forward pass (CUDA, or CPUs with bf16).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step (slow first steps).")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP + "; a resumed run: the count it recorded")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Any recipe field by its dotted path, e.g. --set early_stopping.patience=10 (VALUE as JSON, "
                   "else a string); repeatable.")
def train_command(name: str, out: Optional[str], quiet: bool, compile_: bool, settings: Tuple[str, ...],
                  threads: Optional[int], **options: Any) -> None:
    """Train NAME with its registry recipe; flags override the recipe.

    The run folder (runs/NAME by default) ends up holding model.safetensors (best weights by
    validation loss), reconstructions.png, losses.png, metrics.json, config.json, TensorBoard
    events and the resumable state. Interrupted runs continue with --resume.

    Under torchrun (torchrun --nproc_per_node N -m zoo train NAME) it trains with DDP, each rank
    taking batch / N of every batch; rank 0 writes the run folder.
    """
    try:
        parsed = dict(parse_setting(text) for text in settings)
    except SchemaError as exc:
        raise UsageError(f"--set {exc}") from None
    summary = train(name, out=out, quiet=quiet, compile=compile_, settings=parsed, threads=threads or "auto", **options)
    if not quiet and from_env().is_main:  # under torchrun rank 0 speaks for all
        click.echo(
            f"{summary['name']}: best val loss {summary['best_val_loss']:.6f} at epoch {summary['best_epoch']}, "
            f"test MSE {summary['test_mse']:.6f}; {summary['stop_reason']}; saved {summary['run_dir']}/model.safetensors"
        )




@main.command("eval", short_help="one model's test metrics beside PCA")
@click.argument("target", metavar="NAME|PATH")
@click.option("--metric", "-m", "metrics", type=click.Choice(list(EVAL_METRICS)), multiple=True,
              help="Metric to report (repeatable) [default: mse, psnr, ssim, bce]; nll: the importance-sampled "
                   "negative log-likelihood in nats per test image, with the ELBO and bits/dim (a likelihood model: Bernoulli "
                   "on mnist-binary, or of 8-bit pixels on any data).")
@FORMAT_OPTION
@click.option("--probe", is_flag=True, help="Also the linear-probe accuracy of the codes (and of PCA codes).")
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="PCA of the same size beside the model.")
@LIMIT_OPTION
@DEVICE_OPTION
@click.option("--dataset", help="Evaluate on this data set (a name or a path) [default: the model's own].")
@click.option("--samples", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Importance samples per image for --metric nll (above 100,000 only with --force).")
@click.option("--force", is_flag=True, help="Run --metric nll with more than 100,000 samples per image.")
@threads_option
def eval_command(target: str, metrics: tuple, fmt: str, probe: bool, baseline: bool, limit: Optional[int],
                 device: str, dataset: Optional[str], samples: int, force: bool) -> None:
    """Evaluate one model (registry name, weights file or run folder) on its test split."""
    metrics = metrics or ALL_METRICS
    rows = eval_rows(target, metrics=metrics, limit=limit, probe=probe, baseline=baseline, device=device,
                     dataset=dataset, samples=samples, force=force, say=lambda line: click.echo(line, err=True))
    columns = ["name", "task", "dataset", "latent_dim", "params", "n", *metrics]
    columns += ["elbo", "bits_per_dim"] if "nll" in metrics else []
    click.echo(render(rows, columns + (["probe_accuracy"] if probe else []), fmt))


@main.command("compare", short_help="every trained model, best first")
@click.argument("names", nargs=-1, metavar="[NAME|PATH]...")
@click.option("--metric", "--sort", "metric", type=click.Choice(SORTABLE), default="ssim", show_default=True,
              help="Sort by this column, best first (lower first but for psnr, ssim and elbo).")
@FORMAT_OPTION
@click.option("--wide", is_flag=True, help="Every column in the table (JSON and CSV always have them all).")
@click.option("--out", type=click.Path(file_okay=False), help="Also write a bar chart and a side-by-side figure here.")
@LIMIT_OPTION
@DEVICE_OPTION
@click.option("--samples", type=click.IntRange(min=1),
              help="Importance samples per image of the nll and elbo columns [default: a card's 5000 where a shipped "
                   "card serves, else 100]; the nll_k column says which.")
@click.option("--remeasure", is_flag=True, help="Measure every model now: neither the cards nor the cache.")
@QUIET_OPTION
@threads_option
def compare_command(names: tuple, metric: str, fmt: str, wide: bool, out: Optional[str], limit: Optional[int],
                    device: str, samples: Optional[int], remeasure: bool, quiet: bool) -> None:
    """Compare every model with weights (or those named) beside PCA of the same code size.

    A shipped entry's row comes from its card (the weights' SHA-256 checked) and a row measured before from the
    cache ($ZOO_CACHE_DIR/measurements); the source column says which. Progress goes to stderr, the table to
    stdout."""
    rows = compare(list(names) or None, metric=metric, limit=limit, device=device, samples=samples,
                   reuse=not remeasure, progress=None if quiet else progress_line)
    click.echo(render(rows, compare_columns(metric, wide or fmt in ("json", "csv")), fmt))
    if out:
        for path in write_comparison(rows, metric, out, device=device):
            click.echo(f"wrote {path}", err=True)


@main.command("report", short_help="a page of every model, for a browser")
@click.argument("targets", nargs=-1, metavar="[NAME|PATH]...")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for index.html.")
@click.option("--force", is_flag=True, help="Overwrite the index.html of a folder that exists.")
@QUIET_OPTION
@threads_option
def report_command(targets: tuple, out: str, force: bool, quiet: bool) -> None:
    """A static page of every model with weights (or those named) that opens from disk, no server."""
    from .reporting.report import build_report

    page = build_report(list(targets), Path(out), force=force, progress=None if quiet else progress_line)
    click.echo(f"wrote {page}")


def progress_line(line: str) -> None:
    click.echo(line, err=True)


@main.command("export", short_help="ONNX, TorchScript or Hugging Face folder, checked")
@click.argument("target", metavar="NAME|PATH")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript", "hf"]), default="onnx", show_default=True,
              help="hf: a Hugging Face Hub repository folder (weights, config.json, figures, model card).")
@click.option("--part", type=click.Choice(["full", "encoder", "decoder"]), default="full", show_default=True,
              help="The autoencoder, its encoder (images to codes) or its decoder (codes to images).")
@click.option("--out", required=True, help="The file to write (--format hf: the folder).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-5, show_default=True,
              help="Largest difference from torch allowed on the check images.")
@click.option("--force", is_flag=True, help="Overwrite the --out file if it exists.")
@threads_option
def export_command(target: str, fmt: str, part: str, out: str, tolerance: float, force: bool) -> None:
    """Export a model to ONNX or TorchScript, checked on real test images before it is written, or as a Hub repository."""
    from .export import export

    if fmt == "hf":
        from .hub import export_hf

        if part != "full":
            raise UsageError("--format hf exports the whole model; drop --part")
        click.echo(f"wrote {export_hf(target, out, force=force)}")
        return
    result = export(target, out, format=fmt, part=part, tolerance=tolerance, force=force)
    click.echo(f"wrote {result['path']} ({fmt}, {part}): max abs difference from torch {result['max_abs_diff']:.3g} "
               f"on {result['images']} test images")


@main.command("push", short_help="upload a model to the Hugging Face Hub")
@click.argument("target", metavar="NAME|PATH")
@click.option("--repo", required=True, help="The Hub repository, OWNER/NAME (created if it does not exist).")
@click.option("--private", is_flag=True, help="Create the repository private.")
def push_command(target: str, repo: str, private: bool) -> None:
    """Upload a model to the Hugging Face Hub as zoo export --format hf writes it (login first: hf auth login)."""
    from .hub import push

    click.echo(f"pushed {target} to {push(target, repo, private=private)}")


main.add_command(plot_group)
main.add_command(sweep_command)
main.add_command(sample_command)
