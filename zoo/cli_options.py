"""Options that several ``zoo`` commands share."""
from __future__ import annotations

import functools

import click

from .evaluation.metrics import METRICS
from .reporting.tables import FORMATS

METRIC_CHOICE = click.Choice(list(METRICS))
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
LIMIT_OPTION = click.option("--limit", type=click.IntRange(min=1), help="Only the first N test images [default: all].")
DEVICE_OPTION = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
QUIET_OPTION = click.option("--quiet", is_flag=True, help="No progress lines on stderr.")

THREADS_HELP = ("Torch threads [default: this process's share of the cores it may use: all of them, or fewer while "
                "other zoo commands run]")


def threads_option(command):
    """``--threads N`` on a command: torch's thread count set before it runs (default: zoo.threads.share())."""

    @functools.wraps(command)
    def run(*args, threads=None, **kwargs):
        use_threads(threads)
        return command(*args, **kwargs)

    return click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)(run)


def use_threads(threads=None) -> None:
    """Torch's threads: ``threads``, or the ``zoo`` command's share (zoo.threads.share; in-process callers keep
    theirs)."""
    from .threads import share

    n = threads or share()
    if n is not None:
        import torch

        torch.set_num_threads(n)
