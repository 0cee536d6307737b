"""Crash safety and bad input: damaged state falls back, failures are one line, nothing earlier is lost."""
from __future__ import annotations

import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from killing import crash_after_save
from safetensors import safe_open
from safetensors.torch import load_file

import zoo
import zoo.paths
from zoo.cli import main
from zoo.errors import TrainingError

OPTIONS = dict(epochs=2, limit_batches=6, checkpoint_every=2, device="cpu", quiet=True)


def same_weights(a: Path, b: Path) -> bool:
    ta, tb = load_file(str(a)), load_file(str(b))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def position(run: Path, name: str = "state.safetensors"):
    with safe_open(str(run / name), framework="pt") as f:
        info = json.loads(f.metadata()["zoo.state"])
    return info["parts"]["progress"]["epoch"], info["parts"]["progress"]["step_in_epoch"]


def flip_byte(path: Path, offset: int = -64) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def crashed(tmp_path):
    """A deep-784-32 run that crashed right after its 4th state write (epoch 1, step 4 of 6)."""
    zoo.train("deep-784-32", out=tmp_path / "straight", **OPTIONS)
    with pytest.raises(KeyboardInterrupt), crash_after_save(4):
        zoo.train("deep-784-32", out=tmp_path / "run", **OPTIONS)
    return tmp_path


def test_a_corrupted_state_falls_back_to_the_previous_one_with_a_warning(crashed):
    run = crashed / "run"
    assert position(run) == (1, 0) and position(run, "state.prev.safetensors") == (0, 4)
    flip_byte(run / "state.safetensors")
    lines = []
    zoo.train("deep-784-32", out=run, resume=True, **{**OPTIONS, "quiet": False}, log=lines.append)
    assert lines[0].startswith("warning: ") and "fail the checksum" in lines[0] and "state.prev.safetensors" in lines[0]
    assert lines[1] == "resuming deep-784-32 at epoch 1, step 4"
    assert same_weights(crashed / "straight" / "model.safetensors", run / "model.safetensors")


def test_a_truncated_state_falls_back_too(crashed):
    run = crashed / "run"
    (run / "state.safetensors").write_bytes((run / "state.safetensors").read_bytes()[:500])
    zoo.train("deep-784-32", out=run, resume=True, **OPTIONS)
    assert same_weights(crashed / "straight" / "model.safetensors", run / "model.safetensors")


def test_no_good_state_left_is_an_error_never_a_silent_restart(crashed):
    run = crashed / "run"
    flip_byte(run / "state.safetensors")
    (run / "state.prev.safetensors").write_bytes(b"not a state")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(run), "--resume", "--epochs", "2",
                                       "--limit-batches", "6", "--device", "cpu", "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no good state is left to resume from" in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing touched
    with pytest.raises(TrainingError):
        zoo.train("deep-784-32", out=run, resume=True, **OPTIONS)


def _edit_state(run: Path, edit) -> None:
    """Rewrite the run's newest state with ``edit(tensors, info)`` applied and its checksums recomputed."""
    from zoo.training import checkpoint

    tensors, info = checkpoint.read_state(run, lambda line: None)
    edit(tensors, info)
    checkpoint.write_state(run, tensors, info)


@pytest.mark.parametrize("edit, words", [
    (lambda t, i: i["parts"]["progress"].update(global_step=-5), "progress.global_step is -5, below zero"),
    (lambda t, i: i["parts"]["progress"].update(epoch=[0] * 1_000_000), "progress.epoch is a list of 1,000,000 items"),
    (lambda t, i: i["parts"]["optimizer.main"]["state"].update({"@items": [[0, {"step": {"@tensor": "nowhere"}}]]}),
     "names a tensor 'nowhere' that is not in the file"),
    (lambda t, i: t.update({"model.encoder.0.weight": torch.zeros(3, dtype=torch.int64)}),
     "model.encoder.0.weight is a torch.int64 tensor of shape (3,)"),
    (lambda t, i: i["parts"]["progress"].update(step_in_epoch="4"), "progress.step_in_epoch is a string"),
])
def test_a_state_with_good_checksums_but_a_wrong_skeleton_is_refused_before_anything_is_restored(crashed, edit, words):
    run = crashed / "run"
    _edit_state(run, edit)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(run), "--resume", "--epochs", "2",
                                       "--limit-batches", "6", "--checkpoint-every", "2", "--device", "cpu", "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "the saved state does not fit this run" in result.output and words in result.output, result.output
    assert time.perf_counter() - started < 30
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("where", ["state.safetensors", "state.prev.safetensors", "state.damaged.safetensors"])
def test_a_folder_in_place_of_a_state_file_is_named_with_what_to_do(crashed, where):
    run = crashed / "run"
    (run / "state.damaged.safetensors").write_bytes(b"an older damaged state")
    target = run / where
    target.unlink()
    target.mkdir()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(run), "--resume", "--epochs", "2",
                                       "--limit-batches", "6", "--device", "cpu", "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"{target} is a folder, where zoo keeps a state of the run; move it out of {run}" in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before and target.is_dir()


