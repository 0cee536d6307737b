"""The likelihood families: mnist-binary, the torch.distributions contract, the importance-sampled NLL
(checked against exact numerical integration over a 1-d code), and each family trained, saved, loaded and
resumed bitwise."""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys

import pytest
import torch
from killing import crash_after_save
from safetensors.torch import load_file
from torch import distributions as D

import zoo
from zoo.evaluation.likelihood import nll
from zoo.training.batches import DeviceData

RECIPE = {"optimizer": "adam", "lr": 0.001, "batch_size": 50, "epochs": 2, "loss": "bce",
          "early_stopping": {"patience": 5}, "seed": 1}
FAMILIES = {
    "t-vae": ("vae", {"latent_dim": 8, "beta": 1.0}),
    "t-iwae": ("iwae", {"latent_dim": 8, "samples": 4}),
    "t-vamp": ("vamp", {"latent_dim": 8, "pseudo_inputs": 20}),
}
MLP = {"type": "mlp", "hidden": [64]}
OPTIONS = dict(epochs=2, limit_batches=6, checkpoint_every=4, device="cpu", quiet=True)
BINARY_TEST_SHA256 = "f3c7d46902b5476593337e14aa2f0b535dafd8d2bc0c2fd0435b98ac0df5b1d3"


@pytest.fixture
def registry(tmp_path, monkeypatch, data_dir):
    models = {name: {"description": f"test {arch}", "family": arch, "network": MLP, "kwargs": kwargs, "dataset": "mnist-binary",
                     "recipe": RECIPE} for name, (arch, kwargs) in FAMILIES.items()}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": 1, "models": models}))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


# ---------------------------------------------------------------------- the data set
def test_mnist_binary_is_mnist_binarized_once_for_test_and_afresh_for_training(data_dir):
    test, grey = zoo.load_dataset("mnist-binary", "test"), zoo.load_dataset("mnist", "test")
    assert test.images.dtype == torch.uint8 and set(test.images.unique().tolist()) == {0, 255}
    assert hashlib.sha256(test.images.numpy().tobytes()).hexdigest() == BINARY_TEST_SHA256  # the same on any machine
    assert torch.equal(test.labels, grey.labels)
    assert abs(test.images.float().mean() / 255 - grey.images.float().mean() / 255) < 1e-3  # P(on) = grey / 255
    assert ((test.images > 0) <= (grey.images > 0)).all()  # a black pixel stays black
    data = DeviceData("mnist-binary", torch.device("cpu"), batch_size=100, seed=0)
    idx = torch.arange(100)
    a, b = data.images(idx), data.images(idx)
    assert set(a.unique().tolist()) == {0.0, 1.0} and not torch.equal(a, b)  # drawn afresh at every step
    again = DeviceData("mnist-binary", torch.device("cpu"), batch_size=100, seed=0)
    assert torch.equal(again.images(idx), a)  # from the run's seed


# ---------------------------------------------------------------------- the contract and the estimator
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_follows_the_likelihood_contract(registry, name):
    model = zoo.load(name, pretrained=False, device="cpu")
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    q, p = model.posterior(x), model.prior()
    assert isinstance(q, D.Independent) and isinstance(q.base_dist, D.Normal)
    assert q.batch_shape == (5,) and q.event_shape == (8,) and p.event_shape == (8,)
    assert isinstance(p, D.MixtureSameFamily) if name == "t-vamp" else isinstance(p.base_dist, D.Normal)
    z = q.rsample((3,))
    lik = model.likelihood(z)
    assert isinstance(lik.base_dist, D.Bernoulli) and lik.event_shape == (1, 28, 28) and lik.batch_shape == (3, 5)
    assert torch.allclose(torch.sigmoid(lik.base_dist.logits[0]), model.decode(z[0]), atol=1e-6)
    assert lik.log_prob(x).shape == (3, 5) and torch.isfinite(p.log_prob(z)).all()


def exact_log_px(model, x: torch.Tensor, reach: float = 30.0, step: float = 0.002) -> torch.Tensor:
    """log p(x) = log of the integral of p(x|z) p(z) dz over a 1-d code, as a Riemann sum on a grid of
    ``step`` over [-reach, reach] (a learned prior may sit far from 0), in chunks."""
    grid = torch.arange(-reach, reach + step / 2, step, dtype=torch.float64).float().view(-1, 1, 1)
    total = torch.full((len(x),), -math.inf, dtype=torch.float64)
    with torch.no_grad():
        for chunk in grid.split(4000):
            log_joint = (model.likelihood(chunk).log_prob(x) + model.prior().log_prob(chunk)).double()
            total = torch.logaddexp(total, torch.logsumexp(log_joint, dim=0))
    return total + math.log(step)


