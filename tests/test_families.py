"""The regularised families (wae, rae, aae), the samplers (prior, gmm), zoo sample and the fd score."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import cli, one_line
from killing import straight_and_killed_weights
from safetensors import safe_open
from safetensors.torch import load_file

import zoo
import zoo.paths
from zoo.cli import main
from zoo.errors import UsageError, WeightsError
from zoo.evaluation.classifier import frechet_distance, gaussian_stats
from zoo.evaluation.gmm import fit_gaussian_mixture
from zoo.evaluation.sampling import GMM_FILE, sample
from zoo.models import build_model
from zoo.models.wae import imq_mmd

FAMILIES = [("wae", {}), ("rae", {"variant": "l2"}), ("rae", {"variant": "gp"}), ("aae", {"discriminator": [32]})]


@pytest.mark.parametrize("key, extra", FAMILIES)
def test_each_family_trains_on_its_loss(key, extra, mnist_batch):
    torch.manual_seed(0)
    model = build_model(key, {"latent_dim": 8, **extra}, (1, 28, 28), {"type": "mlp", "hidden": [64]}).train()
    out = model.loss(mnist_batch, mnist_batch)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss) and out.parts["recon"] > 0
    out.loss.backward()
    trained = [p for n, p in model.named_parameters() if not n.startswith("discriminator")]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)
    assert model.encode(mnist_batch).shape == (16, 8)
    penalty = {"wae": "mmd", "rae": "code", "aae": "fool"}[key]
    assert out.parts[penalty] > 0


def test_the_mmd_is_near_zero_for_prior_draws_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same, shifted = float(imq_mmd(a, b)), float(imq_mmd(a + 1.0, b))
    assert abs(same) < 0.02 and shifted > 20 * abs(same) and shifted > 0.1


def test_the_rae_decoder_penalties_are_what_they_say(mnist_batch):
    torch.manual_seed(0)
    l2 = build_model("rae", {"latent_dim": 8, "variant": "l2"}, (1, 28, 28), {"type": "mlp", "hidden": [64]}).train()
    weights = sum(float(p.pow(2).sum()) for n, p in l2.decoder.named_parameters() if n.endswith("weight"))
    assert l2.loss(mnist_batch, mnist_batch).parts["decoder_reg"] == pytest.approx(weights, rel=1e-5)
    gp = build_model("rae", {"latent_dim": 8, "variant": "gp"}, (1, 28, 28), {"type": "mlp", "hidden": [64]}).train()
    z = gp.encode(mnist_batch).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(gp.decode(z).sum(), z)
    expected = float(grad.pow(2).sum(1).mean())
    assert gp.loss(mnist_batch, mnist_batch).parts["decoder_reg"] == pytest.approx(expected, rel=1e-4)


def test_the_aae_trains_two_optimizers_in_turn(tmp_path):
    summary = zoo.train("aae-8", out=tmp_path / "run", epochs=1, limit_batches=5, device="cpu", quiet=True)
    with safe_open(str(tmp_path / "run" / "state.safetensors"), framework="pt") as f:
        info = json.loads(f.metadata()["zoo.state"])
    assert {"optimizer.autoencoder", "optimizer.discriminator"} <= set(info["parts"])
    parts = summary["history"][0]["parts"]
    assert {"recon", "fool", "discriminator/loss", "discriminator/accuracy"} <= set(parts)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_the_aae_entry_resumes_bitwise_after_sigkill(tmp_path):
    args = ["train", "aae-8", "--epochs", "2", "--limit-batches", "40", "--checkpoint-every", "6", "--device", "cpu",
            "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    a, b = straight_and_killed_weights(args, env, tmp_path, kill_at=12, steps=40)
    assert a.keys() == b.keys() and any(k.startswith("discriminator") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------------------------------------- samplers
def test_the_mixture_fit_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.mixture")
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 4, generator=g) * 4
    x = torch.cat([c + torch.randn(500, 4, generator=g) * (i + 1) * 0.5 for i, c in enumerate(centres)]).double()
    ours = fit_gaussian_mixture(x, 3, seed=0)
    theirs = sklearn.GaussianMixture(3, covariance_type="full", random_state=0, n_init=3).fit(x.numpy())
    assert ours.log_likelihood == pytest.approx(theirs.score(x.numpy()), abs=1e-2)
    assert float(ours.log_prob(x).mean()) == pytest.approx(ours.log_likelihood, abs=1e-3)
    draws = ours.sample(20000, torch.Generator().manual_seed(1))
    assert torch.allclose(draws.double().mean(0), x.mean(0), atol=0.1)


def test_samplers_and_their_errors(tmp_path):
    zoo.train("deep-784-32", out=tmp_path / "run", epochs=1, limit_batches=20, device="cpu", quiet=True)
    model = zoo.load(tmp_path / "run", device="cpu")
    with pytest.raises(UsageError, match="has no prior to sample"):
        sample(model, 4, sampler="prior")
    lines = []
    first = sample(model, 16, sampler="gmm", seed=3, say=lines.append)
    assert first.shape == (16, 1, 28, 28) and 0 <= first.min() and first.max() <= 1
    assert lines and lines[0].startswith("fitting a 10-component Gaussian mixture")
    assert (tmp_path / "run" / GMM_FILE).is_file()
    lines.clear()
    assert torch.equal(sample(model, 16, sampler="gmm", seed=3, say=lines.append), first) and not lines  # read back
    assert not torch.equal(sample(model, 16, sampler="gmm", seed=4), first)
    with pytest.raises(UsageError, match="--n must be a whole number from 1"):
        sample(model, 0)
    # a mixture fitted to other weights is refused
    zoo.train("deep-784-32", out=tmp_path / "other", epochs=1, limit_batches=20, seed=1, device="cpu", quiet=True)
    (tmp_path / "other" / GMM_FILE).write_bytes((tmp_path / "run" / GMM_FILE).read_bytes())
    with pytest.raises(WeightsError, match="was fitted to other weights"):
        sample(zoo.load(tmp_path / "other", device="cpu"), 4, sampler="gmm")
    vae = zoo.load("vae-16", device="cpu")
    assert torch.equal(sample(vae, 8, seed=0), sample(vae, 8, sampler="prior", seed=0))


def test_a_mixture_file_with_good_checksums_but_bad_numbers_is_refused_in_one_line(tmp_path):
    from zoo.io import atomic_save_safetensors, read_verified_safetensors

    run = tmp_path / "run"
    zoo.train("deep-784-32", out=run, epochs=1, limit_batches=20, device="cpu", quiet=True)
    model = zoo.load(run, device="cpu")
    sample(model, 4, sampler="gmm")
    good, meta = read_verified_safetensors(run / GMM_FILE)
    meta = {k: v for k, v in meta.items() if k not in ("zoo.tensors_sha256", "zoo.sha256")}
    eye = torch.eye(32, dtype=torch.float64).expand(10, 32, 32).clone()
    cases = {
        "means holds NaN or infinite values": {"means": torch.full_like(good["means"], float("nan"))},
        "covariances holds NaN": {"covariances": torch.full_like(good["covariances"], float("nan"))},
        "a covariance is not positive definite": {"covariances": -eye},
        "a covariance is not symmetric": {"covariances": eye + torch.triu(torch.ones(32, 32, dtype=torch.float64), 1)},
        "weights are not a probability vector": {"weights": good["weights"] - 1.0},
        "means has shape (10, 32), not (3, 32) for 3 weights": {"weights": torch.full((3,), 1 / 3, dtype=torch.float64)},
        "covariances has shape (10, 32), not (10, 32, 32)": {"covariances": good["covariances"][:, 0]},
        "weights has shape (10, 1), not (K,)": {"weights": good["weights"].unsqueeze(1)},
    }
    for words, change in cases.items():
        atomic_save_safetensors(run / GMM_FILE, {**good, **change}, meta)  # checksums right, numbers wrong
        with pytest.raises(WeightsError, match="is not a usable mixture: " + words.replace("(", r"\(").replace(")", r"\)")):
            sample(zoo.load(run, device="cpu"), 4, sampler="gmm")
    atomic_save_safetensors(run / GMM_FILE, good, {k: v for k, v in meta.items() if k != "zoo.log_likelihood"})
    text = one_line(cli("sample", run, "--sampler", "gmm", "--out", tmp_path / "g.png"), 1)
    assert "no zoo.log_likelihood" in text and not (tmp_path / "g.png").exists()
    atomic_save_safetensors(run / GMM_FILE, good, meta)
    assert sample(zoo.load(run, device="cpu"), 4, sampler="gmm").isfinite().all()


def test_zoo_sample_writes_a_grid_and_the_tensor(tmp_path):
    grid, tensor = tmp_path / "grid.png", tmp_path / "samples.safetensors"
    result = cli("sample", "vae-16", "--n", 23, "--seed", 2, "--out", grid, "--save-tensor", tensor, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = load_file(str(tensor))["samples"]
    assert samples.shape == (23, 1, 28, 28) and samples.dtype == torch.float32  # 23: a grid with a short last row
    assert torch.equal(samples, zoo.sample(zoo.load("vae-16", device="cpu"), 23, seed=2))
    assert "23 of 23 samples of vae-16 (prior sampler, seed 2)" in result.output
    assert "--n must be a whole number from 1" in one_line(cli("sample", "vae-16", "--n", 0, "--out", grid), 2)
    assert "has no prior to sample" in one_line(cli("sample", "deep-784-32", "--sampler", "prior", "--out", grid), 2)
    assert "names a PNG file" in one_line(cli("sample", "vae-16", "--out", tmp_path / "grid.jpg"), 2)
    broken = tmp_path / "run"
    zoo.train("deep-784-32", out=broken, epochs=1, limit_batches=2, device="cpu", quiet=True)
    (broken / GMM_FILE).write_bytes(b"not a safetensors file")
    assert "sampler file" in one_line(cli("sample", broken, "--sampler", "gmm", "--out", tmp_path / "other.png"), 1)


def test_zoo_sample_replaces_no_file_without_force(tmp_path):
    run = tmp_path / "run"
    zoo.train("deep-784-32", out=run, epochs=1, limit_batches=2, device="cpu", quiet=True)
    weights, figure = (run / "model.safetensors").read_bytes(), (run / "reconstructions.png").read_bytes()
    text = one_line(cli("sample", run, "--n", 4, "--out", tmp_path / "g.png", "--save-tensor", run / "model.safetensors"), 2)
    assert "model.safetensors exists; choose another --save-tensor or pass --force" in text
    text = one_line(cli("sample", run, "--n", 4, "--out", run / "reconstructions.png"), 2)
    assert "reconstructions.png exists; choose another --out or pass --force" in text
    assert (run / "model.safetensors").read_bytes() == weights and (run / "reconstructions.png").read_bytes() == figure
    assert zoo.load(run, device="cpu").latent_dim == 32  # still a zoo model
    assert not (tmp_path / "g.png").exists()
    (tmp_path / "dir.safetensors").mkdir()
    assert "is a directory" in one_line(cli("sample", "vae-16", "--out", tmp_path / "g.png", "--save-tensor",
                                         tmp_path / "dir.safetensors"), 2)
    assert cli("sample", "vae-16", "--n", 4, "--out", run / "reconstructions.png", "--force").exit_code == 0
    assert (run / "reconstructions.png").read_bytes() != figure


def test_a_seed_beyond_64_bits_is_one_line_everywhere(tmp_path):
    for seed in (2**64, -1, 2**63):
        text = one_line(cli("sample", "vae-16", "--seed", seed, "--out", tmp_path / "g.png"), 2)
        assert "--seed must be a whole number in 0..9223372036854775807" in text
    assert not (tmp_path / "g.png").exists()
    model = zoo.load("vae-binary", device="cpu")
    for call in (lambda: zoo.sample(model, 2, seed=2**64), lambda: zoo.nll(model, samples=2, limit=2, seed=2**64),
                 lambda: zoo.fd(model, samples=10, seed=-1), lambda: zoo.sample(model, 2, seed=1.5)):
        with pytest.raises(UsageError, match=r"seed must be a whole number in 0\.\.9223372036854775807"):
            call()
    assert zoo.sample(model, 2, seed=2**63 - 1).shape == (2, 1, 28, 28)


def test_streamed_samples_are_the_ones_zoo_sample_gives_and_the_grid_keeps_only_its_images(tmp_path):
    tensor = tmp_path / "s.safetensors"
    result = cli("sample", "vae-16", "--n", 2500, "--seed", 5, "--out", tmp_path / "g.png", "--save-tensor", tensor)
    assert result.exit_code == 0, result.output
    streamed = load_file(str(tensor))["samples"]
    assert streamed.shape == (2500, 1, 28, 28)  # three chunks of decoding
    assert torch.equal(streamed, zoo.sample(zoo.load("vae-16", device="cpu"), 2500, seed=5))
    from zoo.io import read_verified_safetensors

    _, meta = read_verified_safetensors(tensor)  # its checksums, computed as it was written, hold
    assert meta["zoo.shape"] == "[2500, 1, 28, 28]" and "1024 of 2500 samples" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from /proc (Linux)")
def test_zoo_sample_of_many_keeps_its_memory_bounded(tmp_path):
    """200,000 samples are 627 MB of floats: the process's peak memory stays far below two copies of them."""
    # VmHWM, the peak of this process's own memory map: getrusage's ru_maxrss would count the pytest process it was
    # forked from (it survives exec), which is gigabytes by the time the suite gets here
    script = ("import sys\nfrom zoo.cli import main\ncode = 0\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
              "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
              "print(hwm)\nsys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script, "sample", "vae-16", "--n", "200000", "--out",
                             str(tmp_path / "g.png"), "--save-tensor", str(tmp_path / "s.safetensors"), "--device", "cpu"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
    assert (tmp_path / "s.safetensors").stat().st_size > 627_000_000
    assert peak_mb < 1200, peak_mb  # torch and the model take ~600 MB; the samples would add 627 MB, twice 1.25 GB


# ---------------------------------------------------------------------------------------------- fd
def test_the_frechet_distance_matches_the_scipy_formula():
    linalg = pytest.importorskip("scipy.linalg")
    import numpy as np

    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    b = torch.randn(2000, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64) * 0.3 + 0.5
    (m1, s1), (m2, s2) = gaussian_stats(a), gaussian_stats(b)
    assert torch.allclose(s1, torch.from_numpy(np.cov(a.numpy(), rowvar=False)))
    root = linalg.sqrtm(s1.numpy() @ s2.numpy()).real  # pytorch-fid's calculate_frechet_distance
    reference = float(((m1 - m2) ** 2).sum()) + np.trace(s1.numpy()) + np.trace(s2.numpy()) - 2 * np.trace(root)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-8)


