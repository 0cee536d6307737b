"""Regression tests for what an adversarial probe broke: concurrent runs, edited headers, the fallback
chain, a full disk, hostile files and absurd values. Each failed on the code before the fix."""
from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import cli, one_line
from killing import crash_after_save
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import zoo
import zoo.paths
from zoo.errors import TrainingError, UsageError, WeightsError
from zoo.io import HEADER_CHECKSUM_KEY, header_sha256
from zoo.training import runfolder
from zoo.training.checkpoint import DAMAGED_FILE, PREVIOUS_FILE, STATE_FILE, read_state
from zoo.weights import save_weights

SMALL = ["--device", "cpu", "--quiet"]
OPTIONS = dict(epochs=2, limit_batches=6, checkpoint_every=2, device="cpu", quiet=True)


def snapshot(folder: Path):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != runfolder.LOCK_FILE}


def rewrite_header(path: Path, change, *, rechecksum: bool = True) -> None:
    """Rewrite a safetensors file with ``change(metadata)`` applied and the same tensors. ``rechecksum``:
    recompute the header's checksum, as a hostile file would (it is no signature); else keep the old one."""
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k).clone() for k in f.keys()}
    change(meta)
    if rechecksum and HEADER_CHECKSUM_KEY in meta:
        meta[HEADER_CHECKSUM_KEY] = header_sha256(meta)
    save_file(tensors, str(path), metadata=meta)


def env():
    return {**os.environ, "PYTHONPATH": str(zoo.paths.REPO_DIR)}


@pytest.fixture
def finished(tmp_path):
    zoo.train("deep-784-32", out=tmp_path / "run", epochs=1, limit_batches=3, device="cpu", quiet=True)
    return tmp_path / "run"


