"""Models that leave Python: every entry's ONNX export run by onnxruntime, TorchScript, torch.hub."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from click.testing import CliRunner

import zoo
import zoo.paths
from zoo.cli import main
from zoo.data import load_dataset, to_float
from zoo.errors import UsageError
from zoo.export import ExportError, export
from zoo.weights import read_metadata, shipped_weights

NAMES = zoo.list_models()


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def check_images(model, n=256):
    return to_float(load_dataset(model.entry.dataset, "test").images[:n])


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_exports_to_onnx_that_onnxruntime_runs_like_torch(name, tmp_path):
    result = cli("export", name, "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    assert re.match(r"wrote .*m\.onnx \(onnx, full\): max abs difference from torch \S+ on 256 test images", result.output)
    model = zoo.load(name, device="cpu")
    x = check_images(model)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"] and [o.name for o in session.get_outputs()] == ["reconstructions"]
    got = session.run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - model(x).numpy()).max() <= 1e-5
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["zoo.weights_sha256"] == read_metadata(shipped_weights(name))["zoo.tensors_sha256"]
    assert json.loads(meta["zoo.entry"]) == model.entry.to_dict() and meta["zoo.version"] == zoo.__version__


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_encoder_and_decoder_exports_give_the_codes_and_the_images(fmt, tmp_path):
    model = zoo.load("fashion-64", device="cpu")
    x = check_images(model, 300)  # another batch size than the export saw: the batch axis is dynamic
    with torch.no_grad():
        codes, images = model.encode(x), model.decode(model.encode(x))
    for part, inputs, expected in (("encoder", x, codes), ("decoder", codes, images)):
        path = tmp_path / f"{part}.{fmt}"
        export("fashion-64", path, format=fmt, part=part)
        if fmt == "onnx":
            name = "images" if part == "encoder" else "codes"
            got = torch.from_numpy(onnxruntime.InferenceSession(str(path)).run(None, {name: inputs.numpy()})[0])
        else:
            extra = {"zoo.json": ""}
            loaded = torch.jit.load(str(path), _extra_files=extra)
            assert json.loads(extra["zoo.json"])["zoo.part"] == part
            with torch.no_grad():
                got = loaded(inputs)
        assert got.shape == expected.shape and (got - expected).abs().max() <= 1e-5, part


def test_torch_hub_loads_exactly_what_zoo_load_does(monkeypatch):
    repo = str(zoo.paths.REPO_DIR)
    for name in NAMES:
        hub = torch.hub.load(repo, name, source="local", device="cpu")
        mine = zoo.load(name, device="cpu")
        assert type(hub) is type(mine) and not hub.training and hub.entry == mine.entry
        a, b = hub.state_dict(), mine.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(5)
    fresh = torch.hub.load(repo, "deep-784-2", source="local", pretrained=False, device="cpu")
    torch.manual_seed(5)
    again = zoo.load("deep-784-2", pretrained=False, device="cpu")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in again.state_dict().items())
    monkeypatch.setattr(torch.hub, "_get_cache_or_reload", lambda *args, **kwargs: repo)  # GitHub, offline
    assert sorted(torch.hub.list("owner/zoo")) == sorted(NAMES)


def test_bad_exports_are_one_line_and_write_nothing(tmp_path, monkeypatch):
    def one_line(result, code):
        assert result.exit_code == code and result.output.count("\n") == 1 and result.output.startswith("Error: ")
        return result.output

    assert "'pdf'" in one_line(cli("export", "deep-64", "--format", "pdf", "--out", tmp_path / "x"), 2)
    with pytest.raises(UsageError, match="Unknown export format 'pdf'"):
        export("deep-64", tmp_path / "x", format="pdf")
    (tmp_path / "file").write_text("a file, not a folder")
    assert "is a file, not a folder" in one_line(cli("export", "deep-64", "--out", tmp_path / "file" / "m.onnx"), 2)
    out = one_line(cli("export", "deep-64", "--out", tmp_path / "m.onnx", "--tolerance", "0"), 1)
    assert "above the tolerance 0" in out and not (tmp_path / "m.onnx").exists()


def test_a_stochastic_model_is_refused(tmp_path):
    vae = zoo.load("vae-16", device="cpu")

    def sampling_forward(x):  # the reparameterised path: z = mu + sigma * noise
        mu, logvar = vae.gaussian(x)
        return vae.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))

    vae.forward = sampling_forward
    with pytest.raises(ExportError, match="not deterministic"):
        export(vae, tmp_path / "vae.onnx")
    assert not (tmp_path / "vae.onnx").exists()


def test_a_plugin_model_without_its_registry_is_named(tmp_path):
    shutil.copy(Path(__file__).parent / "user_plugin.py", tmp_path / "user_plugin.py")
    x = np.zeros((20, 8, 8), np.uint8)
    x[:, 2:6, 2:6] = np.arange(20, dtype=np.uint8)[:, None, None] * 10
    np.savez(tmp_path / "d.npz", x_train=x, x_test=x[:4])
    (tmp_path / "r.json").write_text(json.dumps({"version": 1, "plugins": ["user_plugin"], "models": {"t": {
        "description": "tiny", "family": "tiny-mlp", "kwargs": {"latent_dim": 2, "width": 8},
        "dataset": str(tmp_path / "d.npz"), "recipe": {"optimizer": "adam", "lr": 0.01, "batch_size": 4, "epochs": 1,
                                                      "loss": "mse", "early_stopping": {"patience": 1}, "seed": 0}}}}))
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    env["PYTHONPATH"] = str(zoo.paths.REPO_DIR)
    zoo_cmd = [sys.executable, "-m", "zoo"]
    trained = subprocess.run([*zoo_cmd, "--registry", "r.json", "train", "t", "--out", "run", "--quiet"], cwd=tmp_path,
                             env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    done = subprocess.run([*zoo_cmd, "export", "run", "--out", "t.onnx"], cwd=tmp_path, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "plugin module 'user_plugin'" in done.stderr
    assert not (tmp_path / "t.onnx").exists()


@pytest.mark.slow
def test_the_export_commands_of_the_docs_run_as_written(tmp_path, doc_block):
    block = doc_block("elsewhere:run.sh")
    (tmp_path / "run.sh").write_text(block)
    shutil.copy(zoo.paths.REPO_DIR / "hubconf.py", tmp_path / "hubconf.py")  # "a checkout of this repository"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
           "PYTHONPATH": str(zoo.paths.REPO_DIR)}
    done = subprocess.run(["bash", "-eo", "pipefail", "run.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["(5, 64)", "AE"] and sum(line.startswith("wrote ") for line in lines) == 3