def test_the_sample_lines_of_the_docs_run_as_written(tmp_path, monkeypatch, doc_block):
    """docs/samples.md's `zoo sample` block, each line as written (fewer samples for the 10,000), in a fresh folder."""
    import shlex

    monkeypatch.chdir(tmp_path)
    block = doc_block("samples")
    lines = [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.strip()]
    assert [words[:2] for words in lines] == [["zoo", "sample"]] * 3
    for words in lines:
        words = ["500" if i and words[i - 1] == "--n" and w == "10000" else w for i, w in enumerate(words)]
        result = CliRunner().invoke(main, [*words[1:], "--device", "cpu"])
        assert result.exit_code == 0, (words, result.output)
    assert load_file("rae.safetensors")["samples"].shape == (500, 1, 28, 28)
    assert {p.name for p in tmp_path.iterdir()} == {"wae.png", "rae.png", "rae.safetensors", "deep.png"}


def test_compare_scores_generative_models_by_fd_beside_its_baselines(tmp_path):
    zoo.train("deep-784-32", out=tmp_path / "deep", epochs=1, limit_batches=5, device="cpu", quiet=True)
    rows = {r["name"]: r for r in zoo.compare(["wae-8", str(tmp_path / "deep")], limit=200, device="cpu")}
    wae = rows["wae-8"]
    assert wae["floor_fd"] < wae["fd"] < wae["pca_fd"]
    assert rows[str(tmp_path / "deep")]["fd"] is None  # no prior: not scored by compare
    card = json.loads((zoo.paths.REPO_DIR / "weights" / "wae-8" / "card.json").read_text())
    assert wae["fd"] == pytest.approx(card["sampling"]["fd"], rel=1e-6)


