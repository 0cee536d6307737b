"""zoo.evaluate, `zoo eval`, `zoo compare` and `zoo plot` on briefly trained models."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.cli import main
from zoo.data import load_dataset
from zoo.weights import save_weights

COMPARE_KEYS = {"name", "dataset", "latent_dim", "params", "mse", "psnr", "ssim", "bce", "pca_mse", "pca_psnr", "pca_ssim"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two briefly trained MNIST models and an untrained VAE, as run folders / weights files."""
    root = tmp_path_factory.mktemp("runs")
    zoo.train("deep-784-32", out=root / "deep", epochs=1, limit_batches=60, device="cpu", quiet=True)
    zoo.train("conv-32", out=root / "conv", epochs=1, limit_batches=20, device="cpu", quiet=True)
    torch.manual_seed(0)
    vae = zoo.load("vae-16", pretrained=False, device="cpu")
    save_weights(root / "vae" / "model.safetensors", vae, vae.entry)
    return root


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_evaluate_agrees_with_an_independent_computation(runs):
    model = zoo.load(runs / "deep", device="cpu")
    result = zoo.evaluate(model, metrics=("mse", "psnr", "bce"), limit=500)
    assert result["n"] == 500 and result["dataset"] == "mnist"
    x = load_dataset("mnist", "test").images[:500].double().numpy() / 255
    with torch.no_grad():
        r = model(torch.from_numpy(x).float().unsqueeze(1)).double().numpy()[:, 0]
    per_image = ((r - x) ** 2).mean(axis=(1, 2))
    assert result["mse"] == pytest.approx(per_image.mean(), rel=1e-6)
    assert result["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / per_image)), rel=1e-6)
    rc = np.clip(r, 1e-12, 1 - 1e-12)
    assert result["bce"] == pytest.approx(-(x * np.log(rc) + (1 - x) * np.log(1 - rc)).mean(), rel=1e-4)


def test_evaluate_denoising_and_bad_requests(runs):
    model = zoo.load("denoising", pretrained=False, device="cpu")
    plain = zoo.evaluate(model, limit=200)
    noisy = zoo.evaluate(model, limit=200, denoising=True)
    assert plain["mse"] != noisy["mse"]
    assert zoo.evaluate(model, limit=200, denoising=True) == noisy  # the corruption is seeded
    with pytest.raises(zoo.ZooError, match="Did you mean 'ssim'"):
        zoo.evaluate(model, metrics=("ssmi",))
    with pytest.raises(zoo.ZooError, match="corrupts its inputs"):
        zoo.evaluate(zoo.load(runs / "deep", device="cpu"), denoising=True)


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_eval_formats(runs, fmt):
    result = cli("eval", runs / "deep", "--limit", 300, "--format", fmt)
    assert result.exit_code == 0, result.output
    out = result.output.strip()
    if fmt == "json":
        rows = json.loads(out)
        assert [r["name"] for r in rows] == [str(runs / "deep"), "pca-32"]
        assert {"mse", "psnr", "ssim", "bce", "n"} <= set(rows[0]) and rows[0]["n"] == 300
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == 2 and float(rows[0]["ssim"]) > 0
    elif fmt == "markdown":
        assert out.split("\n")[1].startswith("| ---") and out.count("\n") == 3
    else:
        assert out.split("\n")[0].split()[:3] == ["name", "task", "dataset"]


def test_eval_denoising_entry_reports_both_tasks_and_probe(runs, tmp_path):
    torch.manual_seed(0)
    model = zoo.load("denoising", pretrained=False, device="cpu")
    save_weights(tmp_path / "model.safetensors", model, model.entry)
    result = cli("eval", tmp_path, "--limit", 200, "--format", "json", "--probe", "-m", "mse")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["name"], r["task"]) for r in rows] == [
        (str(tmp_path), "reconstruction"), ("pca-64", "reconstruction"), (str(tmp_path), "denoising"), ("pca-64", "denoising")]
    assert all(0 < r["probe_accuracy"] <= 1 for r in rows) and set(rows[0]) >= {"mse", "probe_accuracy"}
    assert "ssim" not in rows[0]


