"""The data layer on the real files: shapes, label counts, fixed splits, refusal of bad copies."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from zoo import data
from zoo.data import DATASETS, load_dataset, to_float
from zoo.errors import DataError, UsageError

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    data._LOADED.clear()
    yield
    data._LOADED.clear()


def test_mnist_shapes_and_label_counts(data_dir):
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 28, 28) and test.labels.dtype == torch.int64
    assert torch.bincount(test.labels).tolist() == MNIST_TEST_COUNTS
    assert torch.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS


def test_fashion_mnist_is_balanced(data_dir):
    assert torch.bincount(load_dataset("fashion-mnist", "train").labels).tolist() == [6000] * 10
    assert torch.bincount(load_dataset("fashion-mnist", "test").labels).tolist() == [1000] * 10
    assert len(DATASETS["fashion-mnist"].classes) == 10


def test_fit_and_val_are_the_fixed_split_of_train(data_dir):
    train = load_dataset("mnist", "train")
    fit, val = load_dataset("mnist", "fit"), load_dataset("mnist", "val")
    assert len(fit.images) == 50000 and len(val.images) == 10000
    assert torch.equal(torch.cat([fit.images, val.images]), train.images)
    assert torch.equal(val.labels, train.labels[50000:])


def test_to_float_range_and_shape(data_dir):
    x = to_float(load_dataset("mnist", "test").images[:8])
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == 0 and x.max() == 1


def test_checksums_agree_with_the_shared_sums_file(data_dir):
    sums = data_dir / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip("no SHA256SUMS beside the data")
    listed = {}
    for line in sums.read_text().split("\n"):
        if line.strip():
            digest, rel = line.split()
            folder, stem = rel.split("/")
            listed[(folder, stem)] = digest
    ours = {(name, stem): d for name, info in DATASETS.items() if not info.binarized_from  # a copy of mnist's files
            for stem, d in info.sha256.items()}
    assert ours == listed


def _copy(data_dir: Path, tmp_path: Path, gunzip: bool = False) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_dir / "mnist", root / "mnist")
    if gunzip:
        for gz in (root / "mnist").glob("*.gz"):
            gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
            gz.unlink()
    return root


def test_plain_idx_files_are_read_too(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(_copy(data_dir, tmp_path, gunzip=True)))
    assert torch.bincount(load_dataset("mnist", "test").labels).tolist() == MNIST_TEST_COUNTS


def test_corrupted_file_is_refused_naming_it(data_dir, tmp_path, monkeypatch):
    root = _copy(data_dir, tmp_path, gunzip=True)
    target = root / "mnist" / "t10k-labels-idx1-ubyte"
    content = bytearray(target.read_bytes())
    content[100] ^= 0xFF  # one flipped byte
    target.write_bytes(bytes(content))
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test")
    message = str(info.value)
    assert str(target) in message and "SHA-256" in message and "\n" not in message


def test_truncated_gzip_is_refused(data_dir, tmp_path, monkeypatch):
    root = _copy(data_dir, tmp_path)
    target = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:5000])
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    with pytest.raises(DataError, match="corrupted or truncated") as info:
        load_dataset("mnist", "test")
    assert str(target) in str(info.value)


def test_incomplete_folder_is_an_error_not_a_fallback(data_dir, tmp_path, monkeypatch):
    root = _copy(data_dir, tmp_path)
    (root / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    with pytest.raises(DataError, match="missing: train-labels-idx1-ubyte"):
        load_dataset("mnist", "train")


def test_cache_is_used_when_zoo_data_dir_lacks_the_dataset(data_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(data_dir / "mnist", cache / "data" / "mnist")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(cache))
    assert data.locate("mnist") == cache / "data" / "mnist"


def test_failed_download_gives_one_line_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))

    class Offline:
        def __init__(self, root, download):
            raise RuntimeError(  # torchvision's message, as it reads offline
                "Error downloading train-images-idx3-ubyte.gz:\nTried https://ossci-datasets.s3.amazonaws.com/mnist/, "
                "got:\n<urlopen error [Errno -2] Name or service not known>\nTried http://yann.lecun.com/exdb/mnist/, "
                "got:\n<urlopen error [Errno -3] Temporary failure in name resolution>\n")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test")
    message = str(info.value)
    assert "download failed" in message and "ZOO_DATA_DIR" in message and "\n" not in message
    # the reason, not torchvision's header line alone
    assert ("(Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3] Temporary failure in name "
            "resolution>)") in message
    assert not (tmp_path / "cache" / "data" / "mnist").exists()


def test_download_path_verifies_and_fills_the_cache(data_dir, tmp_path, monkeypatch):
    """torchvision's downloader, stood in for by a copy, lands verified files in the cache."""
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))

    class FakeMNIST:
        def __init__(self, root, download):
            shutil.copytree(data_dir / "mnist", Path(root) / "MNIST" / "raw")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    assert torch.bincount(load_dataset("mnist", "test").labels).tolist() == MNIST_TEST_COUNTS
    assert len(list((tmp_path / "cache" / "data" / "mnist").iterdir())) == 4


def test_unknown_dataset_and_split():
    with pytest.raises(UsageError, match="Did you mean 'mnist'"):
        load_dataset("mnsit")
    with pytest.raises(UsageError, match="Did you mean 'val'"):
        load_dataset("mnist", "vall")


@pytest.mark.parametrize("dataset, folder, cls", [("mnist", "MNIST", "MNIST"), ("fashion-mnist", "FashionMNIST", "FashionMNIST")])
def test_agrees_with_torchvisions_own_reader(data_dir, tmp_path, dataset, folder, cls):
    """An independent IDX parser (torchvision's) reads the same files to the same tensors."""
    import torchvision.datasets

    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    for gz in (data_dir / dataset).glob("*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    for train, split in ((True, "train"), (False, "test")):
        theirs = getattr(torchvision.datasets, cls)(str(tmp_path), train=train, download=False)
        ours = load_dataset(dataset, split)
        assert torch.equal(ours.images, theirs.data) and torch.equal(ours.labels, theirs.targets)