def test_the_shipped_classifier_is_as_its_card_says():
    from zoo.data import checksums, load_dataset, to_float
    from zoo.evaluation.classifier import classifier_dir, load_classifier

    folder = classifier_dir("mnist")
    card = json.loads((folder / "card.json").read_text())
    assert card["files"]["model.safetensors"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert card["data_sha256"] == checksums("mnist") and card["test_images"] == 10_000
    classifier = load_classifier("mnist")
    test = load_dataset("mnist", "test")
    with torch.no_grad():
        right = sum(int((classifier(to_float(test.images[i:i + 1000])).argmax(1) == test.labels[i:i + 1000]).sum())
                    for i in range(0, 10_000, 1000))
    assert right / 10_000 == card["test_accuracy"] >= 0.99


def test_fd_is_measured_once_per_weights_and_again_when_they_change():
    model = zoo.load("wae-8", device="cpu")
    first = zoo.fd(model, samples=200)["fd"]
    assert zoo.fd(model, samples=200)["fd"] == first  # the same weights and seed: the same samples
    with torch.no_grad():
        model.decoder[0].weight.mul_(0.5)
    changed = zoo.fd(model, samples=200)["fd"]
    assert changed != first
    assert zoo.fd(model, samples=200, seed=1)["fd"] not in (first, changed)
