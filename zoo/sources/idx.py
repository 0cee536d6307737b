"""The built-in data sets, MNIST and Fashion-MNIST, as uint8 tensors read from verified IDX files.

Where the files are looked for, in order:

1. ``$ZOO_DATA_DIR/<dataset>/`` (``mnist/`` or ``fashion-mnist/``) holding the four IDX files,
   gzipped (``.gz``) or plain;
2. the per-user cache ``$ZOO_CACHE_DIR/data/<dataset>/`` (default ``~/.cache/zoo``);
3. torchvision's download into that cache, for users who are online.

Every file is checked against the SHA-256 of its decompressed content before use; a corrupted or
truncated file is refused, never silently replaced.

Splits: ``train`` (60,000) and ``test`` (10,000) as published; the trainer fits on ``fit``, the
first 50,000 training images, and early-stops on ``val``, the last 10,000. The validation split is
therefore fixed (no RNG involved) and never overlaps ``test``. Labels are for plots and probes only.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from ..errors import DataError, UsageError, did_you_mean, shown
from ..paths import cache_dir

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# the decompressed size of each file (header and values): a read never goes past it (a gzip bomb
# or a huge file under an IDX name is refused after this many bytes, not read whole)
SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
VAL_SIZE = 10_000  # the last 10,000 training images are the validation split


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    torchvision_class: str
    classes: Tuple[str, ...]
    sha256: Dict[str, str]  # file name -> SHA-256 of the decompressed IDX content
    image_shape: Tuple[int, int, int] = (1, 28, 28)
    binarized_from: Optional[str] = None  # a binarized copy of this data set's files (see BINARY below)


DATASETS: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist",
        "MNIST",
        tuple(str(d) for d in range(10)),
        {
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        },
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        "FashionMNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        {
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        },
    ),
}


# ``mnist-binary``: MNIST with every pixel 0 or 255 (so 0.0 or 1.0 as floats), pixel p on with probability
# p / 255. The test split (and train, as load_dataset gives it) is binarized once, by numpy's PCG64 stream
# from a fixed seed, so it is the same on every machine; a run trains on the grey training images
# binarized afresh at every step from its own generator (dynamic binarization, :class:`DeviceData`). The
# papers' fixed binarized MNIST (Larochelle's files) is another data set; numbers on it differ.
DATASETS["mnist-binary"] = dataclasses.replace(DATASETS["mnist"], name="mnist-binary", binarized_from="mnist")
BINARIZE_SEEDS = {"train": 20260101, "test": 20260102}


def binarize(images: torch.Tensor, seed: int, chunk: int = 1000) -> torch.Tensor:
    """uint8 ``images`` with each pixel 255 with probability pixel / 255, else 0, drawn from numpy's PCG64
    stream seeded by ``seed`` (the same bits on any machine and version). The stream is drawn ``chunk`` images
    at a time (the same values as one draw of the whole shape, without its 440 MB of float64 for MNIST)."""
    import numpy as np

    rng, grey = np.random.default_rng(seed), images.numpy()
    out = np.empty(grey.shape, dtype=np.uint8)
    for start in range(0, len(grey), chunk):  # the stream's values in order, a few MB at a time
        part = grey[start:start + chunk]
        out[start:start + chunk] = (rng.random(part.shape) * 255 < part).astype(np.uint8) * 255
    return torch.from_numpy(out)


def binarized_from(dataset: str) -> Optional[str]:
    """The grey data set whose binarized copy ``dataset`` is (``"mnist"`` for ``mnist-binary``), else None."""
    return DATASETS[dataset].binarized_from if dataset in DATASETS else None


def get_info(dataset: str) -> DatasetInfo:
    try:
        return DATASETS[dataset]
    except KeyError:
        hint = did_you_mean(dataset, DATASETS) or f" Known: {', '.join(DATASETS)}."
        raise UsageError(f"Unknown dataset {dataset!r}.{hint}") from None


def _file_in(folder: Path, stem: str) -> Optional[Path]:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete_folder(folder: Path) -> bool:
    """True when ``folder`` holds all four files; an incomplete one is an error, not a fallback."""
    found = {stem: _file_in(folder, stem) for stem in FILES.values()}
    if all(found.values()):
        return True
    if any(found.values()):
        missing = ", ".join(s for s, p in found.items() if p is None)
        raise DataError(f"{folder} holds only some of the data files (missing: {missing}); copy the missing ones")
    return False


def locate(dataset: str, *, download: bool = True) -> Path:
    """The folder holding ``dataset``'s four IDX files, following the lookup order above."""
    info = get_info(dataset)
    if info.binarized_from:
        return locate(info.binarized_from, download=download)
    tried = []
    env = os.environ.get("ZOO_DATA_DIR")
    if env:
        folder = Path(env) / info.name
        if _complete_folder(folder):
            return folder
        tried.append(str(folder))
    cached = cache_dir() / "data" / info.name
    if _complete_folder(cached):
        return cached
    tried.append(str(cached))
    if not download:
        raise DataError(f"{info.name} not found in {' or '.join(tried)}; set ZOO_DATA_DIR to a folder holding {info.name}/")
    return _download(info, cached, tried)


