"""Model cards for shipped weights: ``card.json`` (facts, checksums, metrics) and a short README.md.

Every number on a card is measured by :func:`build_card` from the files it describes: the metrics
by ``zoo eval`` on the full test split, plus a ``check`` block on the first 1,000 test images that
the test suite reproduces exactly.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Dict, List

from ..data import checksums, load_dataset
from ..evaluation import ALL_METRICS, eval_rows
from ..evaluation.classifier import CLASSIFIER_DATASETS
from ..evaluation.likelihood import fits_data, nll
from ..evaluation.quality import fd, floor_fd, pca_fd
from ..evaluation.sampling import GMM_FILE, default_sampler, gaussian_mixture, generative, sample
from ..evaluation.scoring import code_nll, device_of, encode_all
from ..io import atomic_write_json, atomic_write_text, file_sha256
from ..models import get_family
from ..models.capabilities import capabilities
from ..models.legacy import from_architecture, is_legacy
from ..training.outputs import TrainingFacts
from ..weights import WEIGHTS_FILE, load, read_metadata

CHECK_LIMIT = 1000
CHECK_FD_SAMPLES = 1000  # the fd check the tests reproduce: 1,000 samples (seed 0) against the test set
FIGURES_DIR = "docs/reconstructions"  # the README's figures (the shipped grids, upscaled)
FIGURE_SCALE = 3
SHIPPED_FILES = (WEIGHTS_FILE, "reconstructions.png", "losses.png")  # copied from the run folder
SAMPLES_FILE = "samples.png"  # a generative entry's samples by its default sampler, drawn when its card is written

# Published results, by data set and code size, in squared error per test image (the sum over the
# pixels of the squared difference, averaged over the images): a card of a model with that data
# set and code size states its own number beside them.
PUBLISHED = {
    ("mnist", 30): {"source": "Hinton & Salakhutdinov 2006", "model": 3.00, "what": "their deep autoencoder",
                    "pca": 13.87},
}

# A likelihood model's card measures the test NLL as `zoo eval NAME --metric nll --samples 5000` does (seed 0,
# all 10,000 test images), and a check the test suite reproduces exactly on fewer images and samples.
LIKELIHOOD_SAMPLES = 5000
CHECK_LIKELIHOOD = {"limit": 100, "samples": 100}

# pythae's reproducibility table (examples/scripts/reproducibility/ of benchmark_VAE: README.md and the
# scripts vae.py, vamp.py, iwae.py), by zoo architecture: test NLL in nats, and the protocol of each number.
PUBLISHED_NLL = {
    "vae": {"model": "VAE", "paper": 89.9, "source": "Rezende & Mohamed 2015", "pythae": 89.78,
            "protocol": "static binarized MNIST (Larochelle's files); 784-400-40 ReLU; 500 epochs of Adam 1e-4, "
                        "step decay, batch 100; 200 importance samples"},
    "vamp": {"model": "VampPrior, 500 pseudo-inputs", "paper": 85.57, "source": "Tomczak & Welling 2018",
             "pythae": 85.79,
             "protocol": "static binarized MNIST; gated 784-300-300-40; 2000 epochs of Adam 1e-4, step decay, KL "
                         "warm-up over 100 epochs, batch 100; 5000 importance samples"},
    "iwae": {"model": "IWAE, 50 samples in the bound", "paper": 87.1, "source": "Burda et al. 2016", "pythae": 86.82,
             "protocol": "static binarized MNIST; 784-200-200-50 tanh; 3280 epochs of Adam 1e-3, step decay, "
                         "batch 20; 5000 importance samples"},
}


def _task_metrics(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{task: {"model": {metric: v}, "pca": {metric: v}}} from eval rows."""
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for row in rows:
        who = "pca" if row["name"].startswith("pca-") else "model"
        out.setdefault(row["task"], {})[who] = {m: row[m] for m in ALL_METRICS}
    return out


