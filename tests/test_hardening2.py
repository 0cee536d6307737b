"""Regression tests for the second adversarial probe (user data, report, export, the Python API).
Each item of that probe has a test here, named after what it pins; each failed on the code before."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli, one_line
from PIL import Image

import zoo
import zoo.export
import zoo.paths
from zoo.errors import DataError, UsageError, ZooError

SMALL = ["--epochs", "1", "--limit-batches", "2", "--device", "cpu", "--quiet"]


def digit_folder(root: Path, n: int = 12, size=(8, 8)) -> Path:
    """``root/<class>/*.png``: n small grey images in two classes."""
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return root


def bounded(fn, seconds: float = 30):
    """Run ``fn`` and fail if it takes longer than ``seconds`` (a hang is what the probe found)."""
    started = time.monotonic()
    try:
        return fn()
    finally:
        assert time.monotonic() - started < seconds


# ---------------------------------------------------------------------- 1, 2, 10, 11: what a folder holds
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_1_a_fifo_among_the_images_is_refused_in_one_line_not_waited_on(tmp_path):
    root = digit_folder(tmp_path / "d")
    os.mkfifo(root / "a" / "zz.png")
    out = bounded(lambda: one_line(cli("train", "deep-784-2", "--dataset", root, "--out", tmp_path / "r", *SMALL), 1))
    assert "zz.png is a FIFO, not an image file" in out
    assert not (tmp_path / "r").exists()


def test_2_a_symlink_to_dev_zero_named_like_an_image_is_refused(tmp_path):
    root = digit_folder(tmp_path / "d")
    (root / "a" / "zz.png").symlink_to("/dev/zero")
    with pytest.raises(DataError, match="zz.png is a character device"):
        bounded(lambda: zoo.load_dataset(str(root), "train"))


def test_4_a_symlinked_class_folder_is_hashed_as_it_is_read(tmp_path):
    elsewhere = digit_folder(tmp_path / "elsewhere")
    root = digit_folder(tmp_path / "d")
    (root / "c").symlink_to(elsewhere / "a", target_is_directory=True)
    from zoo.data import dataset_info

    first = dataset_info(str(root)).sha256["content"]
    assert dataset_info(str(root)).classes == ("a", "b", "c")
    img = elsewhere / "a" / "01.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(img)
    os.utime(img, ns=(time.time_ns() + 10**9,) * 2)
    assert dataset_info(str(root)).sha256["content"] != first  # the linked images changed: so did the hash


def test_10_non_utf8_file_names_are_hashed_and_read(tmp_path):
    root = digit_folder(tmp_path / "d")
    odd = os.fsdecode(b"\xff\xfe.png")
    os.rename(root / "a" / "01.png", root / "a" / odd)
    split = zoo.load_dataset(str(root), "train")
    assert len(split.images) + len(zoo.load_dataset(str(root), "test").images) == 12


def test_11_a_symlink_loop_is_one_line_and_a_folder_named_like_an_image_is_no_image(tmp_path):
    root = digit_folder(tmp_path / "d")
    (root / "a" / "loop.png").symlink_to(root / "a" / "loop.png")
    with pytest.raises(DataError, match="loop.png cannot be read"):
        zoo.load_dataset(str(root))
    (root / "a" / "loop.png").unlink()
    (root / "a" / "x.png").mkdir()
    assert len(zoo.load_dataset(str(root)).images) == 10  # 12 images, a sixth held out as test; x.png skipped


# ---------------------------------------------------------------------- 5, 6, 9: what an image holds
def test_5_sixteen_bit_grey_pngs_are_scaled_to_eight_bits(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1040)  # 0 .. 65520
    for i in range(6):
        Image.fromarray(ramp).save(root / f"{i}.png")
    assert Image.open(root / "0.png").mode.startswith("I")
    images = torch.cat([zoo.load_dataset(str(root), s).images for s in ("train", "test")])
    expected = torch.from_numpy(np.rint(ramp / 257).astype(np.uint8))
    assert all(torch.equal(im, expected) for im in images)
    assert len(torch.unique(images)) > 50  # not {0, 255}


def test_6_palette_images_whose_colours_differ_in_hue_alone_stay_colour(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(6):  # red and blue of the same luminance range: per-channel extrema alone do not tell
        image = Image.new("P", (8, 8))
        image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
        image.putdata([(i + j) % 2 for j in range(64)])
        image.save(root / f"{i}.png")
    images = zoo.load_dataset(str(root), "train").images
    assert images.shape[1:] == (3, 8, 8)
    assert set(images[0, :, 0, 0].tolist()) <= {0, 255} and images[0, 0].max() == 255 and images[0, 2].max() == 255


def test_9_a_huge_declared_image_is_refused_from_its_header(tmp_path):
    root = digit_folder(tmp_path / "d")
    Image.new("1", (30000, 30000)).save(root / "a" / "huge.png")  # 875 KB on disk, 900 M pixels declared
    with pytest.raises(DataError, match="huge.png"):
        bounded(lambda: zoo.load_dataset(str(root)), 10)
    (root / "a" / "huge.png").unlink()
    Image.new("L", (2000, 2000)).save(root / "a" / "big.png")
    started = time.monotonic()
    with pytest.raises(DataError, match="Images of two sizes"):
        zoo.load_dataset(str(root))
    assert time.monotonic() - started < 5  # from the headers, before anything is decoded


# ---------------------------------------------------------------------- 7, 12, 13: what an .npz declares
def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_7_a_huge_label_is_refused_at_once(tmp_path):
    x = np.zeros((12, 8, 8), dtype=np.uint8)
    for big in (10**8, 2**62):
        y = np.zeros(12, dtype=np.int64)
        y[3] = big
        path = npz(tmp_path / f"l{big}.npz", x_train=x, y_train=y)
        with pytest.raises(DataError, match="labels up to 65535"):
            bounded(lambda: zoo.load_dataset(str(path)), 5)


def test_12_declared_label_counts_and_float_bytes_count_before_reading(tmp_path, monkeypatch):
    x = np.zeros((12, 8, 8), dtype=np.uint8)
    path = npz(tmp_path / "many.npz", x_train=x, y_train=np.zeros(2**22, dtype=np.int8))
    with pytest.raises(DataError, match="y_train declares 4194304 labels for 12 images"):
        bounded(lambda: zoo.load_dataset(str(path)), 5)
    floats = npz(tmp_path / "f.npz", x_train=np.zeros((100, 8, 8), dtype=np.float64))
    monkeypatch.setenv("ZOO_MAX_DATA_BYTES", str(100 * 64 * 4))  # the uint8 images fit; their float64 array does not
    with pytest.raises(DataError, match="budget"):
        zoo.load_dataset(str(floats))


def test_13_test_labels_without_test_images_are_refused(tmp_path):
    path = npz(tmp_path / "y.npz", x_train=np.zeros((12, 8, 8), dtype=np.uint8), y_test=np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match="y_test but no x_test"):
        zoo.load_dataset(str(path))


# ---------------------------------------------------------------------- 3, 14: what a weights file may make zoo read
def rewrite_entry(path: Path, change) -> None:
    """Rewrite a weights file's entry and re-checksum its header, as a hostile file would (a checksum is no signature)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from zoo.io import HEADER_CHECKSUM_KEY, header_sha256

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k).clone() for k in f.keys()}
    entry = json.loads(meta["zoo.entry"])
    change(entry)
    meta["zoo.entry"] = json.dumps(entry)
    meta[HEADER_CHECKSUM_KEY] = header_sha256(meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.fixture
def npz_run(tmp_path):
    rng = np.random.default_rng(0)
    data = npz(tmp_path / "data.npz", x_train=rng.integers(0, 256, (120, 8, 8), dtype=np.uint8))
    run = tmp_path / "run"
    zoo.train("deep-784-2", dataset=str(data), out=run, epochs=1, limit_batches=2, device="cpu", quiet=True)
    return run, data


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_3_a_weights_file_cannot_make_zoo_read_a_path_only_it_names(npz_run, tmp_path):
    run, data = npz_run
    assert cli("eval", run, "--limit", 5).exit_code == 0  # the user named data.npz when training: it may be read
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "elsewhere").mkdir()
    for target in (str(tmp_path / "fifo.npz"), "/"):
        foreign = tmp_path / "elsewhere" / "foreign.safetensors"  # not beside the FIFO: nothing names it but the file
        foreign.write_bytes((run / "model.safetensors").read_bytes())
        rewrite_entry(foreign, lambda e: e.update(dataset=target))
        out = bounded(lambda: one_line(cli("eval", foreign, "--limit", 5), 2), 20)
        assert "which is not one you named" in out and "--dataset" in out
    inside = run / "copy.npz"  # a path inside the weights file's folder is read
    inside.write_bytes(data.read_bytes())
    rewrite_entry(run / "model.safetensors", lambda e: e.update(dataset=str(inside)))
    assert cli("eval", run, "--limit", 5).exit_code == 0
    assert cli("eval", foreign, "--limit", 5, "--dataset", str(data)).exit_code == 0  # named by the caller


def test_14_data_changed_under_a_run_is_refused_on_resume_and_said_by_eval(tmp_path, caplog):
    root = digit_folder(tmp_path / "d", n=60)
    run = tmp_path / "run"
    zoo.train("deep-784-2", dataset=str(root), out=run, epochs=1, device="cpu", quiet=True)
    img = root / "a" / "01.png"
    Image.fromarray(np.full((8, 8), 7, dtype=np.uint8)).save(img)
    os.utime(img, ns=(time.time_ns() + 10**9,) * 2)
    out = one_line(cli("train", "deep-784-2", "--dataset", root, "--out", run, "--resume", "--epochs", "2",
                       "--device", "cpu", "--quiet"), 1)
    assert "changed since this run was saved" in out and out.count("content ") == 2  # both hashes named
    with caplog.at_level(logging.WARNING, logger="zoo"):
        assert cli("eval", run, "--limit", 5).exit_code == 0
    assert "is not the data deep-784-2 was trained on" in caplog.text


# ---------------------------------------------------------------------- 18, 19, 20, 22: the Python API
def test_18_pretrained_must_be_a_bool():
    with pytest.raises(UsageError, match="pretrained must be True or False, got 'no'"):
        zoo.load("fashion-64", pretrained="no")


def test_19_a_name_in_the_wrong_case_gets_a_suggestion():
    with pytest.raises(UsageError, match="Unknown model 'Fashion-64'.*Did you mean 'fashion-64'"):
        zoo.load("Fashion-64")


def test_20_api_misuse_is_a_zoo_error_naming_what_is_known(data_dir):
    with pytest.raises(UsageError, match="Unknown split None"):
        zoo.load_dataset("mnist", None)
    with pytest.raises(UsageError, match="list_models takes a pattern"):
        zoo.list_models(123)
    assert zoo.list_models(["deep-64", "fashion-*"]) == ["deep-64", "fashion-64"]
    rows = zoo.compare("fashion-64", limit=20, device="cpu")
    assert [r["name"] for r in rows] == ["fashion-64"]
    with pytest.raises(UsageError, match="zoo.train\\(\\) has no option 'bogus'.*Its options: name, epochs"):
        zoo.train("deep-784-32", bogus=1)
    with pytest.raises(UsageError, match="has no option 'epoch'. Did you mean 'epochs'"):
        zoo.train("deep-784-32", epoch=1)
    with pytest.raises(UsageError, match="zoo.load\\(\\)"):
        zoo.load()


def test_20_load_dataset_takes_a_path_object(tmp_path):
    path = npz(tmp_path / "d.npz", x_train=np.zeros((12, 8, 8), dtype=np.uint8))
    assert zoo.load_dataset(path, "train").images.shape[1:] == (8, 8)


def test_22_messages_name_a_folder_as_a_folder_and_the_api_its_arguments(tmp_path):
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(ZooError, match="is a folder without model.safetensors: not a finished zoo run"):
        zoo.load(tmp_path / "empty-run")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="choose another out, or pass force=True") as info:
        zoo.train("deep-784-32", out=tmp_path / "busy")
    assert "--" not in str(info.value)
    out = one_line(cli("train", "deep-784-32", "--out", tmp_path / "busy"), 2)
    assert "choose another --out, or pass --force" in out


# ---------------------------------------------------------------------- 15, 16, 17: export and torch.hub
def test_15_export_refuses_to_overwrite_and_says_what_is_wrong_with_out(tmp_path):
    weights = tmp_path / "run" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"a run's weights")
    out = one_line(cli("export", "deep-784-2", "--out", weights), 2)
    assert "exists; choose another --out or pass --force" in out and weights.read_bytes() == b"a run's weights"
    assert cli("export", "deep-784-2", "--out", weights, "--force").exit_code == 0
    (tmp_path / "existing.onnx").write_bytes(b"x")
    assert "is a file, not a folder" in one_line(cli("export", "deep-784-2", "--out", tmp_path / "existing.onnx" / "m.onnx"), 2)
    assert "must name the file to write" in one_line(cli("export", "deep-784-2", "--out", ""), 2)
    assert "is a folder" in one_line(cli("export", "deep-784-2", "--out", tmp_path), 2)
    with pytest.raises(UsageError, match="choose another path or pass force=True"):
        zoo.export.export("deep-784-2", weights)


def test_16_export_gives_back_a_model_in_the_mode_it_had(tmp_path):
    import zoo.export

    model = zoo.load("deep-784-2", device="cpu").train()
    zoo.export.export(model, tmp_path / "m.onnx")
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    zoo.export.export(model, tmp_path / "m.pt", format="torchscript")
    assert not model.training


def test_17_the_hubconf_examples_call_torch_hub_as_it_is():
    import inspect

    doc = (zoo.paths.REPO_DIR / "hubconf.py").read_text().split('"""')[1]
    calls = [line.split("#")[0].strip() for line in doc.splitlines() if "torch.hub." in line]
    assert calls
    for call in calls:
        fn = call.split("(")[0].split(".")[-1]
        args = eval("(lambda *a, **k: (a, k))(" + call.split("(", 1)[1].replace("...", "None"))  # noqa: S307
        inspect.signature(getattr(torch.hub, fn)).bind(*args[0], **{k: v for k, v in args[1].items()
                                                                     if k not in ("pretrained", "device")})


# ---------------------------------------------------------------------- 21: which state a resume takes
def test_21_a_resume_from_the_previous_state_says_so_in_one_line(tmp_path):
    run = tmp_path / "run"
    zoo.train("deep-784-32", out=run, epochs=2, limit_batches=3, device="cpu", quiet=True)
    (run / "state.safetensors").unlink()
    lines = []
    zoo.train("deep-784-32", out=run, resume=True, epochs=3, limit_batches=3, device="cpu", log=lines.append)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and "has no state.safetensors; resuming from the previous state" in warnings[0]
    assert "trained again" in warnings[0] and any(line.startswith("resuming deep-784-32 at epoch") for line in lines)
