"""A user's own data (an image folder, an .npz) and own model (a plugin) through train, eval,
compare and load, on real data nobody here wrote: scikit-learn's 8x8 digits and tiles of
scikit-image's sample photographs (colour)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
import zoo.data
import zoo.paths
from zoo.cli import main
from zoo.data import load_dataset
from zoo.errors import DataError, RegistryError, WeightsError

TESTS = Path(__file__).resolve().parent
EPOCHS = 20  # enough for both models below to beat PCA of their code size on the test split


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result, code):
    assert result.exit_code == code, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: "), result.output
    return result.output


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.rint(d.images / 16 * 255).astype(np.uint8), d.target


def write_user_files(root: Path) -> None:
    """What a user has: digits as .npz and as a class-folder PNG tree, colour tiles, a plugin, a registry."""
    x, y = digits()
    np.savez(root / "digits.npz", x_train=x[:1500], y_train=y[:1500], x_test=x[1500:], y_test=y[1500:])
    for i, (image, label) in enumerate(zip(x, y)):
        (root / "digits_png" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "digits_png" / str(label) / f"{i:04d}.png")
    import skimage.data

    (root / "tiles").mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        photo = getattr(skimage.data, name)()
        for r in range(0, photo.shape[0] - 31, 32):
            for c in range(0, photo.shape[1] - 31, 32):
                Image.fromarray(photo[r:r + 32, c:c + 32]).save(root / "tiles" / f"{name}-{r:03d}-{c:03d}.png")
    shutil.copy(TESTS / "user_plugin.py", root / "user_plugin.py")
    (root / "registry.json").write_text(json.dumps({
        "version": 1,
        "plugins": ["user_plugin"],
        "datasets": {"digits": {"path": "digits.npz"}, "digits-png": {"path": "digits_png"}},
        "models": {"digits-tiny-8": {
            "description": "A plugin MLP with an 8-d code on scikit-learn's 8x8 digits.",
            "family": "tiny-mlp", "kwargs": {"latent_dim": 8, "width": 128}, "dataset": "digits",
            "recipe": {"optimizer": "adam", "lr": 0.003, "batch_size": 64, "epochs": 60, "loss": "bce",
                       "early_stopping": {"patience": 10}, "seed": 0}}},
    }))


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    write_user_files(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_REGISTRY", str(root / "registry.json"))
    mp.setenv("ZOO_CACHE_DIR", str(root / "cache"))
    zoo.train("digits-tiny-8", out=root / "runs" / "tiny", epochs=EPOCHS, device="cpu", quiet=True)
    zoo.train("deep-784-2", dataset=str(root / "digits_png"), out=root / "runs" / "d2", epochs=EPOCHS, device="cpu",
              quiet=True)
    yield root
    mp.undo()


def eval_json(*args):
    result = cli("eval", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return {row["name"].split("-")[0] if row["name"].startswith("pca-") else "model": row for row in json.loads(result.output)}


def test_both_formats_are_read_checked_and_split_as_documented(user):
    x, y = digits()
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert torch.equal(train.images, torch.from_numpy(x[:1500])) and torch.equal(test.labels, torch.from_numpy(y[1500:]))
    fit, val = load_dataset("digits", "fit"), load_dataset("digits", "val")
    assert (len(fit.images), len(val.images)) == (1250, 250)  # a sixth held out, by a fixed permutation
    assert zoo.data.dataset_info("digits").image_shape == (1, 8, 8)
    folder = zoo.data.dataset_info("digits-png")
    assert folder.classes == tuple("0123456789") and folder.sizes == {"train": 1497, "test": 300}
    both = torch.cat([load_dataset("digits-png", "train").images, load_dataset("digits-png", "test").images])
    assert sorted(map(bytes, both.flatten(1).numpy())) == sorted(map(bytes, x.reshape(len(x), -1)))


def test_a_plugin_entry_trains_beats_pca_appears_in_compare_and_reloads(user):
    run = user / "runs" / "tiny"
    rows = eval_json(run, "--limit", 10_000)
    assert rows["model"]["n"] == 297 and rows["model"]["mse"] < rows["pca"]["mse"], rows
    assert "digits-tiny-8" in zoo.list_models() and "deep-784-32" in zoo.list_models()  # layered, not replaced
    result = cli("compare", run, user / "runs" / "d2", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {r["name"] for r in json.loads(result.stdout)} == {str(run), str(user / "runs" / "d2")}
    model = zoo.load(run, device="cpu")
    assert type(model).__name__ == "TinyMLP" and model.image_shape == (1, 8, 8) and model.latent_dim == 8
    x = zoo.data.to_float(load_dataset("digits", "test").images[:5])
    assert model(x).shape == (5, 1, 8, 8)


def test_a_builtin_architecture_retargeted_with_dataset(user):
    run = user / "runs" / "d2"
    rows = eval_json(run, "--probe")
    assert rows["model"]["mse"] < rows["pca"]["mse"], rows
    assert rows["model"]["probe_accuracy"] > rows["pca"]["probe_accuracy"]
    meta = zoo.weights.read_metadata(run / "model.safetensors")
    assert json.loads(meta["zoo.entry"])["dataset"] == str(user / "digits_png")
    assert json.loads(meta["zoo.data_sha256"]) == zoo.data.dataset_info(str(user / "digits_png")).sha256
    assert json.loads(meta["zoo.image_shape"]) == [1, 8, 8]
    assert zoo.load(run, device="cpu").image_shape == (1, 8, 8)


def test_colour_tiles_train_evaluate_and_plot(user, tmp_path):
    out = tmp_path / "rgb"
    result = cli("train", "conv-32", "--dataset", user / "tiles", "--out", out, "--epochs", "1", "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    model = zoo.load(out, device="cpu")
    assert model.image_shape == (3, 32, 32)
    scores = zoo.evaluate(model, metrics=("mse", "ssim"), limit=20)
    from skimage.metrics import structural_similarity

    x = zoo.data.to_float(load_dataset(str(user / "tiles"), "test").images[:20])
    with torch.no_grad():
        r = model(x)
    def channel_ssim(a, b):  # scikit-image's map, cropped to the windows wholly inside, as zoo's SSIM
        _, full = structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
        return full[5:-5, 5:-5].mean()

    expected = np.mean([np.mean([channel_ssim(a[c].numpy(), b[c].numpy()) for c in range(3)])
                        for a, b in zip(r.double(), x.double())])
    assert scores["ssim"] == pytest.approx(expected, abs=1e-6)  # per channel, then averaged
    assert Image.open(out / "reconstructions.png").mode == "RGB"
    assert cli("plot", "latent", out, "--out", tmp_path / "latent.png", "--limit", 50).exit_code == 0


def test_the_cache_is_keyed_by_content_and_never_trusted_when_damaged(user, tmp_path, caplog):
    folder = tmp_path / "few"
    shutil.copytree(user / "digits_png", folder)

    def white_images():
        zoo.data._LOADED.clear()
        both = torch.cat([load_dataset(str(folder), "train").images, load_dataset(str(folder), "test").images])
        return int((both == 255).flatten(1).all(1).sum())

    assert white_images() == 0
    victim = sorted((folder / "3").glob("*.png"))[0]
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(victim)  # a changed file: a new key, read again
    assert white_images() == 1
    cached = sorted((zoo.paths.cache_dir() / "datasets").glob("*.safetensors"), key=lambda p: p.stat().st_mtime)[-1]
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="zoo"):
        assert white_images() == 1
    assert any("data cache" in r.getMessage() and "reading the source again" in r.getMessage() for r in caplog.records)


def test_weights_of_a_plugin_never_import_it(user):
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    done = subprocess.run([sys.executable, "-m", "zoo", "eval", str(user / "runs" / "tiny")], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(zoo.paths.REPO_DIR)}, cwd=user)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "plugin module 'user_plugin'" in done.stderr and "no active registry imports" in done.stderr
    assert "user_plugin" not in done.stdout


# ---------------------------------------------------------------------- refused, one line each
def bad_folder(root: Path, case: str) -> Path:
    folder = root / case
    (folder / "a").mkdir(parents=True)
    good = np.zeros((8, 8), np.uint8)
    Image.fromarray(good).save(folder / "a" / "1.png")
    if case == "corrupt":
        (folder / "a" / "2.png").write_bytes(b"not a png at all")
    elif case == "sizes":
        Image.fromarray(np.zeros((9, 7), np.uint8)).save(folder / "a" / "2.png")
    elif case == "empty":
        (folder / "a" / "1.png").unlink()
    return folder


@pytest.mark.parametrize("case, words", [
    ("corrupt", "2.png cannot be read"),
    ("sizes", "1.png is 8x8, 2.png is 9x7"),
    ("empty", "holds no images"),
])
def test_bad_image_folders(tmp_path, case, words):
    with pytest.raises(DataError, match=words):
        load_dataset(str(bad_folder(tmp_path, case)), "train")


@pytest.mark.parametrize("arrays, words", [
    ({"images": np.zeros((4, 8, 8), np.uint8)}, "has no x_train"),
    ({"x_train": np.full((4, 8, 8), np.nan)}, "NaN or infinite"),
    ({"x_train": np.full((4, 8, 8), 1.5)}, "floats in [1.5, 1.5]"),
    ({"x_train": np.zeros((4, 8, 8), np.int64)}, "dtype int64"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": np.zeros(3, np.int64)}, "3 labels for 4 images"),
    ({"x_train": np.zeros((4, 8, 8, 4), np.uint8)}, "C 1 or 3"),
])
def test_bad_npz_files(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        load_dataset(str(tmp_path / "bad.npz"), "train")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_more_data_than_the_budget_says_how_much_it_needs(tmp_path, monkeypatch):
    np.savez(tmp_path / "big.npz", x_train=np.zeros((100, 32, 32, 3), np.uint8))
    monkeypatch.setenv("ZOO_MAX_DATA_BYTES", "100000")
    with pytest.raises(DataError, match="needs 0.3 MiB of memory to read, more than the 0 MiB budget"):
        load_dataset(str(tmp_path / "big.npz"), "train")


@pytest.mark.parametrize("source, words", [
    ("raise ImportError('no module named torchvisionx')", "plugin 'p_bad' failed to import: ImportError: no module"),
    ("import zoo\n@zoo.register_model('mlp', type('C', (), {}))\nclass X: pass", "config must be a dataclass"),
    ("import zoo, dataclasses\n@dataclasses.dataclass\nclass C:\n    latent_dim: int\n"
     "@zoo.register_model('ae', C)\nclass X(zoo.Autoencoder): pass", "already registered under 'ae'"),
])
def test_bad_plugins(tmp_path, monkeypatch, source, words):
    (tmp_path / "p_bad.py").write_text(source)
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "plugins": ["p_bad"]}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    monkeypatch.delitem(sys.modules, "p_bad", raising=False)
    assert words in one_line(cli("list"), 2)


def test_registry_files_layer_and_a_name_defined_twice_names_both(tmp_path, monkeypatch):
    entry = json.loads((zoo.paths.REPO_DIR / "registry.json").read_text())["models"]["deep-784-2"]
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"version": 1, "models": {"mine": entry}}))
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)  # zoo --registry sets it for the process: undone after the test
    result = cli("--registry", tmp_path / "a.json", "list", "--format", "json")
    assert result.exit_code == 0 and {"mine", "deep-64"} <= {r["name"] for r in json.loads(result.output)}
    monkeypatch.setenv("ZOO_REGISTRY", os.pathsep.join([str(tmp_path / "a.json"), str(tmp_path / "b.json")]))
    out = one_line(cli("list"), 2)
    assert "'mine' is defined twice" in out and "a.json" in out and "b.json" in out
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "a.json"))  # the same file again with --registry: once
    assert cli("--registry", tmp_path / ".." / tmp_path.name / "a.json", "list").exit_code == 0
    monkeypatch.setenv("ZOO_REGISTRY", os.pathsep.join([str(tmp_path / "a.json"), str(tmp_path / "b.json")]))
    (tmp_path / "a.json").write_text(json.dumps({"version": 1, "models": {"deep-64": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "a.json"))
    assert "registry.json" in one_line(cli("list"), 2)
    with pytest.raises(RegistryError):
        zoo.list_models()


def test_an_unknown_plugin_architecture_in_a_weights_file_is_a_weights_error(user, tmp_path, monkeypatch):
    shutil.copy(user / "runs" / "tiny" / "model.safetensors", tmp_path / "model.safetensors")
    from zoo.models.registry import FAMILIES

    monkeypatch.delitem(FAMILIES, "tiny-mlp")  # as in a process that never imported the plugin
    monkeypatch.delenv("ZOO_REGISTRY")
    with pytest.raises(WeightsError, match="plugin module 'user_plugin'"):
        zoo.load(tmp_path / "model.safetensors")


def test_a_declared_resize_reads_mixed_sizes(tmp_path, monkeypatch):
    folder = bad_folder(tmp_path, "sizes")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a" / "3.png")
    (tmp_path / "registry.json").write_text(json.dumps(
        {"version": 1, "datasets": {"mixed": {"path": "sizes", "resize": [6, 5]}}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    assert zoo.data.dataset_info("mixed").image_shape == (1, 6, 5)


def test_data_that_cannot_be_read_is_refused_before_the_run_folder_is_made(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "deep-784-2", "--dataset", tmp_path / "missing.npz", "--out", out, "--device", "cpu")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "does not exist" in result.output
    np.savez(tmp_path / "bad.npz", x_train=np.full((4, 8, 8), np.nan))
    result = cli("train", "deep-784-2", "--dataset", tmp_path / "bad.npz", "--out", out, "--device", "cpu")
    assert result.exit_code == 1 and "NaN or infinite" in result.output
    assert not out.exists()


def test_a_first_entry_with_only_the_required_keys_trains(tmp_path, monkeypatch):
    """No early_stopping, optimizer, lr, batch size, loss or seed: the defaults of the README's table."""
    (tmp_path / "mine.json").write_text(json.dumps({"version": 1, "models": {"first": {
        "description": "mine", "family": "ae", "network": {"type": "mlp", "hidden": [32]}, "kwargs": {"latent_dim": 4},
        "dataset": "mnist", "recipe": {"epochs": 2}}}}))
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    result = cli("--registry", tmp_path / "mine.json", "train", "first", "--limit-batches", 3, "--out", tmp_path / "run",
                 "--quiet")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["stop_reason"] == "completed 2 epochs"
