"""The Optuna side of a sweep: the storage (an SQLite file by default, any RDB URL Optuna takes), the study with
the sweep's definition kept on it, samplers and pruners. Optuna is the scheduler: zoo writes none.

A study remembers what it sweeps (``zoo.sweep`` in its user attributes: the entry, each parameter's SPEC, the
epochs and batch limit); a worker that joins with another definition is refused, so no study ever mixes
trials of two searches. Heartbeats mark a killed worker's trial failed and ``RetryFailedTrialCallback`` queues
it again with the same parameters.
"""
from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import UsageError, ZooError, first_line, shown
from .space import Param

DEFINITION = "zoo.sweep"  # the study user attribute holding the sweep's definition
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
RETRIES = 3  # a trial whose worker died is run again at most this many times


class StorageError(ZooError):
    """The study's storage cannot be opened (exit status 1)."""


def optuna():
    """Optuna, imported on first use: ``zoo sweep`` is the only part of zoo that needs it."""
    try:
        import optuna as _optuna
    except ImportError:
        raise UsageError('zoo sweep needs Optuna, which is not installed: pip install -e ".[sweep]" '
                         '(or pip install optuna)') from None
    _optuna.logging.set_verbosity(_optuna.logging.ERROR)  # zoo prints its own line for every trial
    return _optuna


@contextlib.contextmanager
def quiet_experimental():
    """Heartbeats and retries are marked experimental in Optuna; zoo relies on them knowingly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna().exceptions.ExperimentalWarning)
        yield


def retry_callback():
    """Optuna's callback that queues a stale trial again with its parameters (at most RETRIES times)."""
    storages = optuna().storages
    cls = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
    with quiet_experimental():
        return cls(max_retry=RETRIES)


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def shown_url(url: str) -> str:
    """The storage URL without its password (error messages and the progress lines show it)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: say it as given
        return url


def sqlite_path(url: str) -> Optional[str]:
    """The file of an ``sqlite:///`` URL (None for another database)."""
    return url[len("sqlite:///"):].split("?")[0] if url.startswith("sqlite:///") else None


def check_url(url: str, *, create: bool) -> None:
    """Refuse in one line a study that could not outlive the process (SQLite in memory) and, when only reading
    (``create`` False), an SQLite file that does not exist: opening it would create it."""
    path = sqlite_path(url)
    if url.startswith("sqlite") and (path is None or path in ("", ":memory:") or "mode=memory" in url):
        raise UsageError(f"--storage {shown_url(url)} keeps the study in memory, gone when this process ends: a "
                         f"sweep's study must outlive it; name a file (sqlite:///FILE) or a database server")
    if not create and path is not None and not Path(path).is_file():
        raise UsageError(f"--storage {shown_url(url)}: there is no study database {shown(path)}; nothing was created")


