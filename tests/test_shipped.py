"""The shipped weights: files match their cards, cards are reproduced by `zoo eval`, every entry beats
PCA of its size, and registry.json and the weights travel inside a wheel."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

import zoo
from zoo.data import checksums
from zoo.evaluation import ALL_METRICS, eval_rows
from zoo.evaluation.sampling import GMM_FILE, default_sampler, generative
from zoo.io import file_sha256
from zoo.paths import REPO_DIR
from zoo.registry import parse_entry
from zoo.reporting.cards import LIKELIHOOD_SAMPLES, PUBLISHED_NLL, SAMPLES_FILE, SHIPPED_FILES, tasks_in_order
from zoo.weights import read_metadata, weights_dir

NAMES = zoo.list_models()


def card(name):
    return json.loads((weights_dir() / name / "card.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_match_their_card_and_the_registry(name):
    folder = weights_dir() / name
    c = card(name)
    model = zoo.load(name, device="cpu")
    samples = {SAMPLES_FILE} if generative(model) else set()  # a generative entry's, and a gmm sampler's mixture
    mixture = {GMM_FILE} if generative(model) and default_sampler(model) == "gmm" else set()
    assert set(c["files"]) == set(SHIPPED_FILES) | samples | mixture
    for file, digest in c["files"].items():
        assert file_sha256(folder / file) == digest, file
    meta = read_metadata(folder / "model.safetensors")
    assert meta["zoo.name"] == name
    # the weights were trained by the recipe registry.json holds now
    assert parse_entry(name, json.loads(meta["zoo.entry"])) == zoo.get_entry(name)
    assert c["data_sha256"] == checksums(c["dataset"]) == json.loads(meta["zoo.data_sha256"])
    assert c["params"] == zoo.get_entry(name).params and c["reproduce"] == f"zoo train {name}"
    assert (folder / "README.md").read_text().startswith(f"# {name}")


@pytest.mark.parametrize("name", NAMES)
def test_card_metrics_are_reproduced_by_zoo_eval(name):
    c = card(name)
    rows = eval_rows(name, limit=c["check"]["limit"], baseline=False, device="cpu")
    assert [r["task"] for r in rows] == tasks_in_order(c)
    for row in rows:
        for m in ALL_METRICS:
            assert row[m] == pytest.approx(c["check"][row["task"]][m], rel=1e-6, abs=1e-9), (row["task"], m)
        # the first 1,000 images say roughly what the full test split says
        assert row["mse"] == pytest.approx(c["test"][row["task"]]["model"]["mse"], rel=0.25)


LIKELIHOOD_FAMILIES = {"vae-binary": "vae", "iwae-binary": "iwae", "vamp-binary": "vamp"}


@pytest.mark.parametrize("name", sorted(LIKELIHOOD_FAMILIES))
def test_a_likelihood_card_is_reproduced_by_zoo_nll(name):
    """Each likelihood family's entry: its card's NLL measured as `zoo eval --metric nll --samples 5000` does, on
    all 10,000 test images, and its check (fewer images and samples) reproduced exactly by zoo.nll."""
    c = card(name)
    assert c["family"] == LIKELIHOOD_FAMILIES[name] and c["dataset"] == "mnist-binary"
    like, check = c["likelihood"], c["check"]["likelihood"]
    assert (like["samples"], like["n"], like["seed"], like["dataset"]) == (LIKELIHOOD_SAMPLES, 10_000, 0, "mnist-binary")
    assert like["command"] == f"zoo eval {name} --metric nll --samples 5000"
    assert 60 < like["nll"] < 120 and like["elbo"] < -like["nll"]  # the ELBO bounds log p(x) from below
    result = zoo.nll(zoo.load(name, device="cpu"), samples=check["samples"], limit=check["limit"])
    assert result["nll"] == pytest.approx(check["nll"], rel=1e-6)
    assert result["elbo"] == pytest.approx(check["elbo"], rel=1e-6)


def test_the_likelihood_table_of_the_docs_states_each_card():
    text = (REPO_DIR / "docs" / "results.md").read_text()
    table = text[text.index("<!-- likelihood:start -->"): text.index("<!-- likelihood:end -->")]
    for name, arch in LIKELIHOOD_FAMILIES.items():
        like = card(name)["likelihood"]
        assert f"| {PUBLISHED_NLL[arch]['pythae']:.2f} | **{like['nll']:.2f}** (± {like['nll_sem']:.2f}) |" in table
        assert (REPO_DIR / "docs" / "samples" / f"{name}.png").is_file()


GENERATIVE = [n for n in NAMES if "sampling" in card(n)]


def test_every_generative_mnist_entry_has_its_samples_scored():
    expected = [n for n in NAMES if generative(zoo.load(n, device="cpu")) and card(n)["dataset"] in ("mnist", "mnist-binary")]
    assert GENERATIVE == expected and {"wae-8", "rae-8", "aae-8", "vae-16"} <= set(GENERATIVE)


@pytest.mark.parametrize("name", GENERATIVE)
def test_a_generative_card_states_its_fd_and_beats_sampled_pca(name):
    c = card(name)
    s = c["sampling"]
    model = zoo.load(name, device="cpu")
    assert (s["samples"], s["seed"], s["sampler"]) == (10_000, 0, default_sampler(model))
    assert s["floor_fd"] < s["fd"] < s["pca_fd"]  # better than sampled PCA of its code size, not better than real digits
    check = zoo.fd(model, samples=c["check"]["sampling"]["samples"])
    assert check["fd"] == pytest.approx(c["check"]["sampling"]["fd"], rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_beats_pca_of_its_code_size(name):
    for task, by in card(name)["test"].items():
        assert by["model"]["mse"] < by["pca"]["mse"], task


def test_the_readme_and_the_results_page_list_every_entry():
    readme = (REPO_DIR / "README.md").read_text()
    entries = readme[readme.index("<!-- entries:start -->"): readme.index("<!-- entries:end -->")]
    text = (REPO_DIR / "docs" / "results.md").read_text()
    table = text[text.index("<!-- results:start -->"): text.index("<!-- results:end -->")]
    for name in NAMES:
        assert f"[`{name}`](weights/{name}/README.md) | `{card(name)['family']}` |" in entries
        assert f"[`{name}`](../weights/{name}/README.md)" in table
        assert f"{card(name)['test']['reconstruction']['model']['mse']:.5f}" in table


def test_the_paper_is_reproduced_and_beaten_as_the_cards_and_the_readme_say():
    """Hinton & Salakhutdinov (2006): 3.00 squared error per test image, 13.87 for PCA-30."""
    rbm, modern = card("hinton-30-rbm"), card("hinton-30")
    assert rbm["training"]["pretrain_seconds"] > 0 and "pretrain_seconds" not in modern["training"]
    assert abs(rbm["squared_error_per_image"]["model"] - 3.00) < 0.1  # the paper's method, reproduced
    assert modern["squared_error_per_image"]["model"] < 2.9  # the modern recipe, clearly below it
    assert rbm["ablation"]["squared_error_per_image"] > rbm["squared_error_per_image"]["pca"]  # fails without it
    assert rbm["squared_error_per_image"]["pca"] == pytest.approx(13.87, abs=0.005)
    text = (REPO_DIR / "docs" / "results.md").read_text()
    table = text[text.index("<!-- paper:start -->"): text.index("<!-- paper:end -->")]
    for c in (rbm, modern):
        assert f"| {c['squared_error_per_image']['model']:.2f} |" in table
    assert f"| {rbm['ablation']['squared_error_per_image']:.2f} |" in table and "| 3.00 | (published) |" in table


@pytest.mark.slow
def test_a_wheel_carries_the_registry_and_the_weights(tmp_path):
    """A non-editable install, used from another folder, loads every entry."""
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO_DIR), "--no-deps", "-q", "-w", str(tmp_path)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("zoo-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    assert (site / "zoo" / "_data" / "registry.json").is_file()
    for name in NAMES:
        assert (site / "zoo" / "_data" / "weights" / name / "model.safetensors").is_file()
    code = ("import zoo, sys; assert zoo.__file__.startswith(sys.argv[1]), zoo.__file__; "
            "[zoo.load(n, device='cpu') for n in zoo.list_models()]; print(len(zoo.list_models()))")
    run = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(len(NAMES))
