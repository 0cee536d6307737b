"""Property tests of the user-data readers: any array is either read and round-trips exactly to uint8,
or refused with one line (hypothesis draws shapes, dtypes and values)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zoo.errors import DataError
from zoo.sources.folder import read_folder
from zoo.sources.npz import read_npz

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def arrays(draw):
    n, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    channels = draw(st.sampled_from([None, 1, 3, 2, 4]))
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    u8 = draw(st.lists(st.integers(0, 255), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    u8 = np.array(u8, dtype=np.uint8).reshape(shape)
    kind = draw(st.sampled_from(["uint8", "float32", "float64", "float-bad", "int64", "bool"]))
    if kind == "uint8":
        array = u8
    elif kind in ("float32", "float64"):
        array = (u8 / 255).astype(kind)
    elif kind == "float-bad":
        array = (u8 / 255).astype(np.float32)
        array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -0.5, 1.5]))
    else:
        array = u8.astype(kind)
    return u8, array


@SETTINGS
@given(arrays(), st.integers(-1, 1))
def test_npz_arrays_are_read_exactly_or_refused_in_one_line(tmp_path, case, label_offset):
    u8, array = case
    labels = np.arange(len(array) + label_offset) % 3
    path = tmp_path / "d.npz"
    np.savez(path, x_train=array, y_train=labels, x_test=array, y_test=labels)
    try:
        raw = read_npz(path)
    except DataError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    expected = u8[..., 0] if u8.ndim == 4 and u8.shape[-1] == 1 else u8
    expected = torch.from_numpy(expected)
    if expected.dim() == 4:
        expected = expected.permute(0, 3, 1, 2)
    assert raw.train_images.dtype == torch.uint8 and torch.equal(raw.train_images, expected)
    assert label_offset == 0 and torch.equal(raw.train_labels, torch.from_numpy(labels))


@SETTINGS
@given(st.integers(2, 12), st.sampled_from(["L", "RGB", "P"]), st.integers(0, 2**31 - 1))
def test_png_folders_round_trip_exactly(tmp_path_factory, n, mode, seed):
    folder = tmp_path_factory.mktemp("png")
    rng = np.random.default_rng(seed)
    shape = (5, 4, 3) if mode == "RGB" else (5, 4)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    for i, image in enumerate(images):
        picture = Image.fromarray(image)
        (picture.convert("P") if mode == "P" else picture).save(folder / f"{i:03d}.png")
    raw = read_folder(folder)
    both = torch.cat([raw.train_images, raw.test_images])
    assert raw.classes is None and raw.train_labels is None and len(raw.test_images) == -(-n // 6)
    if mode == "P":  # a palette of greys is read as grey: what matters is that it is read, whole
        assert both.shape[0] == n
        return
    got = sorted(map(bytes, (both.permute(0, 2, 3, 1) if both.dim() == 4 else both).reshape(n, -1).numpy()))
    assert got == sorted(map(bytes, images.reshape(n, -1)))


def test_a_single_image_cannot_be_split(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "only.png")
    with pytest.raises(DataError, match="cannot be split"):
        read_folder(tmp_path)


def test_a_registered_reader_reads_a_new_format_and_its_files_are_what_is_hashed(tmp_path):
    from zoo.data import dataset_info
    from zoo.errors import RegistryError
    from zoo.sources import RawData, Reader, register_source
    from zoo.sources.images import hold_out_test
    from zoo.sources.reader import regular_file

    @register_source("raw-u8-test")
    class RawU8(Reader):
        """Raw uint8 8x8 images, one after the other, in a file named *.u8."""

        description = "a .u8 file"

        def claims(self, path):
            return path.suffix == ".u8"

        def files(self, path):
            return [regular_file(path)]

        def read(self, path, files, resize):
            images = torch.frombuffer(bytearray(files[0].read_bytes()), dtype=torch.uint8).view(-1, 8, 8)
            train, _, test, _ = hold_out_test(images, None)
            return RawData(train, None, test, None, None)

    path = tmp_path / "d.u8"
    path.write_bytes(bytes(range(256)) * 3)  # 12 images
    info = dataset_info(str(path))
    assert info.image_shape == (1, 8, 8) and info.sizes == {"train": 10, "test": 2}
    first = info.sha256["content"]
    path.write_bytes(bytes(range(255, -1, -1)) * 3)
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a new modification time, whatever the clock's grain
    assert dataset_info(str(path)).sha256["content"] != first
    with pytest.raises(RegistryError, match="already registered under 'raw-u8-test'"):
        register_source("raw-u8-test")(RawU8)


def test_binarize_in_chunks_draws_the_stream_of_one_whole_draw():
    """mnist-binary's fixed test (and val) split: binarize draws numpy's PCG64 stream a chunk of images at a
    time, and must give the bits one draw of the whole shape gives (the shipped NLLs were measured on them)."""
    import numpy as np
    import torch

    from zoo.sources.idx import binarize

    grey = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (37, 28, 28), dtype=np.uint8))
    whole = np.random.default_rng(11).random((37, 28, 28))
    expected = torch.from_numpy((whole * 255 < grey.numpy()).astype(np.uint8) * 255)
    for chunk in (1, 5, 37, 1000):
        assert torch.equal(binarize(grey, 11, chunk=chunk), expected)
