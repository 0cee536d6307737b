"""``zoo.train``: a registry entry, the caller's overrides and a run folder, handed to the Trainer.

Rank 0 reads the run folder and decides (a fresh run, a resumed one, or an error); under torchrun
the other ranks receive its decision, so no rank but 0 needs to see the folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch

from ..data import canonical, dataset_info
from ..devices import resolve_device
from ..errors import UsageError, ZooError, checked_call, option, option_value, setting, shown
from ..io import atomic_write_json
from ..recipe import OVERRIDE_NAMES, OVERRIDE_PATHS, OVERRIDES, Recipe
from ..registry import Entry, get_entry, looks_like_path, parse_entry
from ..schema import SchemaError
from ..sources.cache import remember_named
from ..threads import for_run
from ..weights import WEIGHTS_FILE
from . import checkpoint, distributed, runfolder
from .logger import RunLogger
from .objectives import check_phases
from .options import RunOptions
from .progress import saved_progress
from .stopping import StopReason
from .trainer import Trainer


@checked_call
def train(
    name: str,
    *,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    lr: Optional[float] = None,
    seed: Optional[int] = None,
    patience: Optional[int] = None,
    min_delta: Optional[float] = None,
    pretrain_epochs: Optional[int] = None,
    device: str = "auto",
    out: Union[str, Path, None] = None,
    resume: bool = False,
    force: bool = False,
    dataset: Optional[str] = None,
    checkpoint_every: int = 0,
    limit_batches: Optional[int] = None,
    log_every: int = 50,
    quiet: bool = False,
    log: Optional[Callable[[str], None]] = None,
    amp: bool = False,
    compile: bool = False,
    settings: Optional[Mapping[str, Any]] = None,
    on_epoch: Optional[Callable[[Dict[str, Any]], Any]] = None,
    threads: Union[int, str, None] = None,
) -> Dict[str, Any]:
    """Train registry entry ``name``; returns the run's summary (also written to metrics.json).

    Args:
        name: a registry name, e.g. ``"deep-784-32"``.
        epochs: the recipe's epochs, overridden (each override below too; None keeps the recipe's).
        batch_size: the recipe's batch size.
        lr: the recipe's learning rate.
        seed: the recipe's seed.
        patience: the recipe's early-stopping patience.
        min_delta: the recipe's early-stopping min_delta.
        pretrain_epochs: epochs per layer of the recipe's pretraining stage; 0 skips it (refused without one).
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        out: the run folder (default ``runs/<name>``).
        resume: continue the run saved in ``out`` (a folder without state starts from the beginning).
        force: train into ``out`` even when it holds files that are not a zoo run's.
        dataset: train the entry's architecture and recipe on this data set instead: a name (built-in
            or declared in a registry file) or the path of an image folder or an .npz.
        checkpoint_every: also save the resumable state every this many steps (0: epoch ends only).
        limit_batches: train (and evaluate) on at most this many batches per epoch: smoke tests.
        log_every: steps between reads of the loss from the device (progress, TensorBoard).
        quiet: print nothing (no progress bar, no per-epoch lines).
        log: called with each progress line instead of the ``zoo`` logger (``logging``).
        amp: bf16 autocast for the training forward pass (CUDA, or a CPU with bf16); part of the
            run's trajectory, so a resumed run keeps it.
        compile: ``torch.compile`` the training step (first steps slower while it compiles).
        settings: any recipe field by its dotted path, e.g. ``{"early_stopping.patience": 10}`` or
            ``{"scheduler": None}`` (the CLI's ``--set KEY=VALUE``), validated like registry.json; a path
            that a named override also sets (``lr``, ``early_stopping.patience``...) counts as that override.
        on_epoch: called (on rank 0) with each epoch's record (``epoch``, ``train_loss``, ``val_loss``, ``lr``,
            ``seconds``...) after its validation; a true return value stops the run there, its state saved and
            its best weights written as for any finished run (``stop_reason`` says so). A sweep's pruner uses it.
        threads: torch's threads for the run, restored after it (None: the caller's; ``"auto"``: a resumed run's
            recorded count, else the zoo command's share of the cores: zoo.threads.for_run).

    Under ``torchrun`` (WORLD_SIZE > 1 in the environment) the run trains with
    DistributedDataParallel across the ranks; see the README.
    """
    given = locals()
    overrides, settings, via_set = _split_settings({o: given[o] for o in OVERRIDE_NAMES}, settings)
    entry = get_entry(name)
    if dataset is not None:
        entry = entry.with_dataset(canonical(dataset))
        if entry.dataset != dataset or looks_like_path(dataset):  # a path the user named: its runs may read it again
            remember_named(entry.dataset)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise UsageError(f"out must be a folder path, got {out!r}")
    base_device = resolve_device(device)  # refuse a bad device before the run folder is touched
    dataset_info(entry.dataset)  # and bad data: read (and cached for the trainer) before anything is written
    run_dir = Path(out) if out is not None else Path("runs") / name
    dist_ = distributed.from_env()
    chosen = for_run(threads, run_dir / "config.json" if resume else None)
    options = RunOptions(device=device, checkpoint_every=checkpoint_every, limit_batches=limit_batches,
                         log_every=log_every, amp=amp, compile=compile, world_size=dist_.world_size,
                         threads=chosen or torch.get_num_threads())
    if amp and not _autocast_available(base_device.type):
        amp_ = option("--amp", "amp=True")
        raise UsageError(f"{amp_} needs autocast on {base_device.type}, which this torch does not have; drop {amp_}")
    train_device = distributed.rank_device(dist_, base_device)
    created = distributed.init(dist_, train_device)
    ok: Optional[bool] = None  # None: an unexpected error (see distributed.shutdown)
    before = torch.get_num_threads()
    if chosen is not None:
        torch.set_num_threads(chosen)
    held: List[Any] = []  # rank 0's lock on the run folder, open until the run ends
    try:
        say = RunLogger(run_dir, log=log)
        decided, tensors = distributed.decide_on_main(dist_, train_device, lambda: _prepare(
            name, entry, run_dir, resume, force, overrides, settings, options, say.warning, held, dataset is not None,
            via_set))
        entry = parse_entry(name, decided["entry"], source=f"{run_dir} (from rank 0)")
        state = (tensors, decided["info"]) if decided["info"] is not None else None
        trainer = Trainer(entry, out=run_dir, options=_on(options, train_device), quiet=quiet, log=log, dist=dist_,
                          on_epoch=on_epoch)
        if resume and state is None:
            trainer.logger.line(f"no saved state in {run_dir}: starting from the beginning")
        summary = trainer.fit(state)
        ok = True
        return summary
    except ZooError:
        ok = False
        raise
    finally:
        for handle in held:
            if handle is not None:
                handle.close()
        torch.set_num_threads(before)
        distributed.shutdown(created, ok)


def _on(options: RunOptions, device: torch.device) -> RunOptions:
    """The options with this rank's device (``cuda:LOCAL_RANK`` under torchrun)."""
    return replace(options, device=str(device))