def open_storage(url: str, *, heartbeat: Optional[int], create: bool = True):
    """The RDB storage at ``url``, with heartbeats every ``heartbeat`` seconds (a trial silent for twice that is
    failed and retried); ``None`` turns them off (``--best`` only reads). ``create`` False: only an existing
    database is opened, and nothing (no lock file) is made beside it."""
    check_url(url, create=create)
    opt = optuna()
    from optuna.storages import RDBStorage

    beat: Dict[str, Any] = {}
    if heartbeat is not None:
        # Optuna 4.9 renamed failed_trial_callback (and RetryFailedTrialCallback); the behaviour is the same
        retry = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in
                 inspect.signature(RDBStorage.__init__).parameters else "failed_trial_callback")
        beat = {"heartbeat_interval": heartbeat, "grace_period": 2 * heartbeat, retry: retry_callback()}
    kwargs: Dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # several workers on one file wait for its lock
    try:
        with quiet_experimental(), (creation_lock(url) if create else contextlib.nullcontext()):
            return _first_open(lambda: RDBStorage(with_driver(url), engine_kwargs=kwargs, **beat))
    except ImportError as exc:  # a driver (psycopg, pymysql) missing
        missing = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None) or "a driver"
        raise UsageError(f"the storage {shown_url(url)} needs a database driver that is not installed ({missing}): "
                         f"for PostgreSQL, pip install 'psycopg[binary]'") from None
    except (opt.exceptions.OptunaError, ValueError) as exc:
        raise UsageError(f"--storage {shown_url(url)}: {first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's OperationalError and the driver's own
        raise StorageError(f"cannot open the study's storage {shown_url(url)}: {_reason(exc)}") from None


@contextlib.contextmanager
def creation_lock(url: str):
    """Workers started together on a new SQLite file take turns to create its tables (a lock file beside it)."""
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else None
    if path is None or path.startswith(":memory:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # no advisory locks: the retry below has to do
        yield
        return
    lock = Path(path + ".lock")
    made = not lock.exists()
    try:
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
    except BaseException:
        if made:  # opening failed: leave nothing beside the file the user named
            lock.unlink(missing_ok=True)
        raise


def _first_open(make, tries: int = 5):
    """``make()``, tried again when another worker created the same tables a moment before (any database)."""
    for attempt in range(tries):
        try:
            return make()
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors; anything but this race goes up at once
            if "already exists" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def with_driver(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed (SQLAlchemy 2.1 means psycopg 3 by it,
    2.0 psycopg2); a URL naming its driver (``postgresql+psycopg2://``) is kept."""
    if not url.startswith("postgresql://"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://" + url[len("postgresql://"):]
    return url


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    return first_line(inner).rstrip(".") or type(inner).__name__


def definition(name: str, space: Dict[str, Param], epochs: Optional[int], limit_batches: Optional[int],
               sampler: str) -> Dict[str, Any]:
    return {"name": name, "params": {k: p.spec for k, p in space.items()}, "epochs": epochs,
            "limit_batches": limit_batches, "sampler": sampler}


def make_sampler(kind: str, space: Dict[str, Param], seed: Optional[int]):
    opt = optuna()
    if kind == "tpe":
        return opt.samplers.TPESampler(seed=seed)
    if kind == "random":
        return opt.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return opt.samplers.GridSampler({k: p.grid() for k, p in space.items()}, seed=seed)
    raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {kind!r}")


def make_pruner(kind: str, epochs: int):
    """``median``: stop a trial whose validation loss is worse than the median of earlier trials at the same
    epoch (after 2 complete trials and the trial's first epoch); ``hyperband`` over 1..epochs; ``none``."""
    opt = optuna()
    if kind == "median":
        return opt.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)  # steps are epochs, from 1
    if kind == "hyperband":
        return opt.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    if kind == "none":
        return opt.pruners.NopPruner()
    raise UsageError(f"--pruner must be one of {', '.join(PRUNERS)}, got {kind!r}")


def open_study(study: str, storage, url: str, *, wanted: Optional[Dict[str, Any]] = None, sampler=None, pruner=None):
    """The study ``study`` in ``storage``: created with ``wanted`` as its definition when it does not exist,
    loaded (and its definition compared with ``wanted``) when it does; read only when ``wanted`` is None."""
    opt = optuna()
    try:
        if wanted is None:
            return opt.load_study(study_name=study, storage=storage)
        made = opt.create_study(study_name=study, storage=storage, direction="minimize", load_if_exists=True,
                                sampler=sampler, pruner=pruner)
    except KeyError:
        known = [s.study_name for s in opt.get_all_study_summaries(storage)]
        raise UsageError(f"no study {study!r} in {shown_url(url)}" + (f" (it holds {', '.join(known)})" if known else "")) from None
    except Exception as exc:  # noqa: BLE001 - a storage that answered then failed
        raise StorageError(f"the study {study!r} in {shown_url(url)} could not be opened: {_reason(exc)}") from None
    saved = made.user_attrs.get(DEFINITION)
    if saved is None:
        if made.trials:
            raise UsageError(f"the study {study!r} in {shown_url(url)} was not made by zoo sweep; choose another --study")
        made.set_user_attr(DEFINITION, wanted)  # the first worker defines the study
    elif saved != wanted:
        raise UsageError(f"the study {study!r} in {shown_url(url)} sweeps {describe(saved)}; this command asks for "
                         f"{describe(wanted)}: give the same, or another --study")
    if made.direction != opt.study.StudyDirection.MINIMIZE:
        raise UsageError(f"the study {study!r} maximises; a zoo sweep minimises the validation loss")
    return made


def describe(d: Dict[str, Any]) -> str:
    params = " ".join(f"{k}={v}" for k, v in d["params"].items())
    extra = [f"{k}={d[k]}" for k in ("epochs", "limit_batches") if d.get(k) is not None]
    return f"{d['name']} over {params}" + (f" ({', '.join(extra)}, sampler {d['sampler']})" if extra else
                                           f" (sampler {d['sampler']})")


def run_folder(trial) -> Tuple[int, Optional[str]]:
    """``trial`` a FrozenTrial: (the number whose folder a trial trains in, the folder a worker recorded): a retried trial trains in the
    folder of the trial it retries, so a killed trial's run resumes rather than starting over."""
    first = trial.system_attrs.get("failed_trial")  # what RetryFailedTrialCallback.retried_trial_number reads
    return (trial.number if first is None else first), trial.user_attrs.get("run_dir")


def dumps(values: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, str) else format(v, '.4g') if isinstance(v, float) else v}"
                     for k, v in values.items())
