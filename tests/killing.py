"""Helpers for the tests that kill a training run with SIGKILL in the middle of an epoch."""
from __future__ import annotations

import json
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from safetensors import safe_open


def saved_info(run_dir) -> Optional[Dict[str, Any]]:
    """The JSON part of the run's saved state, or None if there is none yet."""
    try:
        with safe_open(str(run_dir / "state.safetensors"), framework="pt") as f:
            return json.loads(f.metadata()["zoo.state"])
    except Exception:  # not written yet, or being replaced this instant
        return None


def progress_of(info: Dict[str, Any]) -> Dict[str, Any]:
    """The training position (epoch, step_in_epoch, global_step...) in a saved state's JSON."""
    return info["parts"]["progress"]


def pretrain_of(info: Dict[str, Any]) -> Dict[str, Any]:
    """The pretraining stage's position (layer, epoch, step_in_epoch...) in a saved state's JSON."""
    return info["parts"]["pretrain"]["progress"]


def saved_position(run_dir) -> Optional[Tuple[int, int]]:
    """(completed epochs, step in the epoch) of the run's saved state, or None if there is none yet."""
    info = saved_info(run_dir)
    return (progress_of(info)["epoch"], progress_of(info)["step_in_epoch"]) if info is not None else None


def kill_in_first_epoch(proc, run_dir, min_step: int, kill: Callable[[], None], timeout: float = 240) -> Tuple[int, int]:
    """Wait until ``run_dir`` holds a state at ``min_step`` or later of epoch 1, then ``kill()``."""
    deadline = time.time() + timeout
    try:
        while True:
            position = saved_position(run_dir)
            if position is not None and position[0] == 0 and position[1] >= min_step:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, "no mid-epoch state appeared"
            time.sleep(0.005)
    finally:
        kill()
        proc.wait(timeout=60)
    return saved_position(run_dir)


def straight_and_killed_weights(args: List[str], env: Dict[str, str], tmp_path: Path, *, kill_at: int,
                                 steps: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``zoo ARGS`` run straight through, and again SIGKILLed in its first epoch at step ``kill_at`` or later
    (of ``steps``) and resumed: the two runs' final weights, to compare bit for bit."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "zoo", *args, *extra], capture_output=True, text=True, env=env,
                              timeout=300)

    straight = run("--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    epoch, step = kill_in_first_epoch(proc, killed, kill_at, lambda: os.kill(proc.pid, signal.SIGKILL))
    assert proc.returncode == -signal.SIGKILL and epoch == 0 and kill_at <= step < steps
    resumed = run("--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    return load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(killed / "model.safetensors"))


def descendants(pid: int) -> List[int]:
    """Every process below ``pid`` (Linux /proc): torchrun starts each rank in a session of its own,
    so killing the launcher's process group would leave the ranks running."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def kill_tree(pid: int) -> List[int]:
    """SIGKILL ``pid`` and all its descendants at once (a machine that is lost), and wait until they are gone."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while not all(gone(v) for v in victims):
        assert time.time() < deadline, "killed processes did not go away"
        time.sleep(0.01)
    return victims


@contextmanager
def crash_after_save(n: int, exc: type = KeyboardInterrupt) -> Iterator[None]:
    """Inside the block, ``Trainer.save_state`` raises ``exc`` right after its ``n``-th write (a crash just
    after a checkpoint); the real one is back after the block."""
    from zoo.training import Trainer

    original, calls = Trainer.save_state, {"n": 0}

    def save_then_crash(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == n:
            raise exc()

    Trainer.save_state = save_then_crash
    try:
        yield
    finally:
        Trainer.save_state = original
