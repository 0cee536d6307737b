"""The ``zoo`` command line: list, info, train.

Every error reaches the user as one line on stderr, without a traceback: exit status 2 for usage
errors (unknown names, bad flag values), 1 for everything else (bad data, a diverged run).
"""
from __future__ import annotations

import json
import sys
from typing import Any, List, Optional

import click

from . import __version__
from .errors import ZooError

_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class ZooGroup(click.Group):
    """A click group whose errors are one line each (click's own usage errors included)."""

    def main(self, args: Optional[List[str]] = None, prog_name: Optional[str] = None, **extra: Any) -> Any:
        try:
            result = super().main(args=args, prog_name=prog_name or "zoo", standalone_mode=False, **extra)
        except click.exceptions.Abort:
            _fail("aborted", 130)
        except _NO_ARGS_IS_HELP as exc:  # plain `zoo` (click >= 8.2): show help, as click does
            click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            _fail(exc.format_message() + hint, exc.exit_code)
        except ZooError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        if isinstance(result, int):
            sys.exit(result)
        return result


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
def main() -> None:
    """zoo: trained autoencoders for MNIST-like data.

    \b
    zoo list                 the models in the registry
    zoo info NAME            one registry entry in full
    zoo train NAME           train NAME with its recipe
    """


def _table(rows: List[List[str]], header: List[str], right: tuple = ()) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def model_summary(name: str) -> dict:
    """The facts ``zoo list`` shows for one entry (parameters counted on a built model)."""
    from .registry import get_entry
    from .weights import has_weights

    entry = get_entry(name)
    return {
        "name": name,
        "dataset": entry.dataset,
        "architecture": entry.architecture,
        "latent_dim": entry.latent_dim,
        "params": entry.build().num_parameters(),
        "weights": has_weights(name),
        "description": entry.description,
    }


@main.command("list")
@click.argument("pattern", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_command(pattern: Optional[str], fmt: str) -> None:
    """List registry models, optionally matching a wildcard PATTERN (e.g. 'deep-*')."""
    from .registry import list_models

    names = list_models(pattern)
    if not names and pattern:
        raise click.UsageError(f"No model matches {pattern!r}; run 'zoo list' to see them all")
    rows = [model_summary(n) for n in names]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    header = ["name", "dataset", "architecture", "latent", "params", "weights"]
    body = [
        [r["name"], r["dataset"], r["architecture"], r["latent_dim"], f"{r['params']:,}", "yes" if r["weights"] else "no"]
        for r in rows
    ]
    click.echo(_table(body, header, right=(3, 4)))


@main.command("info")
@click.argument("name")
def info_command(name: str) -> None:
    """Show NAME's registry entry in full (JSON), with its parameter count and weights status."""
    from .registry import get_entry
    from .weights import shipped_weights

    entry = get_entry(name)
    summary = model_summary(name)
    data = {"name": name, **entry.to_dict(), "params": summary["params"]}
    data["weights"] = str(shipped_weights(name)) if summary["weights"] else None
    click.echo(json.dumps(data, indent=2))


@main.command("train")
@click.argument("name")
@click.option("--epochs", type=click.IntRange(min=1), help="Most epochs (overrides the recipe).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size (overrides the recipe).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate (overrides the recipe).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for weights, data order and noise.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder [default: runs/NAME].")
@click.option("--resume", is_flag=True, help="Continue the run saved in the run folder.")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also save the resumable state every this many steps (0: at epoch ends only).")
@click.option("--patience", type=click.IntRange(min=1), help="Early-stopping patience in epochs.")
@click.option("--min-delta", type=click.FloatRange(min=0), help="Smallest validation-loss drop that counts.")
@click.option("--limit-batches", type=click.IntRange(min=1), help="At most this many batches per epoch (smoke tests).")
@click.option("--quiet", is_flag=True, help="No progress bar and no per-epoch lines.")
def train_command(name: str, out: Optional[str], quiet: bool, **options: Any) -> None:
    """Train NAME with its registry recipe; flags override the recipe.

    The run folder (runs/NAME by default) ends up holding model.safetensors (best weights by
    validation loss), reconstructions.png, losses.png, metrics.json, config.json, TensorBoard
    events and the resumable state. Interrupted runs continue with --resume.
    """
    from .runs import train

    summary = train(name, out=out, quiet=quiet, **options)
    if not quiet:
        click.echo(
            f"{summary['name']}: best val loss {summary['best_val_loss']:.6f} at epoch {summary['best_epoch']}, "
            f"test MSE {summary['test_mse']:.6f}; {summary['stop_reason']}; saved {summary['run_dir']}/model.safetensors"
        )
