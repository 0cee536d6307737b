"""A sweep worker: pulls trials from the study until it holds ``trials`` complete ones, each trial a zoo run
folder trained by ``zoo.train`` (its checkpoints, its resume), pruned from its per-epoch validation loss.

Any number of workers, started with the same command on any machine that reaches the storage, share one
study. Before asking for a trial a worker counts the study: it stops once ``trials`` are complete, and waits
while the running ones would make up the rest (one of them may yet die and be retried). A killed worker's
trial is failed by the heartbeat check and queued again with its parameters (Optuna's
``RetryFailedTrialCallback``); the retry trains in the killed trial's folder, so where that folder is on
this machine and holds a state, the run resumes. Workers on one machine split its cores between them.
"""
from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from ..errors import Interrupted, TrainingError, UsageError, first_line, shown
from ..registry import Entry
from ..threads import Workers
from ..training import checkpoint
from ..training.run import train
from . import study as studies
from .space import Param, grid_size

POLL_SECONDS = 1.0
MAX_FAILED_IN_A_ROW = 5  # a worker whose trials all fail stops rather than fail for ever


class Worker:
    """One worker process of a sweep over ``entry`` in ``folder``, on ``study``."""

    def __init__(self, entry: Entry, study, space: Dict[str, Param], *, trials: int, folder: Path,
                 epochs: Optional[int], limit_batches: Optional[int], device: str, threads: Optional[int],
                 say: Callable[[str], None]):
        self.entry, self.study, self.space, self.trials = entry, study, space, trials
        self.folder, self.epochs, self.limit_batches, self.device = folder, epochs, limit_batches, device
        self.threads, self.say = threads, say
        self.failed_in_a_row = 0
        self.threads_now = 1

    def run(self, workers: Workers) -> None:
        """Trials until the study is done; ``workers``: this worker's entry among the machine's (entered)."""
        opt = studies.optuna()
        from optuna.study import MaxTrialsCallback

        while True:
            with studies.quiet_experimental():
                opt.storages.fail_stale_trials(self.study)
            counts = self.counts()
            if counts["COMPLETE"] >= self.trials:
                return
            if counts["COMPLETE"] + counts["RUNNING"] >= self.trials and not counts["WAITING"]:
                time.sleep(POLL_SECONDS)  # the running trials may finish the study, or one may die and come back
                continue
            self.threads_now = self.threads or workers.share()
            torch.set_num_threads(self.threads_now)
            try:
                self.study.optimize(self.objective, n_trials=1, catch=(),
                                    callbacks=[MaxTrialsCallback(self.trials), self.report])
            except (Interrupted, KeyboardInterrupt):
                self.requeue_interrupted()
                raise

    def counts(self) -> Dict[str, int]:
        states = [t.state.name for t in self.study.get_trials(deepcopy=False)]
        return {s: states.count(s) for s in ("COMPLETE", "RUNNING", "WAITING")}

    def surplus(self, number: int) -> bool:
        """True when ``number`` is a trial the study does not need: two workers asked at the same moment for
        the last trial. The lowest-numbered running trials are the needed ones, so every worker agrees."""
        trials = self.study.get_trials(deepcopy=False)
        need = self.trials - sum(t.state.name == "COMPLETE" for t in trials)
        running = sorted(t.number for t in trials if t.state.name == "RUNNING")
        return number not in running[:max(need, 0)]

    def objective(self, trial) -> float:
        opt = studies.optuna()
        if self.surplus(trial.number):
            trial.set_user_attr("surplus", True)
            raise opt.TrialPruned("surplus")
        values = {k: p.suggest(trial) for k, p in self.space.items()}
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
        first, _ = studies.run_folder(frozen)
        run_dir = (self.folder / f"trial-{first:04d}").resolve()
        resumed = checkpoint.has_state(run_dir)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("resumed", resumed)
        trial.set_user_attr("threads", self.threads_now)

        def on_epoch(record: Dict[str, Any]) -> bool:
            trial.report(record["val_loss"], record["epoch"])
            return trial.should_prune()

        try:
            summary = train(self.entry.name, out=run_dir, epochs=self.epochs, limit_batches=self.limit_batches,
                            settings=values, resume=True, quiet=True, device=self.device, on_epoch=on_epoch)
        except TrainingError as exc:  # values the recipe cannot train with (a non-finite loss at a high lr)
            trial.set_user_attr("error", first_line(exc))
            return math.nan  # a failed trial; any other error (data, a full disk) stops the worker
        trial.set_user_attr("epochs_run", summary["epochs_run"])
        trial.set_user_attr("train_seconds", summary["train_seconds"])
        if summary["stop_reason"].startswith("stopped by the on_epoch"):
            raise opt.TrialPruned(f"pruned after epoch {summary['epochs_run']}")
        return summary["best_val_loss"]

    def report(self, study, trial) -> None:
        """One line per finished trial (Optuna calls this after each); stop after failures in a row."""
        self.say(trial_line(trial))
        self.failed_in_a_row = self.failed_in_a_row + 1 if trial.state.name == "FAIL" else 0
        if self.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            raise TrainingError(f"{self.failed_in_a_row} trials in a row failed (the last: "
                                f"{trial.user_attrs.get('error', 'no reason')}); this worker stopped")

    def requeue_interrupted(self) -> None:
        """A trial ended by Ctrl-C (Optuna marked it failed) is queued again like a killed one: the next worker
        resumes its run folder."""
        mine = [t for t in self.study.get_trials(deepcopy=False)
                if t.state.name == "FAIL" and t.user_attrs.get("host") == socket.gethostname()
                and t.user_attrs.get("pid") == os.getpid() and "error" not in t.user_attrs]
        if mine:
            studies.retry_callback()(self.study, mine[-1])


