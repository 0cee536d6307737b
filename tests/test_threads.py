"""A busy machine: the zoo command's torch threads (its share of the cores, --threads, a resumed run's recorded
count) and its process set up before torch starts. The timings are in BENCHMARKS.md (scripts/bench_busy.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo.threads import Workers, cores

SMALL = ["--epochs", "1", "--limit-batches", "2", "--quiet"]


def zoo_command(*args, tmpdir, check=True):
    """``python -m zoo`` with its machine folder under ``tmpdir`` (TMPDIR): other zoo processes on this machine
    are not counted."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop("OMP_WAIT_POLICY", None)
    done = subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def recorded(run) -> tuple:
    return (json.loads((run / "metrics.json").read_text())["threads"],
            json.loads((run / "config.json").read_text())["threads"])


def test_importing_zoo_starts_no_torch_so_the_command_can_set_openmp_up_first():
    code = ("import sys, zoo, zoo.command; print('torch' in sys.modules); zoo.load('deep-784-2'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_the_command_waits_passively_unless_told_otherwise():
    """zoo.command.run sets OpenMP's wait policy before anything imports torch (the command itself, zoo.cli, is
    replaced here by one that reports what it finds)."""
    script = ("import os, sys, types; fake = types.ModuleType('zoo.cli'); "
              "fake.main = lambda: print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules); "
              "sys.modules['zoo.cli'] = fake; import zoo.command; zoo.command.run()")
    for env, expected in (({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                             env={**{k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}, **env})
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [expected, "True"]  # torch loaded after the policy was set (devices)


def test_a_run_records_its_threads_and_a_resume_keeps_them(tmp_path, data_dir):
    run = tmp_path / "run"
    zoo_command("train", "deep-784-32", "--out", run, "--threads", 1, *SMALL, tmpdir=tmp_path)
    assert recorded(run) == (1, 1)
    zoo_command("train", "deep-784-32", "--out", run, "--resume", "--epochs", 2, "--limit-batches", 2, "--quiet",
                tmpdir=tmp_path)
    assert recorded(run) == (1, 1)  # the count it recorded, not this machine's share


def test_the_share_counts_the_other_zoo_processes_on_the_machine(tmp_path, data_dir):
    alone = tmp_path / "alone"
    zoo_command("train", "deep-784-32", "--out", alone, *SMALL, tmpdir=tmp_path)
    assert recorded(alone) == (cores(), cores())
    folder = tmp_path / f"zoo-{os.getuid()}" / "processes"
    with Workers(folder):  # another zoo command, alive while this one starts
        beside = tmp_path / "beside"
        zoo_command("train", "deep-784-32", "--out", beside, *SMALL, tmpdir=tmp_path)
    assert recorded(beside) == (max(1, cores() // 2),) * 2
    assert list(folder.glob("*.lock")) == []  # each process took its lock file away when it ended


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_threads_are_one_line(tmp_path, value):
    done = zoo_command("eval", "deep-784-2", "--threads", value, tmpdir=tmp_path, check=False)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--threads" in done.stderr


def test_python_callers_keep_their_threads(tmp_path, data_dir):
    import torch

    import zoo

    before = torch.get_num_threads()
    summary = zoo.train("deep-784-32", out=tmp_path / "one", epochs=1, limit_batches=2, quiet=True, threads=1)
    assert summary["threads"] == 1 and torch.get_num_threads() == before
    summary = zoo.train("deep-784-32", out=tmp_path / "default", epochs=1, limit_batches=2, quiet=True)
    assert summary["threads"] == before
    with pytest.raises(zoo.ZooError, match="threads must be a whole number >= 1"):
        zoo.train("deep-784-32", out=tmp_path / "bad", threads=0)
