"""The README and the docs pages: every code block is run by a test (here, or by the test of what it shows), the
Python examples print what their comments claim, and the site builds with ``mkdocs build --strict``."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, doc_blocks

import zoo

# blocks run by the test of what they show: the marker and the test file that reads it
TESTED_BY = {
    "quickstart": "tests/test_readme_example.py",
    "example:my_plugin.py": "tests/test_readme_example.py",
    "example:my_registry.json": "tests/test_readme_example.py",
    "example:run.sh": "tests/test_readme_example.py",
    "elsewhere:run.sh": "tests/test_export.py",
    "samples": "tests/test_families.py",
    "sweep": "tests/test_sweep.py",
}
# blocks no test can run as written here, and why (each is said in the closing notes of the work that wrote it)
NOT_RUN = {
    "block:install": "the install itself: .ci/run runs exactly this line on a clean clone",
    "block:install-cpu": "PyTorch's CPU index is not reachable from the test machines (PyPI only)",
    "block:hub": "push and hf:// need the Hugging Face Hub: tests/test_hub.py runs export and hf:// on a local cache",
    "block:torchrun": "4 processes, or 2 machines: tests/test_distributed.py runs torchrun with 2 CPU processes",
}
# bash blocks run here, each line as written but shorter (see shorter())
RUN_HERE = ["block:commands", "block:train", "block:eval", "block:nll", "block:report"]
RECIPES = ["block:pretrain-recipe", "block:prior-recipe"]  # recipe fragments: checked by the registry's schema
PYTHON = ["block:python", "block:family-python"]
ENTRIES = {"block:family-entry": "block:family-python"}  # an entry of the docs, and the block that registers its family


def test_every_code_block_is_marked_and_run_by_a_test():
    seen = {}
    for name, marker, lang, _ in doc_blocks():
        assert marker is not None, f"{name}: a ```{lang} block without a marker comment above it"
        assert marker not in seen, f"{marker} in {seen[marker]} and {name}"
        seen[marker] = name
    for marker, test in TESTED_BY.items():
        assert marker in seen and f'"{marker}"' in (REPO / test).read_text() or marker.startswith("example:"), marker
    assert set(seen) == set(TESTED_BY) | set(NOT_RUN) | set(RUN_HERE) | set(RECIPES) | set(PYTHON) | set(ENTRIES), \
        set(seen) ^ (set(TESTED_BY) | set(NOT_RUN) | set(RUN_HERE) | set(RECIPES) | set(PYTHON) | set(ENTRIES))


def shorter(words):
    """A documented zoo command cut to seconds: one epoch of two batches, 100 test images, a handful of samples;
    a command that reads the shipped cards (compare, report) as it is."""
    if words[0] != "zoo":
        return words
    command = words[1]
    out = list(words)
    if command == "train":
        if "--epochs" in out:
            out[out.index("--epochs") + 1] = "1"
        else:
            out += ["--epochs", "1"]
        out += ["--limit-batches", "2", "--device", "cpu", "--quiet"]
    elif command == "eval":
        if "--samples" in out:
            out[out.index("--samples") + 1] = "10"
        elif "nll" in out:
            out += ["--samples", "10"]
        out += ["--limit", "100"]
    elif command == "compare" and ("--samples" in out or "--out" in out):
        out += ["--limit", "100"]  # these measure: on fewer images
    elif command == "sample":
        out[out.index("--n") + 1] = str(min(int(out[out.index("--n") + 1]), 64))
    return out


@pytest.mark.parametrize("marker", RUN_HERE)
def test_the_commands_of_the_docs_run_as_written(marker, doc_block, tmp_path, data_dir):
    body = doc_block(marker)
    lines = [shlex.split(line.split(" #")[0]) for line in body.splitlines() if line.strip() and not line.startswith("#")]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    made = set()
    for words in lines:
        for word in words:  # a run folder a line reads: trained (shortly) first, as the docs' reader has one
            run = re.fullmatch(r"runs/([\w-]+)", word)
            if run and run.group(1) in zoo.list_models() and word not in made and words[1] != "train":
                subprocess.run(["zoo", *shorter(["zoo", "train", run.group(1), "--out", word])[1:]], cwd=tmp_path,
                               env=env, check=True, capture_output=True, timeout=300)
                made.add(word)
        if words[:2] == ["zoo", "train"]:
            made.add(words[words.index("--out") + 1] if "--out" in words else f"runs/{words[2]}")
        done = subprocess.run(shorter(words), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (words, done.stderr[-2000:])


@pytest.mark.parametrize("marker", RECIPES)
def test_the_recipe_fragments_of_the_docs_are_valid_recipes(marker, doc_block):
    from zoo.registry import parse_entry

    text = doc_block(marker).replace(", ...}", "}")
    recipe = json.loads("{" + text + "}")["recipe"]
    family = "vq-vae" if "prior" in recipe else "ae"
    base = zoo.get_entry("vq-vae-49" if family == "vq-vae" else "hinton-30-rbm").to_dict()
    entry = parse_entry("doc", {**base, "recipe": {**base["recipe"], **recipe}})  # a bad field: SchemaError
    stage = entry.recipe.prior if family == "vq-vae" else entry.recipe.pretrain
    assert stage is not None and stage.epochs == recipe["prior" if family == "vq-vae" else "pretrain"]["epochs"]


@pytest.mark.parametrize("marker", PYTHON)
def test_the_python_examples_print_what_their_comments_claim(marker, doc_block, tmp_path, data_dir):
    body = doc_block(marker)
    claimed = [line.split("# ", 1)[1].strip() for line in body.splitlines() if line.startswith("print(") and "# " in line]
    (tmp_path / "example.py").write_text(body)
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == claimed and claimed


@pytest.mark.parametrize("marker", ENTRIES)
def test_the_entries_of_the_docs_are_valid_entries(marker, doc_block, tmp_path):
    """The entry parsed by the registry's schema, in a process where the block before it registered its family."""
    (tmp_path / "family.py").write_text(doc_block(ENTRIES[marker]))
    code = ("import json, runpy, sys; runpy.run_path('family.py'); from zoo.registry import parse_entry; "
            "(name, raw), = json.loads('{' + sys.stdin.read() + '}').items(); "
            "print(parse_entry(name, raw).family)")
    done = subprocess.run([sys.executable, "-c", code], input=doc_block(marker), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == json.loads("{" + doc_block(marker) + "}").popitem()[1]["family"]


def test_the_site_builds_with_every_link_checked(tmp_path):
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no MkDocs here (the test extra installs it)")
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "api" / "index.html").is_file()
    home = (tmp_path / "site" / "index.html").read_text()
    assert "Trained, checked autoencoders" in home and 'href="training/"' in home