# ---------------------------------------------------------------------- 1. one run per folder
def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(finished):
    handle = runfolder.lock(finished)  # as a running zoo process holds it
    try:
        before = snapshot(finished)
        for extra in (["--seed", "2"], ["--resume"]):
            out = one_line(cli("train", "deep-784-32", "--out", finished, *SMALL, *extra), 2)
            assert f"in use by another zoo run (PID {os.getpid()})" in out
        assert snapshot(finished) == before
    finally:
        handle.close()
    assert cli("train", "deep-784-32", "--out", finished, "--resume", "--epochs", "2", "--limit-batches", "3",
               *SMALL).exit_code == 0


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    code = "import sys, time; from pathlib import Path; from zoo.training import runfolder; " \
           "h = runfolder.lock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=f"PID {proc.pid}"):
            runfolder.lock(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    runfolder.lock(tmp_path).close()  # the OS released it with the process


# ---------------------------------------------------------------------- 2. headers are checksummed
def test_an_edited_state_header_is_refused(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _crash_after(3, lambda: zoo.train("deep-784-32", out=run, **OPTIONS))
    for name in (STATE_FILE, PREVIOUS_FILE):
        def edit(meta):
            info = json.loads(meta["zoo.state"])
            info["parts"]["progress"]["step_in_epoch"] += 1
            info["parts"]["optimizer.main"]["param_groups"][0]["lr"] = 0.5
            meta["zoo.state"] = json.dumps(info)
        rewrite_header(run / name, edit, rechecksum=False)
    out = one_line(cli("train", "deep-784-32", "--out", run, "--resume", "--epochs", "2", "--limit-batches", "6", *SMALL), 1)
    assert "its header fails its checksum" in out and "no good state is left" in out


def test_an_edited_weights_header_is_refused(finished):
    def edit(meta):
        entry = json.loads(meta["zoo.entry"])
        entry["kwargs"]["activation"] = "elu"  # same tensors, another model
        meta["zoo.entry"] = json.dumps(entry)
    rewrite_header(finished / "model.safetensors", edit, rechecksum=False)
    with pytest.raises(WeightsError, match="its header fails its checksum"):
        zoo.load(finished, device="cpu")
    assert "header fails its checksum" in one_line(cli("eval", finished, "--limit", 10), 1)


def test_shipped_weights_of_format_1_are_held_to_their_card(tmp_path, monkeypatch):
    shutil.copytree(zoo.paths.REPO_DIR / "weights" / "deep-784-2", tmp_path / "deep-784-2")
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    assert zoo.load("deep-784-2", device="cpu").latent_dim == 2
    rewrite_header(tmp_path / "deep-784-2" / "model.safetensors",
                   lambda meta: meta.update({"zoo.entry": meta["zoo.entry"].replace('"relu"', '"elu"')}), rechecksum=False)
    with pytest.raises(WeightsError, match="differs from the SHA-256 in"):
        zoo.load("deep-784-2", device="cpu")
    (tmp_path / "deep-784-2" / "card.json").unlink()
    with pytest.raises(WeightsError, match="format 1, whose header has no checksum"):
        zoo.load(tmp_path / "deep-784-2", device="cpu")


# ---------------------------------------------------------------------- 3. the fallback chain
class Crash(KeyboardInterrupt):
    pass


def _crash_after(n, call):
    with crash_after_save(n, Crash):
        call()


def test_a_damaged_state_is_set_aside_never_rotated_over_the_good_one(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Crash):
        _crash_after(3, lambda: zoo.train("deep-784-32", out=run, **OPTIONS))
    data = bytearray((run / STATE_FILE).read_bytes())
    data[-64] ^= 0xFF
    (run / STATE_FILE).write_bytes(bytes(data))
    good_prev = (run / PREVIOUS_FILE).read_bytes()
    lines = []
    with pytest.raises(Crash):  # resumed from state.prev, then killed right after its first save
        _crash_after(1, lambda: zoo.train("deep-784-32", out=run, resume=True, **{**OPTIONS, "quiet": False},
                                          log=lines.append))
    assert lines[0].startswith("warning: ") and DAMAGED_FILE in lines[0]
    assert (run / DAMAGED_FILE).read_bytes() == bytes(data)  # kept for a look, out of the chain
    assert (run / PREVIOUS_FILE).read_bytes() == good_prev  # the good one was not replaced by the damaged one
    read_state(run, warn=pytest.fail)  # the newest state is good: no fallback needed


# ---------------------------------------------------------------------- 4. a full disk
@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4700k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_leaves_earlier_files_intact(tiny_disk, monkeypatch):
    run = tiny_disk / "run"
    # hinton-30's state (11 MB of weights, 3 copies) cannot fit in 4.7 MB: the first state write fails
    out = one_line(cli("train", "hinton-30", "--out", run, "--epochs", "1", "--limit-batches", "2", *SMALL), 1)
    assert "No space left on device" in out and "intact" in out
    assert not list(run.glob("*.safetensors")) and not list(run.glob(".*.tmp"))
    assert json.loads((run / "config.json").read_text())["name"] == "hinton-30"  # written before, intact
    # the PCA cache (4.9 MB) does not fit either: zoo eval goes on without it
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tiny_disk / "cache"))
    result = cli("eval", "deep-784-2", "--limit", 50, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)] == ["deep-784-2", "pca-2"]


# ---------------------------------------------------------------------- 5, 6. resume that cannot be
def test_resume_of_a_model_without_state_is_refused_and_touches_nothing(finished):
    for name in (STATE_FILE, PREVIOUS_FILE):
        (finished / name).unlink(missing_ok=True)
    before = snapshot(finished)
    out = one_line(cli("train", "deep-784-32", "--out", finished, "--resume", "--limit-batches", "3", *SMALL), 2)
    assert "holds a trained model but no state to resume from" in out
    assert snapshot(finished) == before