@pytest.mark.parametrize("arch, extra", [("vae", {}), ("vamp", {"pseudo_inputs": 3})])
def test_importance_sampled_nll_agrees_with_exact_integration_over_a_1d_code(data_dir, tmp_path, monkeypatch, arch, extra):
    entry = {"description": "1-d", "family": arch, "network": {"type": "mlp", "hidden": [32]}, "kwargs": {"latent_dim": 1, **extra},
             "dataset": "mnist-binary", "recipe": {**RECIPE, "epochs": 2}}
    (tmp_path / "r.json").write_text(json.dumps({"version": 1, "models": {"one-d": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "r.json"))
    zoo.train("one-d", out=tmp_path / "run", limit_batches=300, device="cpu", quiet=True)  # q near the posterior
    model = zoo.load(tmp_path / "run", device="cpu")
    x = zoo.load_dataset("mnist-binary", "test").images[:20].unsqueeze(1).float() / 255
    exact = -float(exact_log_px(model, x).mean())
    estimated = nll(model, samples=2000, limit=20)
    # importance sampling underestimates log p(x) a little for a finite K, never by much more: measured
    # 0.010 nats above the exact value for the vae, 0.17 for the vamp (its q fits its posterior less well)
    assert -0.02 < estimated["nll"] - exact < 0.3, (estimated, exact)
    assert -estimated["elbo"] >= exact - 0.05  # the ELBO is a lower bound on log p(x)
    assert zoo.nll(model, samples=2000, limit=20, seed=0)["nll"] == estimated["nll"]  # seeded (zoo.nll: the same)
    assert nll(model, samples=2000, limit=20, seed=1)["nll"] != estimated["nll"]


# ---------------------------------------------------------------------- training, saving, resuming
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_family_trains_saves_loads_and_resumes_bitwise(registry, tmp_path, name):
    straight = zoo.train(name, out=tmp_path / "straight", **OPTIONS)
    assert all(math.isfinite(h["train_loss"]) and h["parts"] for h in straight["history"])

    class Crash(Exception):
        pass

    with pytest.raises(Crash), crash_after_save(3, Crash):
        zoo.train(name, out=tmp_path / "crashed", **OPTIONS)
    zoo.train(name, out=tmp_path / "crashed", resume=True, **OPTIONS)
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = zoo.load(tmp_path / "straight", device="cpu")
    assert type(model).__name__ == type(zoo.load(name, pretrained=False)).__name__
    assert 0 < nll(model, samples=10, limit=20)["nll"] < 784 * math.log(2) + 1  # below a coin per pixel


def test_the_iwae_bound_tightens_with_more_samples(registry, tmp_path):
    zoo.train("t-iwae", out=tmp_path / "run", epochs=1, limit_batches=30, device="cpu", quiet=True)
    model = zoo.load(tmp_path / "run", device="cpu")
    values = [nll(model, samples=k, limit=100)["nll"] for k in (1, 10, 200)]
    assert values[0] > values[1] > values[2], values  # log-mean-exp of more weights: a tighter bound


def test_a_huge_estimate_is_said_and_refused_without_force(data_dir):
    done = subprocess.run([sys.executable, "-m", "zoo", "eval", "vae-binary", "--metric", "nll", "--samples", "1000000000",
                           "--limit", "100", "--no-baseline"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "--samples 1,000,000,000 is above the 100,000 per image" in done.stderr and "pass --force" in done.stderr
    assert "this run would take about" in done.stderr
    said = subprocess.run([sys.executable, "-m", "zoo", "eval", "vae-binary", "--metric", "nll", "--samples", "600",
                           "--limit", "150", "--no-baseline", "--format", "json"], capture_output=True, text=True,
                          timeout=120)
    assert said.returncode == 0, said.stderr
    from zoo.evaluation.likelihood import OUTPUT_BUDGET
    passes = 2 * math.ceil(600 / (OUTPUT_BUDGET // (4 * 784 * 100)))  # 2 image chunks x the draws a pass holds
    assert said.stderr.startswith(f"nll: 150 images x 600 samples in {passes} passes, about "), said.stderr
    assert json.loads(said.stdout)[0]["n"] == 150
    model = zoo.load("vae-binary", device="cpu")
    with pytest.raises(zoo.ZooError, match="pass force=True"):
        nll(model, samples=100_001, limit=1)
    assert math.isfinite(nll(model, samples=100_001, limit=1, force=True)["nll"])


def test_bad_input_is_one_line(registry, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True)

    for args, words in ((("eval", "t-vae", "--metric", "nll", "--samples", "0"), "0 is not in the range"),
                        (("eval", "deep-784-32", "--metric", "nll", "--limit", 5), "has no likelihood"),
                        (("eval", "vae-16", "--metric", "nll", "--limit", 5), "grey pixels")):
        done = cli(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, (args, done.stderr)


def test_compare_and_the_report_carry_nll_and_elbo_where_they_are_defined(registry, tmp_path):
    zoo.train("t-vamp", out=tmp_path / "run", epochs=1, limit_batches=5, device="cpu", quiet=True)
    rows = {r["name"]: r for r in zoo.compare([str(tmp_path / "run"), "deep-784-32"], limit=50, samples=5, device="cpu")}
    mine = rows[str(tmp_path / "run")]
    assert 0 < mine["nll"] < -mine["elbo"] and rows["deep-784-32"]["nll"] is None  # a dash: no likelihood
    from zoo.reporting.report import build_report

    page = build_report([str(tmp_path / "run")], tmp_path / "page").read_text()
    data = json.loads(page.split('<script id="data" type="application/json">')[1].split("</script>")[0])
    (section,) = data["models"]
    assert section["row"]["nll"] == pytest.approx(zoo.compare([str(tmp_path / "run")], samples=100, device="cpu")[0]["nll"])
    assert section["samples"].startswith("data:image/png")  # its samples grid


# ---------------------------------------------------------------------- the fused paths (likelihood speed)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("logits_shape, images_shape", [((4, 6, 1, 5, 5), (6, 1, 5, 5)), ((6, 2, 3, 3), (6, 2, 3, 3)),
                                                        ((2, 3, 6, 1, 4, 4), (6, 1, 4, 4)), ((6, 4, 1, 3, 3), (6, 1, 1, 3, 3)),
                                                        ((1, 4, 4), (1, 4, 4))])
@pytest.mark.parametrize("pixels", ["binary", "grey"])
def test_the_fused_bernoulli_log_probability_is_torchs_value_and_gradient(dtype, logits_shape, images_shape, pixels):
    from zoo.models.likelihoods import bernoulli_log_prob

    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(logits_shape, generator=g, dtype=dtype) * 6).requires_grad_()
    x = torch.rand(images_shape, generator=g, dtype=dtype)
    x = (x > 0.5).to(dtype) if pixels == "binary" else x
    ours = bernoulli_log_prob(logits, x)
    theirs = D.Independent(D.Bernoulli(logits=logits, validate_args=False), 3).log_prob(x)
    assert ours.shape == theirs.shape
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    assert torch.allclose(ours, theirs, atol=tol, rtol=0)
    weights = torch.randn(theirs.shape, generator=g, dtype=dtype)
    ours_grad, = torch.autograd.grad((ours * weights).sum(), logits)
    theirs_grad, = torch.autograd.grad((theirs * weights).sum(), logits)
    assert torch.allclose(ours_grad, theirs_grad, atol=tol, rtol=0)


def test_a_pixel_wrong_by_hundreds_in_logit_keeps_its_exact_log_probability():
    """The binary forms take log sigmoid(s l), which underflows past 87 in float32; those images are taken by
    the softplus form instead (the sum is then finite and exact)."""
    from zoo.models.likelihoods import bernoulli_log_prob, binary_log_prob_

    x = torch.zeros(3, 1, 4, 4)
    x[1, 0, 0, 0] = 1.0
    logits = torch.zeros(5, 3, 1, 4, 4)
    logits[2, 1, 0, 0, 0] = -300.0  # the pixel is on, the model says off by e^-300
    theirs = D.Independent(D.Bernoulli(logits=logits), 3).log_prob(x)
    ours = bernoulli_log_prob(logits.clone().requires_grad_(), x)
    assert torch.isfinite(ours).all() and torch.allclose(ours, theirs, atol=1e-4)
    assert float(ours[2, 1].detach()) < -300
    assert binary_log_prob_(logits.transpose(0, 1).clone(), x) is None  # the estimator's form: decode again
    assert torch.allclose(binary_log_prob_(torch.zeros(3, 5, 1, 4, 4), x), theirs.new_full((3, 5), 16 * math.log(0.5)))


def test_the_batched_estimator_gives_the_distributions_number_within_its_error(data_dir, monkeypatch):
    """zoo.nll's batched path (importance_sampler: draws side by side, fused pixels, in-place sigmoid) against
    the same estimator through the model's distributions, on vae-binary's shipped weights: other draws, the
    same number within the Monte Carlo error; each reproducible from its seed."""
    from zoo.models.capabilities import capabilities

    model = zoo.load("vae-binary", device="cpu")
    assert capabilities(model).importance_weights
    fast = nll(model, samples=500, limit=100, seed=3)
    assert nll(model, samples=500, limit=100, seed=3) == fast
    monkeypatch.setattr(type(model), "importance_weights", False)
    assert not capabilities(model).importance_weights
    slow = nll(model, samples=500, limit=100, seed=3)
    # measured: 0.02 nats apart (the per-image standard error of the difference of two K=500 estimates on
    # these images is about 0.01); nll_sem (1.5) is the spread over images, not the estimator's error
    assert abs(fast["nll"] - slow["nll"]) < 0.15, (fast, slow)
    assert abs(fast["elbo"] - slow["elbo"]) < 0.5, (fast, slow)


def test_a_family_that_redefines_its_posterior_reads_its_distributions_for_the_nll():
    """The batched path draws from the Gaussian of LatentVariableModel; a subclass with another posterior
    (or likelihood) and no importance_sampler of its own declares none, so zoo.nll reads its distributions."""
    from zoo.models.capabilities import capabilities
    from zoo.models.vae.model import VAE

    class Wider(VAE):
        def posterior(self, x):
            q = super().posterior(x)
            return D.Independent(D.Normal(q.base_dist.loc, 2 * q.base_dist.scale), 1)

    class Own(Wider):
        def importance_sampler(self, x, *, generator=None):
            return super().importance_sampler(x, generator=generator)

    model = zoo.load("vae-binary", pretrained=False, device="cpu")
    assert capabilities(model).importance_weights
    model.__class__ = Wider
    assert not capabilities(model).importance_weights
    model.__class__ = Own
    assert capabilities(model).importance_weights


def test_denormals_are_flushed_inside_zoo_and_in_torchs_threads_after_the_command_starts():
    """zoo.train and zoo.nll flush denormals in the calling thread for their duration; the zoo command (zoo.cli.run)
    flushes them for its whole process; calling the command's group from Python (click's runner) leaves the
    caller's process as it was (hypothesis, for one, refuses to run in a process that flushes)."""
    code = """
import torch
from click.testing import CliRunner
from zoo.cli import main
from zoo.devices import flush_denormal, flush_denormal_everywhere
tiny = torch.full((4,), 1e-38)
print(float((tiny / 100)[0]) > 0)
with flush_denormal("cpu"):
    print(float((tiny / 100)[0]) == 0)
print(float((tiny / 100)[0]) > 0)
assert CliRunner().invoke(main, ["list"]).exit_code == 0
print(float((tiny / 100)[0]) > 0)
flush_denormal_everywhere()
torch.set_num_threads(2)
big = torch.full((4_000_000,), 1e-38)
print(float((big / 100).max()) == 0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-5:] == ["True"] * 5, out.stdout


def test_an_nll_run_without_a_terminal_says_its_estimate_once_then_a_line_each_tenth():
    model = zoo.load("vae-binary", device="cpu")
    said = []
    zoo.nll(model, samples=2000, limit=100, say=said.append, progress=True)  # pytest's stderr: no terminal
    first, *rest = said
    assert first.startswith("nll: 100 images x 2,000 samples in ") and "(the first took " in first
    assert len(rest) >= 1 and all(re.fullmatch(r"nll: \d+/\d+ passes in \d+ s(, about \d+ s left)?", line) for line in rest)
    assert rest[-1].split()[1].split("/")[0] == rest[-1].split()[1].split("/")[1]  # the last: all passes done
    assert not any("first took" in line for line in rest)