def test_disk_full_during_a_checkpoint_is_one_line_and_keeps_the_last_state(tmp_path, monkeypatch):
    import zoo.training.checkpoint as checkpoint

    writes = {"n": 0}
    original = checkpoint.atomic_save_safetensors

    def fills_up(path, tensors, metadata=None):
        writes["n"] += 1
        if writes["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, tensors, metadata)

    monkeypatch.setattr(checkpoint, "atomic_save_safetensors", fills_up)
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(tmp_path), "--epochs", "1",
                                       "--limit-batches", "6", "--checkpoint-every", "2", "--device", "cpu", "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "No space left on device" in result.output and "intact" in result.output
    assert position(tmp_path, "state.prev.safetensors") == (0, 2)  # the last good state, still readable
    assert not (tmp_path / "model.safetensors").exists()


def test_an_unwritable_run_folder_is_refused_before_training(tmp_path, monkeypatch):
    import zoo.training.runfolder as runfolder

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(runfolder.tempfile, "NamedTemporaryFile", denied)
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(tmp_path / "ro"), "--device", "cpu"])
    assert result.exit_code == 2
    assert result.output == f"Error: Cannot write to the run folder {tmp_path / 'ro'}: Permission denied\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_for_real(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    result = CliRunner().invoke(main, ["train", "deep-784-32", "--out", str(ro), "--device", "cpu"])
    assert result.exit_code == 2 and "Cannot write to the run folder" in result.output


def one_line(result, code):
    assert result.exit_code == code, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output
    return result.output


def test_bad_weights_files_on_the_command_line(tmp_path):
    cli = CliRunner()
    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    assert "not a readable safetensors file" in one_line(cli.invoke(main, ["eval", str(tmp_path / "pickle.safetensors")]), 1)
    torch.manual_seed(0)
    model = zoo.load("deep-784-32", pretrained=False, device="cpu")
    zoo.weights.save_weights(tmp_path / "m.safetensors", model, model.entry)
    good = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(good[: len(good) // 2])
    one_line(cli.invoke(main, ["eval", str(tmp_path / "m.safetensors")]), 1)
    (tmp_path / "m.safetensors").write_bytes(good)
    flip_byte(tmp_path / "m.safetensors", -10)
    assert "fail the checksum" in one_line(cli.invoke(main, ["eval", str(tmp_path / "m.safetensors")]), 1)
    assert "does not exist" in one_line(cli.invoke(main, ["eval", str(tmp_path / "none.safetensors")]), 1)


def test_bad_registry_and_data_on_the_command_line(tmp_path, monkeypatch, data_dir):
    cli = CliRunner()
    registry = json.loads((zoo.paths.REPO_DIR / "registry.json").read_text())
    entry = registry["models"]["conv-32"]
    entry["kwargs"]["latent_dim"] = 2000
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"conv-2000": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    out = one_line(cli.invoke(main, ["list"]), 2)
    assert "entry 'conv-2000': kwargs.latent_dim: a code of 2000 is wider than the 784-pixel input" in out
    monkeypatch.delenv("ZOO_REGISTRY")

    bad = tmp_path / "data" / "mnist"
    bad.mkdir(parents=True)
    for f in (data_dir / "mnist").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes((bad / "t10k-labels-idx1-ubyte.gz").read_bytes()[:-40])
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    zoo.data._LOADED.clear()
    out = one_line(cli.invoke(main, ["train", "deep-784-32", "--out", str(tmp_path / "r"), "--device", "cpu"]), 1)
    assert "t10k-labels-idx1-ubyte.gz" in out and "corrupted or truncated" in out
    zoo.data._LOADED.clear()


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp", "Deep-64", "deep 64"])
def test_names_that_try_to_escape(name):
    assert "Unknown model" in one_line(CliRunner().invoke(main, ["train", name]), 2)


@pytest.mark.slow
def _mtime(path) -> int:
    """A file's mtime in ns, 0 while it is absent: the state is replaced in turn, and may vanish between two looks."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def test_sigkill_at_20_random_moments_then_resume_is_bitwise_exact(tmp_path):
    """Kills land anywhere: start-up, training steps, and (with a state write every step) checkpoint writes."""
    args = [sys.executable, "-m", "zoo", "train", "deep-784-32", "--epochs", "3", "--limit-batches", "60",
            "--checkpoint-every", "1", "--device", "cpu", "--quiet"]
    straight = subprocess.run(args + ["--out", str(tmp_path / "straight")], capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    run, rng, kills = tmp_path / "killed", random.Random(20), 0
    while True:
        proc = subprocess.Popen(args + ["--out", str(run)] + (["--resume"] if kills else []),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 20:
            # wait until this process has written a state (so every life makes progress), then strike at
            # a random moment of the next 50 ms: a few steps, often inside a state write
            mark = _mtime(run / "state.safetensors")
            deadline = time.time() + 120
            while proc.poll() is None and time.time() < deadline:
                if _mtime(run / "state.safetensors") not in (mark, 0):
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        proc.wait(timeout=300)
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        if (run / "model.safetensors").exists():
            break
    assert kills == 20
    epoch, step = position(run)
    assert (epoch, step) == (3, 0)
    assert same_weights(tmp_path / "straight" / "model.safetensors", run / "model.safetensors")