def test_resume_with_epochs_already_done_finishes_cleanly_or_is_refused(tmp_path, caplog):
    run = tmp_path / "run"
    with pytest.raises(Crash):  # initial, steps 2 and 4, epoch 1's end: crash there, at (1, 0)
        _crash_after(4, lambda: zoo.train("deep-784-32", out=run, **OPTIONS))
    with caplog.at_level(logging.WARNING, logger="zoo"):
        summary = zoo.train("deep-784-32", out=run, resume=True, **{**OPTIONS, "epochs": 1})
    said = [r.getMessage() for r in caplog.records if "was started for" in r.getMessage()]
    assert said == [f"{run} was started for {OPTIONS['epochs']} epochs and has run 1; epochs=1: it ends earlier, after 1"]
    assert summary["epochs_run"] == 1 and len(summary["history"]) == 1 and summary["stop_reason"] == "completed 1 epoch"
    mid = tmp_path / "mid"
    with pytest.raises(Crash):  # ... and at (1, 2), inside epoch 2
        _crash_after(5, lambda: zoo.train("deep-784-32", out=mid, **OPTIONS))
    out = one_line(cli("train", "deep-784-32", "--out", mid, "--resume", "--epochs", "1", "--limit-batches", "6",
                       "--checkpoint-every", "2", *SMALL), 2)
    assert "started epoch 2; --epochs must be at least 2" in out


# ---------------------------------------------------------------------- 7. a damaged PCA cache
def test_a_damaged_pca_cache_is_refitted_and_said(caplog):
    from zoo.evaluation import evaluate_pca
    from zoo.evaluation.pca import _cache_path

    clean = evaluate_pca("mnist", 32, metrics=("mse",), limit=500)
    path = _cache_path("mnist")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the components: the file still parses
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="zoo"):
        again = evaluate_pca("mnist", 32, metrics=("mse",), limit=500)
    assert again["mse"] == clean["mse"]
    assert any("PCA cache" in r.getMessage() and "fitting PCA again" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- 8, 9, 10. absurd content
def test_deeply_nested_json_is_one_line(tmp_path, monkeypatch, finished):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "registry.json").write_text('{"version": 1, "models": {"a": ' + deep + "}}")
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    assert "nested too deeply" in one_line(cli("list"), 2)
    monkeypatch.delenv("ZOO_REGISTRY")
    rewrite_header(finished / "model.safetensors", lambda meta: meta.update({"zoo.entry": deep}))
    assert "nested too deeply" in one_line(cli("eval", finished), 1)


def test_huge_declared_models_are_refused_before_anything_is_built(tmp_path, monkeypatch, finished):
    def huge(meta):
        entry = json.loads(meta["zoo.entry"])
        entry["network"]["hidden"] = [16384] * 200
        meta["zoo.entry"] = json.dumps(entry)
    rewrite_header(finished / "model.safetensors", huge)
    started = time.perf_counter()
    out = one_line(cli("eval", finished), 1)
    assert "parameters, above zoo's cap" in out and time.perf_counter() - started < 30
    rewrite_header(finished / "model.safetensors", lambda meta: meta.update(
        {"zoo.entry": meta["zoo.entry"][:-1] + ', "dataset": "mnist"}'}))
    assert "duplicate key 'dataset'" in one_line(cli("eval", finished), 1)
    registry = json.loads((zoo.paths.REPO_DIR / "registry.json").read_text())
    entry = registry["models"]["deep-64"]
    entry["network"]["hidden"] = [16384] * 200
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"huge-64": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    assert "above zoo's cap" in one_line(cli("list"), 2)


def test_a_declared_shape_that_does_not_fit_is_refused_before_building(finished):
    model = zoo.load(finished, device="cpu")
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors["encoder.0.weight"] = torch.zeros(1, 1)
    save_weights(finished / "other.safetensors", model, model.entry)
    with safe_open(str(finished / "other.safetensors"), framework="pt") as f:
        meta = dict(f.metadata())
    from zoo.io import atomic_save_safetensors

    atomic_save_safetensors(finished / "other.safetensors", tensors, {k: v for k, v in meta.items()
                                                                       if not k.endswith("sha256")})
    with pytest.raises(WeightsError, match=r"encoder.0.weight is \(1, 1\)"):
        zoo.load(finished / "other.safetensors", device="cpu")