def trial_line(trial) -> str:
    """``trial 3 complete: 0.012345 (lr=0.0012, batch_size=64) in 12.3 s`` and its pruned and failed forms."""
    params = studies.dumps(trial.params)
    state = trial.state.name.lower()
    if trial.user_attrs.get("surplus"):
        return f"trial {trial.number}: not run (the study had its trials running)"
    if state == "fail":
        why = trial.user_attrs.get("error") or "its worker died or was interrupted"
        return f"trial {trial.number} failed: {why} ({params})"
    last = max(trial.intermediate_values) if trial.intermediate_values else None
    value = trial.value if trial.value is not None else (trial.intermediate_values[last] if last else math.nan)
    seconds = trial.user_attrs.get("train_seconds")
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    when = f" after epoch {last}" if state == "pruned" and last else ""
    again = f", retrying trial {studies.run_folder(trial)[0]}" if studies.run_folder(trial)[0] != trial.number else ""
    return f"trial {trial.number} {state}{when}: {value:.6f} ({params}){took}{again}"


def table(study) -> List[str]:
    """The study's trials, best first, as lines of a plain table."""
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    keys = sorted({k for t in trials for k in t.params})
    rows = [["trial", "state", "value", *keys, "epochs", "run folder"]]
    order = sorted(trials, key=lambda t: (t.value is None or t.state.name != "COMPLETE", t.value or 0, t.number))
    for t in order:
        value = f"{t.value:.6f}" if t.value is not None and math.isfinite(t.value) else "-"
        cells = [studies.dumps({k: t.params[k]}).split("=", 1)[1] if k in t.params else "-" for k in keys]
        rows.append([str(t.number), t.state.name.lower(), value, *cells, str(t.user_attrs.get("epochs_run", "-")),
                     shown(t.user_attrs.get("run_dir", "-"))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def check_trials(trials: Any, space: Dict[str, Param], sampler: str) -> int:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f"--trials must be a whole number >= 1, got {trials!r}")
    if sampler == "grid":
        size = grid_size(space)
        if trials > size:
            raise UsageError(f"--trials {trials} is more than the grid's {size} points")
    return trials