def _autocast_available(device_type: str) -> bool:
    check = getattr(getattr(torch.amp, "autocast_mode", None), "is_autocast_available", None)
    return check(device_type) if check is not None else device_type in ("cpu", "cuda")


def _split_settings(overrides: Dict[str, Any], settings: Optional[Mapping[str, Any]]
                    ) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, str]]:
    """(named overrides, the other settings, the overrides given as settings: name -> path): a setting at a named
    override's path joins the overrides (and a message about it names the setting the user gave)."""
    if settings is not None and not isinstance(settings, Mapping):
        raise UsageError(f"settings must map recipe paths to values, got {settings!r}")
    rest, via_set = dict(settings or {}), {}
    for path, oname in OVERRIDE_PATHS.items():
        if path in rest:
            value = rest.pop(path)
            if overrides[oname] is not None and overrides[oname] != value:
                flag = next(o.flag for o in OVERRIDES if o.name == oname)
                given = option_value(flag, overrides[oname], oname)
                raise UsageError(f"{given} and {_setting(path)}={value} disagree; give one")
            overrides[oname] = value
            via_set[oname] = path
    return overrides, rest, via_set


def _prepare(name: str, entry: Entry, run_dir: Path, resume: bool, force: bool, overrides: Dict[str, Any],
             settings: Dict[str, Any], options: RunOptions, warn: Callable[[str], None], held: List[Any],
             retarget: bool = False, via_set: Optional[Dict[str, str]] = None):
    """On rank 0: the entry to train and the state to resume from, the run folder locked, checked
    and set up. The open lock file goes to ``held`` (the caller keeps it open while training)."""
    has_run = checkpoint.has_state(run_dir) or (run_dir / WEIGHTS_FILE).exists()
    foreign = [] if force or has_run else runfolder.foreign_files(run_dir)
    if foreign:  # refused before the lock file is made: nothing is added to someone else's folder
        listed = ", ".join(map(shown, foreign[:3])) + (" ..." if len(foreign) > 3 else "")
        raise UsageError(f"{shown(run_dir)} is not empty and is not a zoo run ({listed}); choose another {option('--out')}, "
                         f"or pass {option('--force', 'force=True')} to train into it anyway")
    if run_dir.is_dir():
        held.append(runfolder.lock(run_dir))  # before anything in it is read or written
    state = checkpoint.read_state(run_dir, warn) if resume and checkpoint.has_state(run_dir) else None
    if state is not None:
        saved = _resumed_entry(name, run_dir, state[1], overrides, settings, options, via_set or {}, warn)
        if retarget and saved.dataset != entry.dataset:
            raise UsageError(f"{shown(run_dir)} was trained on {saved.dataset}; resume it on the same data set")
        entry = saved
        runfolder.clean_leftovers(run_dir)
    else:
        if (run_dir / WEIGHTS_FILE).exists() or checkpoint.has_state(run_dir):  # again, under the lock
            if resume:  # a finished run whose state was deleted: training again would overwrite its model
                raise UsageError(f"{shown(run_dir)} holds a trained model but no state to resume from; it cannot be "
                                 f"resumed: train into another {option('--out')}")
            raise UsageError(f"{shown(run_dir)} already holds a run of zoo; pass {option('--resume', 'resume=True')} to "
                             f"continue it or choose another {option('--out')}")
        try:
            entry = entry.with_recipe(entry.recipe.replace(**overrides))
        except SchemaError as exc:
            raise UsageError(f"Invalid override for {name}: {exc}") from None
        try:  # the recipe alone may be valid and not fit the model (a pretraining stage on ReLU layers)
            entry = entry.with_recipe(_with_settings(name, entry.recipe, settings))
        except SchemaError as exc:
            raise UsageError(f"Invalid {option('--set', 'settings')} for {name}: {exc}") from None
    distributed.check_batch(entry.recipe.batch_size, options.world_size)
    with torch.device("meta"):  # nothing allocated: only the model's phases are read
        check_phases(entry.build(dataset_info(entry.dataset).image_shape), entry.recipe, name)
    runfolder.make_writable(run_dir)
    if not held:
        held.append(runfolder.lock(run_dir))
    if state is None or overrides["epochs"] is not None:
        atomic_write_json(run_dir / "config.json", {
            "name": name,
            "entry": entry.to_dict(),
            "overrides": {k: v for k, v in overrides.items() if v is not None},
            "settings": settings,
            **options.to_dict(),
        })
    if state is None:
        return {"entry": entry.to_dict(), "info": None}, None
    return {"entry": entry.to_dict(), "info": state[1]}, state[0]