def test_compare_json_is_sorted_and_complete(runs, tmp_path):
    result = cli("compare", runs / "conv", runs / "deep", "--metric", "mse", "--format", "json", "--limit", 300,
                 "--out", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[: result.stdout.rindex("]") + 1])
    assert COMPARE_KEYS <= set(rows[0])
    assert [r["mse"] for r in rows] == sorted(r["mse"] for r in rows)  # lower MSE first
    assert rows[0]["pca_mse"] == pytest.approx(0.0168, rel=0.05)  # PCA-32 on the first 300 test images
    for name in ("mse.png", "reconstructions.png"):
        assert Image.open(tmp_path / "cmp" / name).format == "PNG"
    by_ssim = json.loads(cli("compare", runs / "conv", runs / "deep", "--format", "json", "--limit", 300).stdout)
    assert [r["ssim"] for r in by_ssim] == sorted((r["ssim"] for r in by_ssim), reverse=True)


def test_compare_defaults_to_models_with_shipped_weights(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path))
    result = cli("compare")
    assert result.exit_code == 2 and "No registry model has trained weights yet" in result.output
    (tmp_path / "deep-784-32").mkdir()
    shutil.copy(runs / "deep" / "model.safetensors", tmp_path / "deep-784-32" / "model.safetensors")
    rows = json.loads(cli("compare", "--format", "json", "--limit", 100).stdout)
    assert [r["name"] for r in rows] == ["deep-784-32"]


def test_plots_render(runs, tmp_path):
    cases = [
        (["latent", runs / "deep", "--limit", 300], "latent.png"),
        (["latent", runs / "deep", "--limit", 200, "--method", "tsne"], "tsne.png"),
        (["samples", runs / "vae", "--n", 16], "samples.png"),
        (["digit", runs / "deep", "--digit", 2], "digit.png"),
        (["dataset", "fashion-mnist"], "grid.png"),
        (["interpolate", runs / "deep", "--start", 0, "--end", 1, "--steps", 6], "interp.png"),
    ]
    for args, name in cases:
        result = cli("plot", *args, "--out", tmp_path / name)
        assert result.exit_code == 0, (args, result.output)
        assert Image.open(tmp_path / name).format == "PNG"
    assert Image.open(tmp_path / "grid.png").size == (5 * 30 + 2, 5 * 30 + 2)
    assert Image.open(tmp_path / "interp.png").size == (6 * 30 + 2, 30 + 2)


def test_compare_says_each_model_on_stderr_as_it_goes_and_quiet_says_nothing(runs):
    args = ["compare", str(runs / "deep"), str(runs / "vae"), "--limit", "50", "--format", "csv"]
    loud, quiet = CliRunner().invoke(main, args), CliRunner().invoke(main, [*args, "--quiet"])
    assert loud.exit_code == 0 and quiet.exit_code == 0, loud.output
    lines = loud.stderr.splitlines()  # as each model starts (at once), then as it ends, with the time left
    assert [" ".join(line.split()[:3]) for line in lines] == [
        f"compare: 1/2 {runs / 'deep'}"] * 2 + [f"compare: 2/2 {runs / 'vae'}"] * 2
    assert lines[0].endswith(" ...") and re.search(r" (measured|cache) in [0-9.]+ s; about \d+ s left$", lines[1])
    def table(result):  # but for the source column: the second run reads the first one's rows from the cache
        return [line.rsplit(",", 1)[0] for line in result.stdout.splitlines()]

    assert quiet.stderr == "" and table(loud) == table(quiet)  # the table itself is unchanged
    assert [line.rsplit(",", 1)[1] for line in quiet.stdout.splitlines()] == ["source", "cache", "cache"]


