"""Options that several ``zoo`` commands share."""
from __future__ import annotations

import click

from .evaluation.metrics import METRICS
from .reporting.tables import FORMATS

METRIC_CHOICE = click.Choice(list(METRICS))
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
LIMIT_OPTION = click.option("--limit", type=click.IntRange(min=1), help="Only the first N test images [default: all].")
DEVICE_OPTION = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
QUIET_OPTION = click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
