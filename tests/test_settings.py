"""``zoo train --set KEY=VALUE``: any recipe field, validated by the schema, recorded, and kept on resume."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zoo

SMALL = ["--epochs", "1", "--limit-batches", "3", "--device", "cpu", "--quiet"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_set_changes_the_recipe_is_recorded_and_a_resume_may_not_change_it(data_dir, tmp_path):
    run = tmp_path / "run"
    done = cli("train", "deep-784-32", *SMALL, "--out", run, "--set", "early_stopping.patience=7",
               "--set", "optimizer_kwargs.betas=[0.8, 0.95]")
    assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["settings"] == {"optimizer_kwargs.betas": [0.8, 0.95]}  # patience is a named override
    assert config["overrides"]["patience"] == 7 and config["entry"]["recipe"]["optimizer_kwargs"]["betas"] == [0.8, 0.95]
    assert zoo.load(run, device="cpu").entry.recipe.early_stopping.patience == 7
    # the same setting again is no change; another is refused in one line and nothing is touched
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".zoo.lock"}
    refused = cli("train", "deep-784-32", "--out", run, "--resume", "--epochs", "2", "--limit-batches", "3",
                  "--device", "cpu", "--set", "optimizer_kwargs.betas=[0.9, 0.95]")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "was started with optimizer_kwargs.betas=[0.8, 0.95]" in refused.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".zoo.lock"} == before
    given = cli("train", "deep-784-32", "--out", run, "--resume", "--epochs", "2", "--limit-batches", "3",
                "--device", "cpu", "--set", "lr=0.1")
    assert given.returncode == 2 and given.stderr.count("\n") == 1, given.stderr
    assert "was started with lr=0.001" in given.stderr and "(drop --set lr or" in given.stderr
    assert "--lr" not in given.stderr
    same = cli("train", "deep-784-32", "--out", run, "--resume", "--epochs", "2", "--limit-batches", "3",
               "--device", "cpu", "--quiet", "--set", "optimizer_kwargs.betas=[0.8, 0.95]", "--set", "epochs=2")
    assert same.returncode == 0, same.stderr
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2


def test_bad_settings_are_one_line_with_exit_2_and_leave_no_run_folder(data_dir, tmp_path):
    for setting, message in (("early_stopping.patienc=3", "Did you mean 'patience'"),
                             ("patience", "KEY=VALUE"),
                             ("lr=-1", "lr: must be > 0"),
                             ("noise.type=gaussian", "noise.std"),
                             ("pretrain.type=rbm", "recipe.pretrain: RBM pretraining needs Linear layers with logistic"),
                             ('pretrain={"type":"rbm"}', "the encoder has ReLU after layer 1"),
                             ("optimizers.phase.lr=1", "recipe.optimizers.phase: deep-784-32 trains no phase 'phase'; "
                                                       "its single objective's phases: main")):
        done = cli("train", "deep-784-32", *SMALL, "--out", tmp_path / "x", "--set", setting)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, (setting, done.stderr)
        assert not (tmp_path / "x" / "state.safetensors").exists() and "Traceback" not in done.stderr
    clash = cli("train", "deep-784-32", *SMALL, "--out", tmp_path / "y", "--lr", "0.1", "--set", "lr=0.2")
    assert clash.returncode == 2 and "--lr 0.1 and --set lr=0.2 disagree" in clash.stderr


def test_the_same_refusal_is_worded_for_the_cli_and_for_python(data_dir, tmp_path):


    (tmp_path / "mine.txt").write_text("a file of mine")
    done = cli("train", "deep-784-32", "--out", tmp_path)
    assert done.returncode == 2 and "pass --force to train into it anyway" in done.stderr, done.stderr
    with pytest.raises(zoo.ZooError) as caught:
        zoo.train("deep-784-32", out=tmp_path)
    assert "pass force=True to train into it anyway" in str(caught.value) and "--force" not in str(caught.value)