def _download(info: DatasetInfo, target: Path, tried: list) -> Path:
    """Fetch with torchvision into a temporary folder, verify, then move into the cache."""
    try:
        import torchvision.datasets as tvd

        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            getattr(tvd, info.torchvision_class)(root=tmp, download=True)
            raw = Path(tmp) / info.torchvision_class / "raw"
            staged = Path(tmp) / "staged"
            staged.mkdir()
            for stem in FILES.values():
                source = _file_in(raw, stem)
                if source is None:
                    raise OSError(f"the download did not produce {stem}")
                shutil.copyfile(source, staged / source.name)
                read_verified(staged / source.name, info)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
        return target
    except DataError:
        raise
    except Exception as exc:  # no network, mirror down, disk full: one line with what to do
        reason = download_reason(exc)
        raise DataError(
            f"{info.name} not found in {' or '.join(tried)} and the download failed ({reason}); "
            f"set ZOO_DATA_DIR to a folder holding {info.name}/ with the four IDX files"
        ) from None


def download_reason(exc: BaseException) -> str:
    """Why a download failed, in one line: torchvision's message is a header line ("Error downloading
    X:") followed by each mirror's error, so the header alone says nothing; give the last mirror's error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    errors = [line for line in lines if not (line.endswith(":") or line.startswith("Tried "))]
    return f"{lines[0]} {errors[-1]}" if lines[0].endswith(":") and errors else lines[0]


def read_verified(path: Path, info: DatasetInfo) -> bytes:
    """The decompressed content of an IDX file, after checking its SHA-256."""
    stem = path.name[:-3] if path.name.endswith(".gz") else path.name
    advice = "delete it and copy a good one (see ZOO_DATA_DIR), or delete it to download again"
    size = SIZES[stem]
    try:
        if not path.is_file():
            raise OSError("not a regular file")
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                content = handle.read(size + 1)
        elif path.stat().st_size > size:
            content = b"\0" * (size + 1)  # too large: refused below, unread
        else:
            content = path.read_bytes()
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"Data file {shown(path)} cannot be read ({exc}); it is corrupted or truncated: {advice}") from None
    if len(content) > size:
        raise DataError(f"Data file {shown(path)} holds more than the {size:,} bytes of {stem}; "
                        f"it is not the published file: {advice}")
    digest = hashlib.sha256(content).hexdigest()
    expected = info.sha256[stem]
    if digest != expected:
        raise DataError(
            f"Data file {shown(path)} failed its SHA-256 check (expected {expected[:12]}..., got {digest[:12]}...); "
            f"it is corrupted or truncated: {advice}"
        )
    return content


def parse_idx(content: bytes, path: Path) -> torch.Tensor:
    """An IDX byte string (unsigned-byte type) as a uint8 tensor of its stated shape."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != 0x08:
        raise DataError(f"Data file {path} is not an unsigned-byte IDX file")
    ndim = content[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(content) != header + count:
        raise DataError(f"Data file {path} holds {len(content) - header} values, its header says {count}")
    return torch.frombuffer(bytearray(content[header:]), dtype=torch.uint8).view(*dims)


def load_idx(dataset: str) -> Dict[str, torch.Tensor]:
    """``train_images``, ``train_labels``, ``test_images``, ``test_labels`` of a built-in data set, verified."""
    info = get_info(dataset)
    if info.binarized_from:
        tensors = load_idx(info.binarized_from)
        return {**tensors, **{f"{s}_images": binarize(tensors[f"{s}_images"], BINARIZE_SEEDS[s]) for s in BINARIZE_SEEDS}}
    folder = locate(dataset)
    tensors = {}
    for role, stem in FILES.items():
        path = _file_in(folder, stem)
        tensors[role] = parse_idx(read_verified(path, info), path)
    for part in ("train", "test"):
        images, labels = tensors[f"{part}_images"], tensors[f"{part}_labels"]
        if images.dim() != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise DataError(f"{folder}: {part} images {tuple(images.shape)} do not match labels {tuple(labels.shape)}")
    return tensors