def build_card(folder: Path, *, device: str = "cpu") -> Dict[str, Any]:
    """Measure and describe the weights in ``folder`` (model.safetensors and its figures)."""
    folder = Path(folder)
    meta = read_metadata(folder / WEIGHTS_FILE)
    entry = json.loads(meta["zoo.entry"])
    entry = from_architecture(entry) if is_legacy(entry) else entry
    network = get_family(entry["family"]).network(entry.get("network"))  # None: a model that builds its own layers
    facts = TrainingFacts.from_header(meta)
    del facts["data_sha256"]  # stated once, beside the data set
    rows = eval_rows(str(folder / WEIGHTS_FILE), device=device)
    check_rows = eval_rows(str(folder / WEIGHTS_FILE), limit=CHECK_LIMIT, device=device, baseline=False)
    name = meta["zoo.name"]
    metrics = _task_metrics(rows)
    card = {
        "name": name,
        "description": entry["description"],
        "family": entry["family"],
        "network": network.to_dict() if network is not None else None,
        "kwargs": entry.get("kwargs", {}),
        "params": rows[0]["params"],
        "latent_dim": rows[0]["latent_dim"],
        "dataset": entry["dataset"],
        "data_sha256": checksums(entry["dataset"]),
        "recipe": entry["recipe"],
        "reference_recipe": entry.get("reference_recipe"),
        "ablation": entry.get("ablation"),
        "training": {**facts, "zoo_version": meta.get("zoo.version")},
        "test": metrics,
        "check": {"limit": CHECK_LIMIT, **{r["task"]: {m: r[m] for m in ALL_METRICS} for r in check_rows}},
        "reproduce": f"zoo train {name}",
        "files": {f: file_sha256(folder / f) for f in (*SHIPPED_FILES, SAMPLES_FILE, GMM_FILE) if (folder / f).exists()},
    }
    model = load(str(folder / WEIGHTS_FILE), device=device)
    measure_sampling(card, model)
    if fits_data(model, card["dataset"]):
        started = time.perf_counter()
        card["likelihood"] = {**nll(model, samples=LIKELIHOOD_SAMPLES), "seed": 0,
                              "seconds": round(time.perf_counter() - started, 1),
                              "command": f"zoo eval {name} --metric nll --samples {LIKELIHOOD_SAMPLES}"}
        check = nll(model, **CHECK_LIKELIHOOD)
        card["check"]["likelihood"] = {**CHECK_LIKELIHOOD, "nll": check["nll"], "elbo": check["elbo"]}
    if capabilities(model).code_prior:
        card["code_prior"] = code_prior_block(model, card["dataset"])
    if (card["dataset"], card["latent_dim"]) in PUBLISHED:
        recon, pixels = metrics["reconstruction"], load_dataset(card["dataset"], "test").images[0].numel()
        card["squared_error_per_image"] = {"model": recon["model"]["mse"] * pixels, "pca": recon["pca"]["mse"] * pixels}
    return card


def code_prior_block(model, dataset: str) -> Dict[str, Any]:
    """A discrete-code model's prior over its codes, scored on the codes of all test images: nats per image (the
    whole code grid) and bits per code position, beside a uniform prior's log2(K) bits."""
    codes = encode_all(model.encode, load_dataset(dataset, "test").images, device_of(model)).long()
    nats = code_nll(model, codes)
    return {"type": model.entry.recipe.prior.type, "test_nll": nats, "n": len(codes),
            "bits_per_position": nats / math.log(2) / model.latent_dim,
            "uniform_bits": math.log2(model.config.codebook_size)}


def measure_sampling(card: Dict[str, Any], model) -> None:
    """A generative MNIST model's ``sampling`` block: fd of 10,000 samples (seed 0) beside sampled PCA of its code
    size and the training images, and a check on 1,000 samples that the tests reproduce exactly."""
    if not (generative(model) and card["dataset"] in CLASSIFIER_DATASETS):
        return
    started = time.perf_counter()
    card["sampling"] = {**fd(model), "seconds": round(time.perf_counter() - started, 1),
                        "pca_fd": pca_fd(card["dataset"], card["latent_dim"]), "floor_fd": floor_fd(card["dataset"])}
    card["check"]["sampling"] = {"samples": CHECK_FD_SAMPLES, "fd": fd(model, samples=CHECK_FD_SAMPLES)["fd"]}


def add_sampling(folder: Path, *, device: str = "cpu") -> Dict[str, Any]:
    """Add the samples and their ``sampling`` block to a card measured before them, leaving the rest as measured
    (a likelihood card's NLL took half an hour)."""
    folder = Path(folder)
    card = json.loads((folder / "card.json").read_text())
    write_samples(folder, device=device)
    measure_sampling(card, load(str(folder / WEIGHTS_FILE), device=device))
    card["files"] = {f: file_sha256(folder / f) for f in (*SHIPPED_FILES, SAMPLES_FILE, GMM_FILE) if (folder / f).exists()}
    atomic_write_json(folder / "card.json", card)
    atomic_write_text(folder / "README.md", card_markdown(card))
    return card


def tasks_in_order(card: Dict[str, Any]) -> List[str]:
    """Plain reconstruction first, then denoising (card.json stores its keys sorted)."""
    return sorted(card["test"], key=lambda task: task != "reconstruction")


