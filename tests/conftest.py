"""Shared fixtures: the real data (ZOO_DATA_DIR, default ../shared/data) and an isolated cache."""
from __future__ import annotations

import os
import re
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

if not os.environ.get("ZOO_DATA_DIR") and DEFAULT_DATA.is_dir():
    os.environ["ZOO_DATA_DIR"] = str(DEFAULT_DATA)
if os.environ.get("ZOO_DATA_DIR"):  # absolute, for the tests that run zoo in another folder
    os.environ["ZOO_DATA_DIR"] = str(Path(os.environ["ZOO_DATA_DIR"]).resolve())
# the zoo commands the tests start count each other (zoo.threads.machine_folder, under TMPDIR), not those of
# another test session or of a user on the same machine: their threads, and so their bits, stay this session's
os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="zoo-tests-")
# and their torch threads are this process's, whatever the machine's load (zoo.threads.share reads the load when a
# command starts): a test that compares a command's weights with another run's bits needs the same count
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


def cli(*args):
    """``zoo ARGS`` in this process, through click's test runner (stdout and stderr apart)."""
    from click.testing import CliRunner

    from zoo.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result, code):
    """The output of a command that failed with ``code``: one line, ``Error: ...``, no traceback."""
    assert result.exit_code == code, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and "Traceback" not in result.output
    return result.output


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's ~/.cache/zoo from a test."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "zoo-cache"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = os.environ.get("ZOO_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.fail("the tests need the real data: set ZOO_DATA_DIR (see README)")
    return Path(path)


@pytest.fixture(scope="session")
def mnist_batch(data_dir) -> torch.Tensor:
    """16 real MNIST test images, (16, 1, 28, 28) floats in [0, 1]."""
    from zoo.data import load_dataset, to_float

    return to_float(load_dataset("mnist", "test").images[:16])


@pytest.fixture(scope="session")
def fashion_batch(data_dir) -> torch.Tensor:
    from zoo.data import load_dataset, to_float

    return to_float(load_dataset("fashion-mnist", "test").images[:16])


DOC_FILES = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- ([^>]+?) -->\n[ \t]*)?```(\w*)\n(.*?)^[ \t]*```", flags=re.S | re.M)


def doc_blocks():
    """Every fenced code block of the README and the docs pages: (file, marker or None, language, body)."""
    found = []
    for name in DOC_FILES:
        for marker, lang, body in BLOCK.findall((REPO / name).read_text(encoding="utf-8")):
            found.append((name, marker or None, lang, textwrap.dedent(body)))  # a block in a list item: indented
    return found


@pytest.fixture(scope="session")
def doc_block():
    """The body of the code block marked ``<!-- MARKER -->`` in the README or a docs page (exactly one)."""
    def find(marker: str) -> str:
        (body,) = [b for _, m, _, b in doc_blocks() if m == marker]
        return body

    return find


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(os.environ["TMPDIR"], ignore_errors=True)
