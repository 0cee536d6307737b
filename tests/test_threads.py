"""A busy machine: the zoo command's torch threads (its share of the cores, --threads, a resumed run's recorded
count) and its process set up before torch starts. The timings are in BENCHMARKS.md (scripts/bench_busy.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo.threads import Workers

SMALL = ["--epochs", "1", "--limit-batches", "2", "--quiet"]


def zoo_command(*args, tmpdir, check=True):
    """``python -m zoo`` with its machine folder under ``tmpdir`` (TMPDIR): other zoo processes on this machine
    are not counted."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("OMP_NUM_THREADS", None)  # conftest pins it for the other tests' commands
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


def test_the_command_waits_passively_on_a_busy_machine_unless_told_otherwise():
    """zoo.command.run sets OpenMP's wait policy before anything imports torch, from the other runnable tasks it
    finds (zoo.threads.others_running, replaced here; zoo.cli too, by one that reports what it finds)."""
    script = ("import os, sys, types; fake = types.ModuleType('zoo.cli'); "
              "fake.main = lambda: print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules); "
              "sys.modules['zoo.cli'] = fake; import zoo.threads; zoo.threads.others_running = lambda: int(sys.argv[1]); "
              "import zoo.command; zoo.command.run()")
    for busy, env, expected in (("3", {}, "PASSIVE"), ("0", {}, "None"), ("3", {"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")):
        out = subprocess.run([sys.executable, "-c", script, busy], capture_output=True, text=True, timeout=120,
                             env={**{k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}, **env})
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [expected, "True"]  # torch loaded after the policy was set (devices)


def test_the_share_is_the_cores_over_the_zoo_commands_less_those_other_tasks_hold(tmp_path, monkeypatch):
    from zoo import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 8)
    monkeypatch.setattr(threads, "_THIS", None)
    assert threads.share() is None  # not the zoo command: torch's threads are the caller's
    with Workers(tmp_path) as me:
        monkeypatch.setattr(threads, "_THIS", me)
        for busy, others, expected in ((0, 0, 8), (0, 1, 4), (0, 3, 2), (3, 0, 5), (3, 1, 4), (12, 0, 1)):
            monkeypatch.setattr(threads, "_BUSY", busy)
            held = [Workers(tmp_path).__enter__() for _ in range(others)]
            try:
                assert threads.share() == expected, (busy, others)
            finally:
                for worker in held:
                    worker.__exit__()
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert threads.share() is None  # the environment says: torch reads it


def test_the_other_runnable_tasks_are_read_from_the_kernel():
    found = __import__("zoo.threads", fromlist=["x"]).others_running(readings=2)
    assert found is None or found >= 0


def test_a_run_records_its_threads_and_a_resume_keeps_them(tmp_path, data_dir):
    run = tmp_path / "run"
    zoo_command("train", "deep-784-32", "--out", run, "--threads", 1, *SMALL, tmpdir=tmp_path)
    assert recorded(run) == (1, 1)
    zoo_command("train", "deep-784-32", "--out", run, "--resume", "--epochs", 2, "--limit-batches", 2, "--quiet",
                tmpdir=tmp_path)
    assert recorded(run) == (1, 1)  # the count it recorded, not this machine's share


def test_the_commands_lock_files_go_with_them(tmp_path, data_dir):
    zoo_command("train", "deep-784-32", "--out", tmp_path / "run", "--threads", 1, *SMALL, tmpdir=tmp_path)
    folder = tmp_path / f"zoo-{os.getuid()}" / "processes"
    assert folder.is_dir() and list(folder.glob("*.lock")) == []  # each process took its lock file away at its end


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