def card_markdown(card: Dict[str, Any]) -> str:
    """The short human-readable card."""
    t = card["training"]
    lines = [
        f"# {card['name']}",
        "",
        card["description"],
        "",
        f"- Family: `{card['family']}` {json.dumps(card['kwargs'])} on network {json.dumps(card['network'])}; "
        f"{card['params']:,} parameters; "
        f"{card['latent_dim']}-d code",
        f"- Data: {card['dataset']} (train 50,000 / validation 10,000 / test 10,000); SHA-256 in card.json",
        f"- Recipe: {json.dumps({k: v for k, v in card['recipe'].items() if k != 'notes'})}",
        f"- Why: {card['recipe'].get('notes', '')}",
    ]
    if card.get("reference_recipe"):
        lines.append(f"- Reference system's recipe (before tuning): {json.dumps(card['reference_recipe'])}")
    ablation = card.get("ablation") or {}
    if "squared_error_per_image" in ablation:
        lines.append(f"- Ablation, {ablation['what']} (`{ablation['command']}`): {ablation['squared_error_per_image']:.2f} "
                     f"squared error per test image after {training_time(ablation['training'])}. {ablation.get('result', '')}".rstrip())
    seconds = t["train_seconds"] or 0
    pretrained = f"RBM pretraining for {t['pretrain_seconds']:.0f} s, then " if t.get("pretrain_seconds") else ""
    prior = f"; then its code prior in {t['prior_seconds']:.0f} s" if t.get("prior_seconds") else ""
    lines += [
        f"- Trained: {pretrained}{t['epochs_run']} epochs on {t['device']} in {seconds:.0f} s; best validation loss "
        f"{t['best_val_loss']:.6f} at epoch {t['best_epoch']}; stopped: {t['stop_reason']}{prior}",
        f"- Reproduce: `{card['reproduce']}`",
        "",
        "| task | model | MSE | PSNR (dB) | SSIM | BCE |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for task in tasks_in_order(card):
        for who, label in (("model", card["name"]), ("pca", f"PCA-{card['latent_dim']}")):
            m = card["test"][task][who]
            lines.append(f"| {task} | {label} | {m['mse']:.6f} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['bce']:.4f} |")
    if "likelihood" in card:
        like = card["likelihood"]
        lines += ["", f"Test negative log-likelihood: {like['nll']:.2f} nats per image (standard error "
                      f"{like['nll_sem']:.2f}), ELBO {like['elbo']:.2f}, importance-sampled with {like['samples']} "
                      f"draws per image on all {like['n']:,} test images in {like['seconds']:.0f} s (`{like['command']}`)."]
    if "squared_error_per_image" in card:
        se, k = card["squared_error_per_image"], card["latent_dim"]
        paper = PUBLISHED[(card["dataset"], k)]
        lines += ["", f"Squared error per test image: {se['model']:.2f} (PCA-{k}: {se['pca']:.2f}; {paper['source']} "
                      f"report {paper['model']:.2f} for {paper['what']}, {paper['pca']:.2f} for PCA)."]
    if "code_prior" in card:
        c = card["code_prior"]
        lines += ["", f"Code prior ({c['type']}, over the grid of codebook indices, trained after the autoencoder): test "
                      f"NLL {c['test_nll']:.2f} nats per image's code grid, {c['bits_per_position']:.3f} bits per position "
                      f"(a uniform prior: {c['uniform_bits']:.0f} bits), on all {c['n']:,} test images."]
    lines += ["", "Test metrics on all 10,000 test images, measured by `zoo eval`.", "",
              "![reconstructions](reconstructions.png)", "", "![losses](losses.png)", ""]
    if "sampling" in card:
        s = card["sampling"]
        lines += [f"Samples: the {s['sampler']} sampler (its default). fd {s['fd']:.2f} for {s['samples']:,} samples "
                  f"(seed {s['seed']}) against the test set, in zoo's MNIST classifier's features (not Inception FID); "
                  f"PCA-{card['latent_dim']} with a Gaussian on its codes, sampled: {s['pca_fd']:.2f}; the training images "
                  f"(the floor): {s['floor_fd']:.2f}.", ""]
    if SAMPLES_FILE in card.get("files", {}):
        lines += [f"64 samples, seed 0 (`zoo sample {card['name']} --n 64 --out samples.png`):", "",
                  f"![samples]({SAMPLES_FILE})", ""]
    return "\n".join(lines)


def total_seconds(training: Dict[str, Any]) -> float:
    """Training-loop seconds, a pretraining and a code-prior stage's included."""
    return sum(training.get(k) or 0 for k in ("train_seconds", "pretrain_seconds", "prior_seconds"))


def training_time(training: Dict[str, Any]) -> str:
    if training.get("pretrain_seconds"):
        return (f"{training['pretrain_seconds']:.0f} s RBM pretraining + {training['train_seconds']:.0f} s "
                f"({training['epochs_run']} epochs), {training['device']}")
    prior = f" + {training['prior_seconds']:.0f} s code prior" if training.get("prior_seconds") else ""
    return f"{training['train_seconds']:.0f} s ({training['epochs_run']} epochs){prior}, {training['device']}"


def write_samples(folder: Path, *, device: str = "cpu") -> None:
    """``samples.png`` beside the weights of a generative model: 64 draws by its default sampler, seed 0 (a
    ``gmm`` model's mixture fitted and written beside the weights first, ``gmm.safetensors``)."""
    from ..figures import reconstruction_grid, save_grid

    model = load(str(Path(folder) / WEIGHTS_FILE), device=device)
    if not generative(model):
        return
    if default_sampler(model) == "gmm":
        gaussian_mixture(model, refit=True, path=Path(folder) / GMM_FILE)
    save_grid(Path(folder) / SAMPLES_FILE, reconstruction_grid([sample(model, 64, seed=0)], nrow=8))


def write_card(folder: Path, *, device: str = "cpu") -> Dict[str, Any]:
    write_samples(folder, device=device)
    card = build_card(folder, device=device)
    atomic_write_json(Path(folder) / "card.json", card)
    atomic_write_text(Path(folder) / "README.md", card_markdown(card))
    return card
