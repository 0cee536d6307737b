"""``zoo sweep``: a hyperparameter search on Optuna (one worker per command; start the same command anywhere
that reaches the storage to add workers), its best trial, and the best values exported as an entry."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .cli_options import DEVICE_OPTION
from .errors import UsageError, shown


@click.command("sweep", short_help="a hyperparameter search on Optuna")
@click.argument("name")
@click.option("--study", required=True, help="The study's name (workers with the same name and storage share it).")
@click.option("--storage", metavar="URL", help="Optuna storage URL, e.g. postgresql://USER@HOST/DB for many machines "
                                               "[default: sqlite:///DIR/study.db].")
@click.option("--trials", type=int, help="Complete trials the study should hold (its total over every worker).")
@click.option("--param", "params", multiple=True, metavar="KEY=SPEC",
              help="A recipe field and its range: log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or choice:A,B,C (repeatable).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Sweep folder [default: runs/sweeps/STUDY].")
@click.option("--epochs", type=int, help="Epochs per trial [default: the recipe's].")
@click.option("--limit-batches", type=int, help="At most this many batches per epoch in each trial.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid"]), default="tpe", show_default=True)
@click.option("--pruner", type=click.Choice(["median", "hyperband", "none"]), default="median", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), help="Seed this worker's sampler (give each worker its own: "
                                                          "workers with one seed propose the same values).")
@click.option("--threads", type=int, help="Torch threads per trial [default: the cores over this machine's workers].")
@DEVICE_OPTION
@click.option("--heartbeat", type=int, default=60, show_default=True,
              help="Seconds between a trial's heartbeats; a trial silent for twice that is retried.")
@click.option("--best", is_flag=True, help="Show the study's best trial and stop (no training).")
@click.option("--export-entry", "export", type=click.Path(dir_okay=False),
              help="With --best: write the best values as an entry of this registry file.")
@click.option("--entry-name", help="The exported entry's name [default: NAME-STUDY].")
@click.option("--force", is_flag=True, help="Replace an entry of the same name in the --export-entry file.")
@click.option("--quiet", is_flag=True, help="No line per trial, no final table.")
def sweep_command(name: str, study: str, storage: Optional[str], trials: Optional[int], params: Tuple[str, ...],
                  out: Optional[str], epochs: Optional[int], limit_batches: Optional[int], sampler: str, pruner: str,
                  seed: Optional[int], threads: Optional[int], device: str, heartbeat: int, best: bool,
                  export: Optional[str], entry_name: Optional[str], force: bool, quiet: bool) -> None:
    """Search NAME's recipe over the --param ranges on Optuna; each trial is a zoo run folder."""
    from . import sweeps
    from .sweeps.space import parse_param
    from .sweeps.study import dumps

    if best or export:
        if trials is not None or params:
            raise UsageError("--best reads the study: drop --trials and --param")
        made = sweeps.load_study(study, storage=storage, out=out)
        saved = made.user_attrs.get("zoo.sweep", {})
        if saved.get("name") not in (None, name):
            raise UsageError(f"the study {study!r} sweeps {saved['name']}, not {name}")
        top = sweeps.best_trial(made)
        written = sweeps.export_entry(made, export, entry_name=entry_name, force=force) if export else None
        click.echo(f"best trial {top.number}: {top.value:.6f} ({dumps(top.params)})")
        click.echo(f"run folder: {shown(top.user_attrs.get('run_dir', '-'))}")
        if written:
            click.echo(f"wrote entry {written!r} to {export}")
        return
    if trials is None or not params:
        raise UsageError("zoo sweep needs --trials N and at least one --param KEY=SPEC (or --best)")
    if entry_name or force:
        raise UsageError(f"{'--entry-name' if entry_name else '--force'} goes with --export-entry")
    space = {}
    for text in params:
        p = parse_param(text)
        if p.key in space:
            raise UsageError(f"--param {p.key} is given twice")
        space[p.key] = p
    made = sweeps.sweep(name, params=space, trials=trials, study=study, storage=storage, out=out, epochs=epochs,
                        limit_batches=limit_batches, sampler=sampler, pruner=pruner, seed=seed, threads=threads,
                        device=device, heartbeat=heartbeat, log=None if quiet else click.echo)
    if not quiet:
        click.echo("")
        for line in sweeps.table(made):
            click.echo(line)
        top = sweeps.best_trial(made)
        click.echo(f"best trial {top.number}: {top.value:.6f} ({dumps(top.params)}); {shown(top.user_attrs.get('run_dir'))}")