def _setting(key: str) -> str:
    """A setting as a message names it: ``--set KEY`` on the command line, ``settings['KEY']`` in Python."""
    return setting(key)


def _with_settings(name: str, recipe: Recipe, settings: Dict[str, Any]) -> Recipe:
    try:
        return recipe.with_settings(settings)
    except SchemaError as exc:
        raise UsageError(f"Invalid {option('--set', 'settings')} for {name}: recipe.{exc}") from None


def _resumed_entry(name: str, run_dir: Path, info: Dict[str, Any], overrides: Dict[str, Any],
                   settings: Dict[str, Any], options: RunOptions, via_set: Dict[str, str],
                   warn: Callable[[str], None]) -> Entry:
    """The saved run's entry; flags may change its epochs (not below those run, said in a line) but not its
    trajectory."""
    saved = info["options"]
    if info["name"] != name:
        raise UsageError(f"{run_dir} holds a run of {info['name']!r}, not {name!r}")
    if saved["world_size"] != options.world_size:
        def processes(n: int) -> str:
            return "one process" if n == 1 else f"{n} processes (torchrun, WORLD_SIZE={n})"
        raise UsageError(
            f"{run_dir} was trained by {processes(saved['world_size'])} and is resumed by "
            f"{processes(options.world_size)}; each rank's data shard and random numbers depend on the world size, "
            f"so resume with the same"
        )
    entry = parse_entry(name, info["entry"], source=str(run_dir / checkpoint.STATE_FILE))
    for o in OVERRIDES:
        value = overrides[o.name]
        if value is not None and o.name != "epochs" and value != entry.recipe.value(o.name) and o.name in via_set:
            path = via_set[o.name]
            raise UsageError(f"{run_dir} was started with {path}={json.dumps(entry.recipe.at(path))}; a resumed run keeps "
                             f"its recipe (drop {_setting(path)} or choose another {option('--out')})")
        if value is not None and o.name != "epochs" and value != entry.recipe.value(o.name):
            raise UsageError(
                f"{run_dir} was started with {option_value(o.flag, entry.recipe.value(o.name), o.name)}; "
                f"a resumed run keeps its recipe (drop {option(o.flag, o.name)} or choose another {option('--out')})"
            )
    for key, value in settings.items():
        if _with_settings(name, entry.recipe, {key: value}) != entry.recipe:
            raise UsageError(f"{run_dir} was started with {key}={json.dumps(entry.recipe.at(key))}; a resumed run keeps "
                             f"its recipe (drop {_setting(key)} or choose another {option('--out')})")
    if options.limit_batches != saved["limit_batches"]:
        raise UsageError(f"{run_dir} was started with {option_value('--limit-batches', saved['limit_batches'])}; "
                         f"resume with the same")
    if options.amp != saved["amp"]:
        was = f"with {option('--amp', 'amp=True')}" if saved["amp"] else f"without {option('--amp', 'amp=True')}"
        raise UsageError(f"{run_dir} was started {was} (bf16 autocast changes the trajectory); resume it the same way")
    epochs, position = overrides["epochs"], saved_progress(info)
    if epochs is not None and epochs != entry.recipe.epochs:
        if epochs < position["epoch"]:
            raise UsageError(f"{run_dir} has already run {position['epoch']} epochs; {option('--epochs')} cannot go below that")
        if epochs == position["epoch"] and position["step_in_epoch"]:
            raise UsageError(f"{run_dir} has already run {position['epoch']} epochs and started epoch {epochs + 1}; "
                             f"{option('--epochs')} must be at least {epochs + 1}")
        if position["stop"] == StopReason.EARLY_STOPPING.value:
            raise UsageError(f"{run_dir} already finished by early stopping; start a new run to train longer")
        if entry.recipe.scheduler is not None and entry.recipe.scheduler.type == "cosine":
            raise UsageError(f"{run_dir} uses a cosine schedule fixed to {entry.recipe.epochs} epochs; "
                             f"{option('--epochs')} cannot change")
        if epochs < entry.recipe.epochs:  # growing is what --epochs on a resume is for; ending earlier is said
            warn(f"{shown(run_dir)} was started for {entry.recipe.epochs} epochs and has run {position['epoch']}; "
                 f"{option_value('--epochs', epochs, 'epochs')}: it ends earlier, after {epochs}")
        entry = entry.with_recipe(entry.recipe.replace(epochs=epochs))
    return entry