def test_compare_reads_a_row_measured_before_from_the_cache_and_a_shipped_one_from_its_card(runs, tmp_path):
    import zoo

    run = tmp_path / "run"
    shutil.copytree(runs / "deep", run)
    first = zoo.compare([str(run)], limit=40, device="cpu")[0]
    again = zoo.compare([str(run)], limit=40, device="cpu")[0]
    assert (first["source"], again["source"]) == ("measured", "cache")
    assert {k: v for k, v in first.items() if k != "source"} == {k: v for k, v in again.items() if k != "source"}
    assert zoo.compare([str(run)], limit=41, device="cpu")[0]["source"] == "measured"  # another measurement
    assert zoo.compare([str(run)], limit=40, device="cpu", reuse=False)[0]["source"] == "measured"
    shutil.copy(runs / "conv" / "model.safetensors", run / "model.safetensors")  # other weights, other row
    assert zoo.compare([str(run)], limit=40, device="cpu")[0]["source"] == "measured"
    (card,) = zoo.compare(["deep-784-2"], device="cpu")
    (measured,) = zoo.compare(["deep-784-2"], device="cpu", reuse=False)
    assert (card["source"], measured["source"]) == ("card", "measured")
    for key in ("mse", "psnr", "ssim", "bce", "pca_mse", "pca_ssim"):  # the card's numbers are what zoo measures
        assert card[key] == pytest.approx(measured[key], rel=1e-5), key
    assert card["nll"] is card["fd"] is None


def test_compare_sorts_by_any_numeric_column_and_its_table_fits_120_columns(runs):
    result = cli("compare", "--sort", "nll", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 120 and lines[0].split()[7:9] == ["nll", "nll_k"]
    nlls = [line.split()[7] for line in lines[1:]]
    numbers = [float(v) for v in nlls if v != "-"]
    assert numbers == sorted(numbers) and len(numbers) >= 3 and nlls[len(numbers):] == ["-"] * (len(nlls) - len(numbers))
    assert {line.split()[8] for line in lines[1:1 + len(numbers)]} == {"5000"}  # the cards' K, beside their NLL
    wide = cli("compare", "--sort", "fd", "--wide", "--quiet").stdout.splitlines()
    assert {"elbo", "pca_fd", "floor_fd", "bce"} <= set(wide[0].split())
    bad = cli("compare", "--sort", "nlll")
    assert bad.exit_code == 2 and "nll" in bad.output and bad.output.count("\n") == 1


def test_plots_go_beside_the_run_or_under_runs_plots_never_into_the_current_folder(runs, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    run = tmp_path / "deep-run"
    shutil.copytree(runs / "deep", run)
    assert cli("plot", "digit", run, "--digit", 3).exit_code == 0
    assert cli("plot", "interpolate", run / "model.safetensors", "--steps", 4).exit_code == 0
    assert cli("plot", "dataset", "mnist", "--n", 2).exit_code == 0
    assert (run / "deep-run-digit3.png").is_file() and (run / "deep-run-interpolation.png").is_file()
    assert (work / "runs" / "plots" / "mnist-grid.png").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["runs"]


def test_plot_refusals_are_one_line(runs, tmp_path):
    for args, words in ((["samples", runs / "deep"], "does not generate by itself (it has no prior)"),
                        (["digit", runs / "deep", "--digit", 10], "--digit must be 0 to 9"),
                        (["interpolate", runs / "deep", "--end", 10000], "--end must be a test image index")):
        result = cli("plot", *args, "--out", tmp_path / "x.png")
        assert result.exit_code == 2 and words in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "x.png").exists()


def test_plot_out_is_a_png_and_replaces_nothing_without_force(runs, tmp_path):
    run = tmp_path / "vae-run"
    shutil.copytree(runs / "vae", run)
    Image.new("L", (4, 4)).save(run / "mine.png")  # a figure of the user's
    weights, figure = (run / "model.safetensors").read_bytes(), (run / "mine.png").read_bytes()
    result = cli("plot", "samples", run, "--n", 4, "--out", run / "model.safetensors", "--force")
    assert result.exit_code == 2 and "--out names a PNG file" in result.output and result.output.count("\n") == 1
    result = cli("plot", "samples", run, "--n", 4, "--out", run / "mine.png")
    assert result.exit_code == 2 and "mine.png exists; choose another --out or pass --force" in result.output
    assert (run / "model.safetensors").read_bytes() == weights and (run / "mine.png").read_bytes() == figure
    assert cli("plot", "samples", run, "--n", 5, "--out", run / "mine.png", "--force").exit_code == 0
    assert Image.open(run / "mine.png").size != (4, 4)  # 5 samples: a short last row, no error
