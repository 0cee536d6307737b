"""The VQ-VAE: its codebook (moving averages, dead-code restarts), its index code, the PixelCNN prior over
the codes (causal, without a blind spot), the code-prior stage (trained after training, resumable bit for
bit after SIGKILL in either stage) and its errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import cli, one_line
from killing import saved_info
from safetensors.torch import load_file

import zoo
import zoo.paths
from zoo.errors import RegistryError, UsageError
from zoo.models import build_model
from zoo.models.capabilities import capabilities
from zoo.models.vq_vae import EPSILON, Codebook, PixelCNNPrior

SMALL = {"latent_dim": 49, "embedding_dim": 4, "codebook_size": 8, "prior_channels": 8, "prior_layers": 6}
SMALL_NET = {"type": "resnet", "channels": [16, 16], "residual_layers": 1}


def test_the_codebook_follows_its_moving_averages_and_restarts_dead_codes():
    torch.manual_seed(0)
    book = Codebook(4, 2, decay=0.9, restart_below=0.5)
    book.cluster_size.copy_(torch.tensor([2.0, 3.0, 0.5, 4.0]))
    book.embedding_sum.copy_(torch.arange(8.0).view(4, 2))
    flat = torch.tensor([[1.0, 1.0], [3.0, 1.0], [10.0, 10.0]])
    idx = torch.tensor([0, 0, 3])
    size = torch.tensor([2.0, 3.0, 0.5, 4.0]) * 0.9 + torch.tensor([2.0, 0.0, 0.0, 1.0]) * 0.1
    sums = torch.arange(8.0).view(4, 2) * 0.9 + torch.tensor([[4.0, 2.0], [0, 0], [0, 0], [10.0, 10.0]]) * 0.1
    n = size.sum()
    expected = sums / ((size + EPSILON) / (n + 4 * EPSILON) * n).unsqueeze(1)
    stats = book.update(flat, idx)
    # code 2 fell to 0.45 uses per batch, below 0.5: it restarts at one of the batch's vectors
    assert stats["restarts"] == 1 and book.cluster_size[2] == 1.0
    assert any(torch.equal(book.embedding[2], row) for row in flat) and torch.equal(book.embedding_sum[2], book.embedding[2])
    keep = [0, 1, 3]
    assert torch.allclose(book.embedding[keep], expected[keep]) and torch.allclose(book.cluster_size[keep], size[keep])
    assert stats["usage"] == 0.5 and stats["perplexity"] == pytest.approx(2 ** (-(2 / 3) * torch.log2(torch.tensor(2 / 3)) - (1 / 3) * torch.log2(torch.tensor(1 / 3))).item())


def test_the_code_is_one_index_per_position_and_decodes_like_forward(mnist_batch):
    torch.manual_seed(0)
    model = build_model("vq-vae", SMALL, (1, 28, 28), SMALL_NET).eval()
    with torch.no_grad():
        codes = model.encode(mnist_batch)
        assert codes.shape == (16, 49) and codes.dtype == torch.int64 and 0 <= codes.min() and codes.max() < 8
        assert torch.equal(model.decode(codes), model(mnist_batch))
        assert torch.equal(model.decode(codes.double()), model.decode(codes))  # floats holding indices (encode_all)
        features = model.features(mnist_batch)  # the continuous view the scatter and the interpolation use
        assert features.shape == (16, 4 * 49) and torch.equal(model.decode_features(features), model(mnist_batch))
        assert torch.equal(features, model.quantized(codes).flatten(1))
    assert not capabilities(model).continuous_code and capabilities(model).code_kind == "codebook indices"
    with pytest.raises(UsageError, match=r"an index in 0\.\.7, got 8\.\.8"):
        model.decode(torch.full((1, 49), 8))
    for bad, words in [(torch.full((1, 49), 3.7), r"not whole numbers \(such as 3\.7\)"),
                       (torch.ones(1, 49, dtype=torch.bool), "got torch.bool"),
                       (torch.full((1, 49), float("nan")), "NaN or infinite"),
                       (torch.zeros(1, 48, dtype=torch.long), r"got shape \(1, 48\)"),
                       (torch.zeros(49, dtype=torch.long), r"got shape \(49,\)")]:
        with pytest.raises(UsageError, match=words):
            model.decode(bad)
    with pytest.raises(UsageError, match="code prior was never trained"):
        model.sample(2)


def test_the_loss_trains_the_encoder_through_the_straight_through_estimator(mnist_batch):
    torch.manual_seed(0)
    model = build_model("vq-vae", {**SMALL, "commitment_cost": 0.0}, (1, 28, 28), SMALL_NET).train()
    before = model.codebook.embedding.clone()
    out = model.loss(mnist_batch, mnist_batch, kind="bce")
    out.loss.backward()  # only the reconstruction: the encoder's gradient can only come straight through
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.prior.parameters())  # the prior is the next stage's
    assert not torch.equal(model.codebook.embedding, before)  # moving averages in training mode...
    assert set(out.parts) == {"recon", "commitment", "perplexity", "usage", "restarts"}
    model.eval()
    after = model.codebook.embedding.clone()
    model.loss(mnist_batch, mnist_batch, kind="bce")
    assert torch.equal(model.codebook.embedding, after)  # ...and none in eval mode


def test_the_pixelcnn_sees_exactly_the_positions_before_each_one():
    torch.manual_seed(0)
    prior = PixelCNNPrior(8, (7, 7), channels=8, layers=6)
    embedded = torch.randn(1, 8, 7, 7, requires_grad=True)
    logits = prior.logits_of(embedded)
    for i, j in [(0, 0), (0, 6), (3, 3), (6, 0), (6, 6)]:
        (grad,) = torch.autograd.grad(logits[0, :, i, j].sum(), embedded, retain_graph=True)
        seen = grad.abs().sum((0, 1)) > 0
        before = torch.zeros(7, 7, dtype=torch.bool)
        before.view(-1)[: i * 7 + j] = True
        assert torch.equal(seen, before), (i, j)  # nothing at or after (i, j); everything before: no blind spot


def test_the_prior_sampler_draws_in_order_and_is_seeded():
    torch.manual_seed(0)
    prior = PixelCNNPrior(8, (7, 7), channels=8, layers=6)
    a = prior.sample(5, generator=torch.Generator().manual_seed(3))
    b = prior.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 7, 7) and torch.equal(a, b) and 0 <= a.min() and a.max() < 8
    nll = prior.nll(a)
    assert nll.shape == (5,) and (nll > 0).all()


def test_a_prior_stage_on_a_model_without_discrete_codes_is_refused(tmp_path, monkeypatch):
    reg = tmp_path / "registry.json"
    reg.write_text('{"version": 1, "models": {"mlp-prior": {"description": "d", "family": "ae", "kwargs": {"latent_dim": 8}, '
                   '"dataset": "mnist", "recipe": {"epochs": 1, "prior": {"type": "pixelcnn"}}}}}')
    monkeypatch.setenv("ZOO_REGISTRY", str(reg))
    with pytest.raises(RegistryError, match="recipe.prior: the ae family has no discrete codes"):
        zoo.list_models()


ARGS = ["train", "vq-vae-49", "--epochs", "1", "--limit-batches", "12", "--set", "prior.epochs=2",
        "--checkpoint-every", "3", "--device", "cpu", "--quiet"]


def _run(*extra):
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    return subprocess.run([sys.executable, "-m", "zoo", *ARGS, *extra], capture_output=True, text=True, env=env,
                          timeout=300)


def _kill_when(run_dir, part: str, min_step: int, *extra) -> dict:
    """Start a run into ``run_dir`` and SIGKILL it once its saved ``part`` is at ``min_step`` of its first epoch."""
    env = {k: v for k, v in os.environ.items() if k != "ZOO_REGISTRY"}
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *ARGS, "--out", str(run_dir), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while True:
            info = saved_info(run_dir)
            p = info["parts"].get(part) if info else None
            if p is not None and p["epoch"] == 0 and p["step_in_epoch"] >= min_step:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, f"no mid-epoch state of {part} appeared"
            time.sleep(0.005)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return saved_info(run_dir)["parts"][part]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_in_training_and_again_in_the_prior_stage_it_resumes_bitwise(tmp_path):
    straight = _run("--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr
    killed = tmp_path / "killed"
    assert 6 <= _kill_when(killed, "progress", 6)["step_in_epoch"] < 12
    at = _kill_when(killed, "prior.progress", 6, "--resume")
    assert 6 <= at["step_in_epoch"] < 12
    resumed = _run("--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and {"codebook.embedding", "codebook.cluster_size", "prior_trained"} <= set(a)
    assert int(a["prior_trained"]) == 1 and any(k.startswith("prior.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # training cannot reopen under a prior trained on its codes
    result = cli(*ARGS[:2], "--epochs", "3", *ARGS[4:], "--out", killed, "--resume")
    assert "code-prior stage" in one_line(result, 2)
    model = zoo.load(killed, device="cpu")  # the round trip: every tensor, the codebook's buffers included
    assert model.state_dict().keys() == b.keys() and all(torch.equal(model.state_dict()[k], b[k]) for k in b)
    metrics = __import__("json").loads((killed / "metrics.json").read_text())
    assert metrics["prior"]["epochs_run"] == 2 and metrics["prior"]["test_nll"] > 0
    assert len(metrics["history"][0]["parts"]) == 5 and 0 < metrics["history"][0]["parts"]["usage"] <= 1
    images = zoo.sample(model, 3, seed=1)
    assert images.shape == (3, 1, 28, 28) and torch.equal(images, zoo.sample(model, 3, seed=1))


def test_the_shipped_vq_vae_samples_from_its_prior_and_refuses_gmm(tmp_path):
    from zoo.evaluation.sampling import default_sampler
    from zoo.reporting.cards import code_prior_block

    model = zoo.load("vq-vae-49", device="cpu")
    assert int(model.prior_trained) == 1 and default_sampler(model) == "prior"
    result = cli("sample", "vq-vae-49", "--sampler", "gmm", "--n", "4", "--out", tmp_path / "g.png")
    assert "its code is codebook indices" in one_line(result, 2) and not (tmp_path / "g.png").exists()
    card = __import__("json").loads((zoo.paths.REPO_DIR / "weights" / "vq-vae-49" / "card.json").read_text())
    assert card["sampling"]["sampler"] == "prior"
    block = code_prior_block(model, "mnist")  # the card's prior NLL, measured again on all test codes
    assert block["test_nll"] == pytest.approx(card["code_prior"]["test_nll"], rel=1e-5)
    assert block["bits_per_position"] < block["uniform_bits"]  # the prior has learnt something of the codes


def test_a_long_prior_draw_says_its_estimate_first_and_draws_the_same_samples(monkeypatch):
    from zoo.evaluation import sampling

    model = zoo.load("vq-vae-49", device="cpu")
    quiet = sampling.sample(model, 80, seed=3)
    clock = iter(range(0, 1000, 2))  # each reading of the clock 2 s later: the 64 timed codes took 2 s
    monkeypatch.setattr(sampling.time, "perf_counter", lambda: next(clock))
    said = []
    loud = sampling.sample(model, 80, seed=3, say=said.append)
    assert said == ["sample: 80 codes from vq-vae-49's prior, about 2 s"]  # 2 s * 80 / 64
    assert torch.equal(quiet, loud)  # the timed draw is another generator's: the samples are the same
