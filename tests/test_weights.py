"""Weights round-trip through safetensors and are rebuilt from the entry in their header."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

import zoo
from zoo.errors import UnknownModelError, UsageError, WeightsError
from zoo.io import CHECKSUM_KEY, HEADER_CHECKSUM_KEY, atomic_save_safetensors
from zoo.weights import entry_from_file, read_metadata, save_weights


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(3)
    model = zoo.load("deep-784-32", pretrained=False, device="cpu")
    path = tmp_path / "run" / "model.safetensors"
    save_weights(path, model, model.entry, epochs=3, best_val_loss=0.0123)
    return model, path


def test_round_trip_from_file_and_folder(saved, mnist_batch):
    model, path = saved
    for target in (path, path.parent, str(path)):
        loaded = zoo.load(target, device="cpu")
        assert not loaded.training
        for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
            assert torch.equal(a, b), k
        assert torch.equal(loaded(mnist_batch), model(mnist_batch))


def test_metadata_carries_the_entry(saved):
    _, path = saved
    meta = read_metadata(path)
    assert meta["zoo.name"] == "deep-784-32"
    assert json.loads(meta["zoo.epochs"]) == 3 and json.loads(meta["zoo.best_val_loss"]) == 0.0123
    entry, _ = entry_from_file(path)
    assert entry == zoo.get_entry("deep-784-32")


def test_pretrained_without_shipped_weights_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match="No trained weights are shipped for 'fashion-64' yet"):
        zoo.load("fashion-64")


def test_shipped_weights_are_found_by_name(saved, monkeypatch, tmp_path):
    model, path = saved
    shipped = tmp_path / "weights" / "deep-784-32"
    shipped.mkdir(parents=True)
    path.rename(shipped / "model.safetensors")
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "weights"))
    loaded = zoo.load("deep-784-32", device="cpu")
    assert torch.equal(loaded.encoder[0].weight, model.encoder[0].weight)


def test_a_pickle_renamed_safetensors_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.safetensors"

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        zoo.load(path)


def test_truncated_file_is_refused(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError):
        zoo.load(path)


def test_weights_of_another_shape_are_refused(saved):
    model, path = saved
    other = zoo.load("deep-784-32", pretrained=False, device="cpu")
    tensors = dict(other.state_dict())
    tensors["encoder.0.weight"] = torch.zeros(64, 784)
    header = {k: v for k, v in read_metadata(path).items() if k not in (CHECKSUM_KEY, HEADER_CHECKSUM_KEY)}
    atomic_save_safetensors(path, tensors, header)  # a genuine file (checksums right) of another shape
    with pytest.raises(WeightsError, match="encoder.0.weight is \\(64, 784\\)"):
        zoo.load(path)
    del tensors["encoder.0.weight"]
    atomic_save_safetensors(path, tensors, header)
    with pytest.raises(WeightsError, match="missing encoder.0.weight"):
        zoo.load(path)


def test_plain_safetensors_without_zoo_header_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not a zoo model"):
        zoo.load(path)


def test_bad_names_and_paths(tmp_path):
    with pytest.raises(UnknownModelError, match="Did you mean 'fashion-64'"):
        zoo.load("fashion-46")
    with pytest.raises(WeightsError, match="does not exist"):
        zoo.load("../nowhere/model.safetensors")
    with pytest.raises(UsageError, match="Unknown device 'tpu'"):
        zoo.load("fashion-64", pretrained=False, device="tpu")
    with pytest.raises(UsageError, match="does not exist|CUDA is not available"):
        zoo.load("fashion-64", pretrained=False, device=f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_where_there_is_none_is_a_usage_error():
    with pytest.raises(UsageError, match="CUDA is not available here"):
        zoo.load("fashion-64", pretrained=False, device="cuda")


def test_a_flipped_bit_in_the_tensors_is_caught_by_the_checksum(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor's bytes; the header still parses
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="is corrupted: its tensors fail the checksum"):
        zoo.load(path)


def test_load_after_import_pulls_in_nothing_heavy():
    """`import zoo` brings torch and the load path; torchvision, matplotlib and TensorBoard wait for
    training, evaluation or plots (the timings are in BENCHMARKS.md, not asserted here)."""
    import subprocess
    import sys

    code = ("import sys, zoo; zoo.load('fashion-64'); "
            "print(sorted(m for m in ('torchvision', 'matplotlib', 'tensorboard', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