def test_a_seed_beyond_64_bits_is_a_usage_error(tmp_path, monkeypatch):
    big = 18446744073709551616
    assert "--seed" in one_line(cli("train", "deep-784-32", "--seed", big, "--out", tmp_path / "x", *SMALL), 2)
    with pytest.raises(UsageError, match="seed: must be in 0..9223372036854775807"):
        zoo.train("deep-784-32", seed=big, out=tmp_path / "y", device="cpu")
    registry = json.loads((zoo.paths.REPO_DIR / "registry.json").read_text())
    entry = registry["models"]["deep-64"]
    entry["recipe"]["seed"] = big
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"big-seed": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    assert "recipe.seed" in one_line(cli("list"), 2)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ---------------------------------------------------------------------- 11, 12. files that never end
def test_a_fifo_is_refused_not_waited_on(tmp_path, monkeypatch):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line(cli("eval", fifo), 1)
    monkeypatch.setenv("ZOO_REGISTRY", str(fifo))
    assert "not a regular file" in one_line(cli("list"), 2)


def test_a_gzip_bomb_or_a_huge_file_under_an_idx_name_is_refused_unread(tmp_path, monkeypatch, data_dir):
    root = tmp_path / "data"
    shutil.copytree(data_dir / "mnist", root / "mnist")
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    zoo.data._LOADED.clear()
    for f in (root / "mnist").glob("t10k-images*"):
        f.unlink()
    with open(root / "mnist" / "t10k-images-idx3-ubyte", "wb") as f:
        f.truncate(5 * 2**30)  # 5 GB, sparse
    try:
        with pytest.raises(zoo.errors.DataError, match="holds more than the 7,840,016 bytes"):
            zoo.load_dataset("mnist", "test")
        (root / "mnist" / "t10k-images-idx3-ubyte").unlink()
        with gzip.open(root / "mnist" / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
            for _ in range(64):
                f.write(bytes(2**20))  # 64 MB of zeros in about 64 KB
        with pytest.raises(zoo.errors.DataError, match="holds more than"):
            zoo.load_dataset("mnist", "test")
    finally:
        zoo.data._LOADED.clear()


# ---------------------------------------------------------------------- 13. unverifiable weights
def test_weights_without_checksum_with_unknown_format_or_not_finite_are_refused(finished):
    path = finished / "model.safetensors"
    good = path.read_bytes()
    rewrite_header(path, lambda meta: meta.pop("zoo.tensors_sha256"))
    assert "carries no checksum of its tensors" in one_line(cli("eval", path), 1)
    path.write_bytes(good)
    rewrite_header(path, lambda meta: meta.update({"zoo.format": "7"}))
    assert "weights format '7'" in one_line(cli("eval", path), 1)
    path.write_bytes(good)
    model = zoo.load(finished, device="cpu")
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")
    save_weights(path, model, model.entry)
    assert "NaN or infinite values in decoder.0.weight" in one_line(cli("eval", path), 1)


# ---------------------------------------------------------------------- 14. names in messages
def test_a_name_cannot_forge_a_second_line_and_an_empty_one_is_refused():
    out = one_line(cli("eval", "deep-64\nError: fake second line"), 2)  # an unknown name: a usage error
    assert "\\nError: fake second line" in out
    assert "empty name" in one_line(cli("eval", ""), 2)


# ---------------------------------------------------------------------- 15, 16. other people's files
def test_resume_cleans_only_zoos_own_leftovers(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Crash):
        _crash_after(3, lambda: zoo.train("deep-784-32", out=run, **OPTIONS))
    ours = run / ".state.safetensors.zoo-k1ll3d.tmp"
    theirs = [run / ".notes.tmp", run / ".state.safetensors.tmpAbC123"]
    for path in (ours, *theirs):
        path.write_bytes(b"x" * 100)
    zoo.train("deep-784-32", out=run, resume=True, **OPTIONS)
    assert not ours.exists() and all(p.read_bytes() == b"x" * 100 for p in theirs)


def test_a_folder_that_is_not_a_zoo_run_is_not_written_into_without_force(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}')
    out = one_line(cli("train", "deep-784-32", "--out", folder, "--epochs", "1", "--limit-batches", "2", *SMALL), 2)
    assert "is not empty and is not a zoo run (config.json)" in out and "--force" in out
    assert [p.name for p in folder.iterdir()] == ["config.json"] and (folder / "config.json").read_text() == '{"my": "settings"}'
    result = cli("train", "deep-784-32", "--out", folder, "--epochs", "1", "--limit-batches", "2", "--force", *SMALL)
    assert result.exit_code == 0 and (folder / "model.safetensors").is_file()


# ---------------------------------------------------------------------- 17. Ctrl-C saves
@pytest.mark.slow
def test_ctrl_c_saves_the_state_at_the_current_step_and_the_resume_is_exact(tmp_path):
    args = [sys.executable, "-m", "zoo", "train", "hinton-30", "--epochs", "1", "--limit-batches", "400",
            "--device", "cpu", "--quiet"]
    straight = subprocess.run(args + ["--out", str(tmp_path / "straight")], capture_output=True, text=True, env=env())
    assert straight.returncode == 0, straight.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen(args + ["--out", str(run)], stderr=subprocess.PIPE, text=True, env=env())
    deadline = time.time() + 120
    while not list(run.glob("tensorboard/events.*")):  # the loop is about to start
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.01)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and stderr.count("\n") == 1 and "the state is saved" in stderr, stderr
    with safe_open(str(run / STATE_FILE), framework="pt") as f:
        info = json.loads(f.metadata()["zoo.state"])
    position = info["parts"]["progress"]
    assert position["epoch"] == 0 and 0 < position["step_in_epoch"] < 400  # no checkpoint was asked for: saved by Ctrl-C
    resumed = subprocess.run(args + ["--out", str(run), "--resume"], capture_output=True, text=True, env=env())
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_ctrl_c_stops_at_once():
    from zoo.training.interrupt import Interrupt

    # Python's own handler, as a terminal gives it: a job a shell starts in the background inherits
    # SIGINT ignored, and the second Ctrl-C falls back to whatever was there before
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Interrupt() as ctrl_c:  # raise_signal: to this (the main) thread, not to any of torch's threads
            signal.raise_signal(signal.SIGINT)
            assert ctrl_c.requested
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)


