"""Hyperparameter sweeps on Optuna: ``zoo.sweep`` (the CLI's ``zoo sweep``), ``best_trial`` and ``export_entry``.

A trial is a zoo run folder (``<folder>/trial-NNNN``) trained by ``zoo.train`` with the trial's values as recipe
settings; its value is the run's best validation loss. The study lives in an Optuna storage: an SQLite file in
the sweep folder unless ``storage`` names another (``postgresql://...`` for workers on many machines).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ..data import dataset_info
from ..entries import NAME_RE, parse_entry
from ..errors import UsageError, checked_call, option, shown
from ..io import atomic_write_json, loads_json
from ..registry import get_entry, list_models
from ..threads import Workers
from . import study as studies
from .space import applied, parse_space
from .worker import Worker, check_trials, table, trial_line  # noqa: F401

STUDY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def sweep_folder(study: str, out: Union[str, Path, None]) -> Path:
    if not isinstance(study, str) or not STUDY_RE.match(study):
        raise UsageError(f"--study must be a plain name (letters, digits, '.', '_', '-'), got {study!r}")
    return Path(out) if out is not None else Path("runs") / "sweeps" / study


def _storage_url(folder: Path, storage: Optional[str], create: bool) -> str:
    if storage is not None:
        if not isinstance(storage, str) or "://" not in storage:
            raise UsageError(f"--storage must be a database URL (sqlite:///FILE, postgresql://USER@HOST/DB), got {storage!r}")
        return storage
    if not (folder / "study.db").is_file() and not create:
        raise UsageError(f"{shown(folder)} holds no study (no study.db); give its --storage, or run the sweep first")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot make the sweep folder {shown(folder)}: {exc.strerror or exc}") from None
    return studies.default_storage(folder)


@checked_call
def sweep(name: str, *, params: Mapping[str, str], trials: int, study: Optional[str] = None,
          storage: Optional[str] = None, out: Union[str, Path, None] = None, epochs: Optional[int] = None,
          limit_batches: Optional[int] = None, sampler: str = "tpe", pruner: str = "median", seed: Optional[int] = None,
          threads: Optional[int] = None, device: str = "auto", heartbeat: int = 60,
          log: Optional[Callable[[str], None]] = None):
    """Search ``name``'s recipe over ``params`` until the study holds ``trials`` complete trials; returns the
    ``optuna.Study``.

    Args:
        name: a registry name (``"fashion-64"``) or an entry of a registry file of yours.
        params: ``{KEY: SPEC}``: a recipe field (``lr``, ``batch_size``, ``early_stopping.patience``,
            ``optimizer_kwargs.weight_decay``...) and ``log:LOW:HIGH``, ``float:LOW:HIGH``, ``int:LOW:HIGH`` or
            ``choice:A,B,C``, checked by the recipe's schema.
        trials: complete trials the study should hold (the study's total over every worker, not this call's);
            pruned and failed trials do not count.
        study: the study's name (default ``name``); ``storage``: an Optuna storage URL (default an SQLite file,
            ``<out>/study.db``); ``out``: the sweep folder (default ``runs/sweeps/<study>``), one run folder per trial.
        epochs: the trials' epochs (default the recipe's).
        limit_batches: the trials' batches per epoch (default all).
        sampler: ``"tpe"``, ``"random"`` or ``"grid"`` (choice: and int: specs only); ``seed`` seeds it.
        pruner: ``"median"`` (from the second epoch, once two trials are complete), ``"hyperband"`` or ``"none"``.
        threads: torch threads per trial (default: this machine's cores over the sweep's live workers on it).
        device: as ``zoo.train``'s. ``heartbeat``: seconds between a running trial's heartbeats; a trial silent
            for twice that is failed and retried (at most 3 times), resuming its run folder where it is here.
        log: called with one line per finished trial (default: nothing is printed).
    """
    studies.optuna()  # a missing Optuna is one line before anything else
    entry = get_entry(name)
    space = parse_space(params, entry.recipe, name)
    trials = check_trials(trials, space, sampler)
    if epochs is not None and "epochs" in space:
        raise UsageError("epochs is swept by --param and fixed by --epochs; give one")
    for flag, value in (("--epochs", epochs), ("--limit-batches", limit_batches), ("--threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{flag} must be a whole number >= 1, got {value!r}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise UsageError(f"--heartbeat must be a whole number of seconds >= 1, got {heartbeat!r}")
    dataset_info(entry.dataset)  # missing or damaged data: one line before the study is touched
    study = name if study is None else study
    folder = sweep_folder(study, out)
    if isinstance(storage, str) and "://" in storage:
        studies.check_url(storage, create=True)  # a study in memory: refused before the sweep folder is made
    wanted = studies.definition(name, space, epochs, limit_batches, sampler)
    url = _storage_url(folder, storage, create=True)
    with Workers(folder / "workers") as workers:  # counted by the machine's other workers from now on
        made = studies.open_study(study, studies.open_storage(url, heartbeat=heartbeat), url, wanted=wanted,
                                  sampler=studies.make_sampler(sampler, space, seed),
                                  pruner=studies.make_pruner(pruner, epochs or entry.recipe.epochs))
        Worker(entry, made, space, trials=trials, folder=folder, epochs=epochs, limit_batches=limit_batches,
               device=device, threads=threads, say=log or (lambda line: None)).run(workers)
    return made


def load_study(study: str, *, storage: Optional[str] = None, out: Union[str, Path, None] = None):
    """The sweep ``study`` as it stands (read only)."""
    folder = sweep_folder(study, out)
    url = _storage_url(folder, storage, create=False)
    return studies.open_study(study, studies.open_storage(url, heartbeat=None, create=False), url)


def _registry_document(path: Path) -> Dict[str, Any]:
    """The registry file at ``path`` as JSON (a new one where it does not exist), checked for its shape only:
    nothing it names is imported. A path that is not a regular file (a FIFO would block) is refused."""
    if not path.exists():
        if path.is_symlink() or path.parent.is_file():
            raise UsageError(f"--export-entry {shown(path)} cannot be written there")
        return {"version": 1, "models": {}}
    if not path.is_file():
        raise UsageError(f"--export-entry {shown(path)} is not a regular file; name a registry file (.json)")
    try:
        document = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        reason = "it is not valid JSON" if isinstance(exc, ValueError) else str(exc)
        raise UsageError(f"--export-entry adds to a registry file, and {shown(path)} cannot be read: {reason}"[:300]) from None
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("models", {}), dict):
        raise UsageError(f'--export-entry adds to a registry file, and {shown(path)} is not one '
                         f'({{"version": 1, "models": {{...}}}})')
    document.setdefault("models", {})
    return document


def best_trial(made):
    """The study's best complete trial (a ``FrozenTrial``); a study with none is a UsageError."""
    complete = [t for t in made.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        raise UsageError(f"the study {made.study_name!r} has no complete trial yet")
    return min(complete, key=lambda t: (t.value, t.number))


def export_entry(made, file: Union[str, Path], *, entry_name: Optional[str] = None, force: bool = False) -> str:
    """Write the best trial's values as an entry of the registry file ``file`` (added to the file when it exists;
    the entry keeps the swept entry's full recipe, its epochs included, with the best values set); returns the
    entry's name, which then trains with ``zoo --registry FILE train NAME``. An entry of that name already in
    the file is replaced only with ``force``. The file is read as JSON and nothing it names is imported (its
    ``"plugins"`` are not run: writing JSON runs no code); only a regular file is written."""
    saved: Dict[str, Any] = made.user_attrs.get(studies.DEFINITION) or {}
    if "name" not in saved:
        raise UsageError(f"the study {made.study_name!r} was not made by zoo sweep")
    best = best_trial(made)
    base = get_entry(saved["name"])
    new_name = entry_name or re.sub(r"[^a-z0-9._-]+", "-", f"{saved['name']}-{made.study_name}".lower())[:64]
    if not NAME_RE.match(new_name):
        raise UsageError(f"--entry-name must be a zoo name (lower-case letters, digits, '.', '_', '-'), got {new_name!r}")
    data = base.with_recipe(applied(base.recipe, best.params)).to_dict()
    data["description"] = (f"{saved['name']} with the best values of sweep {made.study_name!r} (trial {best.number}, "
                           f"validation loss {best.value:.6f}: {studies.dumps(best.params)})")
    path = Path(file)
    document = _registry_document(path)
    if new_name in document["models"] and not force:
        raise UsageError(f"{shown(path)} already has an entry {new_name!r}; pass {option('--force', 'force=True')} to "
                         f"replace it, or name the new one with {option('--entry-name', 'entry_name')}")
    if new_name in list_models() and new_name not in document["models"]:
        raise UsageError(f"{new_name!r} is already a zoo name; pass --entry-name")
    document["models"][new_name] = data
    parse_entry(new_name, data, source=str(path))  # what zoo --registry will read of it
    try:
        atomic_write_json(path, document)
    except OSError as exc:
        raise UsageError(f"cannot write {shown(path)}: {exc.strerror or exc}") from None
    return new_name