# ---------------------------------------------------------------------- 18, 19. exit codes, Python API
def test_bad_content_in_a_weights_file_is_a_data_error(finished):
    def unknown_key(meta):
        entry = json.loads(meta["zoo.entry"])
        entry["kwargs"]["colour"] = "red"
        meta["zoo.entry"] = json.dumps(entry)
    rewrite_header(finished / "model.safetensors", unknown_key)
    assert "kwargs.colour: unknown key" in one_line(cli("eval", finished), 1)
    with pytest.raises(WeightsError):
        zoo.load(finished)


@pytest.mark.parametrize("call, words", [
    (lambda out: zoo.train("deep-784-32", device=5, out=out), "A device is a name"),
    (lambda out: zoo.train("deep-784-32", checkpoint_every="3", out=out, device="cpu"), "checkpoint_every must be a whole"),
    (lambda out: zoo.train("deep-784-32", out=123, device="cpu"), "out must be a folder path"),
    (lambda out: zoo.evaluate(torch.nn.Identity(), dataset="mnist"), "takes an autoencoder"),
    (lambda out: zoo.evaluate(zoo.load("deep-784-2", device="cpu"), limit=2.5), "limit must be a whole number"),
    (lambda out: zoo.load(None), "takes a name or a path"),
])
def test_python_api_misuse_is_a_zoo_error(call, words, tmp_path):
    with pytest.raises(zoo.ZooError, match=words):
        call(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_state_content_that_is_not_a_state_is_a_training_error(finished):
    for name in (STATE_FILE, PREVIOUS_FILE):
        if (finished / name).exists():
            rewrite_header(finished / name, lambda meta: meta.update({"zoo.state": "[]"}))
    with pytest.raises(TrainingError, match="no good state is left"):
        zoo.train("deep-784-32", out=finished, resume=True, limit_batches=3, device="cpu")
