"""Model cards for shipped weights: ``card.json`` (facts, checksums, metrics) and a short README.md.

Every number on a card is measured by :func:`build_card` from the files it describes: the metrics
by ``zoo eval`` on the full test split, plus a ``check`` block on the first 1,000 test images that
the test suite reproduces exactly.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Dict, List

from ..data import checksums, load_dataset
from ..evaluation import ALL_METRICS, eval_rows
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..training.outputs import TrainingFacts
from ..weights import WEIGHTS_FILE, read_metadata

CHECK_LIMIT = 1000
FIGURES_DIR = "docs/reconstructions"  # the README's figures (the shipped grids, upscaled)
FIGURE_SCALE = 3
SHIPPED_FILES = (WEIGHTS_FILE, "reconstructions.png", "losses.png")

# Published results, by data set and code size, in squared error per test image (the sum over the
# pixels of the squared difference, averaged over the images): a card of a model with that data
# set and code size states its own number beside them.
PUBLISHED = {
    ("mnist", 30): {"source": "Hinton & Salakhutdinov 2006", "model": 3.00, "what": "their deep autoencoder",
                    "pca": 13.87},
}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
    facts = TrainingFacts.from_header(meta)
    del facts["data_sha256"]  # stated once, beside the data set
    rows = eval_rows(str(folder / WEIGHTS_FILE), device=device)
    check_rows = eval_rows(str(folder / WEIGHTS_FILE), limit=CHECK_LIMIT, device=device, baseline=False)
    name = meta["zoo.name"]
    metrics = _task_metrics(rows)
    card = {
        "name": name,
        "description": entry["description"],
        "architecture": entry["architecture"],
        "kwargs": entry["kwargs"],
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
        "files": {f: sha256_file(folder / f) for f in SHIPPED_FILES if (folder / f).exists()},
    }
    if (card["dataset"], card["latent_dim"]) in PUBLISHED:
        recon, pixels = metrics["reconstruction"], load_dataset(card["dataset"], "test").images[0].numel()
        card["squared_error_per_image"] = {"model": recon["model"]["mse"] * pixels, "pca": recon["pca"]["mse"] * pixels}
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
        f"- Architecture: `{card['architecture']}` {json.dumps(card['kwargs'])}; {card['params']:,} parameters; "
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
                     f"squared error per test image after {_time(ablation['training'])}. {ablation.get('result', '')}".rstrip())
    seconds = t["train_seconds"] or 0
    pretrained = f"RBM pretraining for {t['pretrain_seconds']:.0f} s, then " if t.get("pretrain_seconds") else ""
    lines += [
        f"- Trained: {pretrained}{t['epochs_run']} epochs on {t['device']} in {seconds:.0f} s; best validation loss "
        f"{t['best_val_loss']:.6f} at epoch {t['best_epoch']}; stopped: {t['stop_reason']}",
        f"- Reproduce: `{card['reproduce']}`",
        "",
        "| task | model | MSE | PSNR (dB) | SSIM | BCE |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for task in tasks_in_order(card):
        for who, label in (("model", card["name"]), ("pca", f"PCA-{card['latent_dim']}")):
            m = card["test"][task][who]
            lines.append(f"| {task} | {label} | {m['mse']:.6f} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['bce']:.4f} |")
    if "squared_error_per_image" in card:
        se, k = card["squared_error_per_image"], card["latent_dim"]
        paper = PUBLISHED[(card["dataset"], k)]
        lines += ["", f"Squared error per test image: {se['model']:.2f} (PCA-{k}: {se['pca']:.2f}; {paper['source']} "
                      f"report {paper['model']:.2f} for {paper['what']}, {paper['pca']:.2f} for PCA)."]
    lines += ["", "Test metrics on all 10,000 test images, measured by `zoo eval`.", "",
              "![reconstructions](reconstructions.png)", "", "![losses](losses.png)", ""]
    return "\n".join(lines)


def write_card(folder: Path, *, device: str = "cpu") -> Dict[str, Any]:
    card = build_card(folder, device=device)
    atomic_write_json(Path(folder) / "card.json", card)
    atomic_write_text(Path(folder) / "README.md", card_markdown(card))
    return card


RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"


def results_table(cards: List[Dict[str, Any]]) -> str:
    """The README's results table: every entry beside its PCA baseline, and the reconstruction grids."""
    lines = [
        "| name | data | code | test MSE | PCA MSE | PSNR | PCA PSNR | SSIM | PCA SSIM | BCE | epochs | time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for card in cards:
        for task in tasks_in_order(card):
            m, p = card["test"][task]["model"], card["test"][task]["pca"]
            label = card["name"] if task == "reconstruction" else f"{card['name']}: noisy input"
            t = card["training"]
            lines.append(
                f"| [`{label}`](weights/{card['name']}/README.md) | {card['dataset']} | {card['latent_dim']} | "
                f"{m['mse']:.5f} | {p['mse']:.5f} | {m['psnr']:.2f} | {p['psnr']:.2f} | {m['ssim']:.4f} | "
                f"{p['ssim']:.4f} | {m['bce']:.4f} | {t['epochs_run']} | {total_seconds(t):.0f} s {t['device']} |"
            )
    lines += ["", "`denoising: noisy input` scores Gaussian-corrupted test images (std 0.5) against the clean ones, "
              "beside PCA applied to the same corrupted images. Times are training-loop seconds on the "
              "device named (pretraining included).", "",
              "The first 16 test images, each model's reconstructions below them (upscaled "
              f"{FIGURE_SCALE}x without blur; `zoo report` shows every figure of every model):", ""]
    for card in cards:
        caption = ("originals, their noisy inputs (std 0.5) and the reconstructions" if "denoising" in card["test"]
                   else "originals (top two rows) and reconstructions (bottom two rows)")
        lines += [f"**{card['name']}**: {caption}", "", f"![{card['name']}: {caption}]({FIGURES_DIR}/{card['name']}.png)", ""]
    return "\n".join(lines).rstrip()


def total_seconds(training: Dict[str, Any]) -> float:
    """Training-loop seconds, a pretraining stage's included."""
    return (training.get("train_seconds") or 0) + (training.get("pretrain_seconds") or 0)


def _time(training: Dict[str, Any]) -> str:
    if training.get("pretrain_seconds"):
        return (f"{training['pretrain_seconds']:.0f} s RBM pretraining + {training['train_seconds']:.0f} s "
                f"({training['epochs_run']} epochs), {training['device']}")
    return f"{training['train_seconds']:.0f} s ({training['epochs_run']} epochs), {training['device']}"


def paper_table(cards: List[Dict[str, Any]]) -> str:
    """The README's comparison with published results: each model with a published counterpart (same
    data set and code size) by squared error per test image, its ablation when its entry's
    ``ablation`` measured one, PCA as zoo measures it, and the published numbers."""
    lines = []
    for key, paper in PUBLISHED.items():
        mine = [c for c in cards if (c["dataset"], c["latent_dim"]) == key and "squared_error_per_image" in c]
        if not mine:
            continue
        lines += ["| model | data, code | squared error per test image | training time |", "| --- | --- | ---: | --- |",
                  f"| {paper['source']}: {paper['what']} | {key[0]}, {key[1]} | {paper['model']:.2f} | (published) |",
                  f"| {paper['source']}: PCA | {key[0]}, {key[1]} | {paper['pca']:.2f} | (published) |",
                  f"| zoo's PCA-{key[1]} | {key[0]}, {key[1]} | {mine[0]['squared_error_per_image']['pca']:.2f} | |"]
        for card in mine:
            lines.append(f"| [`{card['name']}`](weights/{card['name']}/README.md): {card['description']} | "
                         f"{key[0]}, {key[1]} | {card['squared_error_per_image']['model']:.2f} | {_time(card['training'])} |")
            ablation = card.get("ablation") or {}
            if "squared_error_per_image" in ablation:
                lines.append(f"| `{card['name']}` ablation: {ablation['what']} (`{ablation['command']}`) | {key[0]}, {key[1]} "
                             f"| {ablation['squared_error_per_image']:.2f} | {_time(ablation['training'])} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def write_readme_figures(repo: Path, names: List[str]) -> None:
    """Each shipped reconstructions.png, upscaled without blur into docs/reconstructions/, for the README."""
    from PIL import Image

    for name in names:
        with Image.open(repo / "weights" / name / "reconstructions.png") as image:
            big = image.resize((image.width * FIGURE_SCALE, image.height * FIGURE_SCALE), Image.NEAREST)
            buffer = io.BytesIO()
            big.save(buffer, format="png")
        atomic_write_bytes(repo / FIGURES_DIR / f"{name}.png", buffer.getvalue())


PAPER_START, PAPER_END = "<!-- paper:start -->", "<!-- paper:end -->"


def refresh_readme(readme: Path, cards: List[Dict[str, Any]]) -> None:
    """Rewrite the README's generated parts: the results table and the comparison with published results."""
    text = readme.read_text(encoding="utf-8")
    parts = (((RESULTS_START, RESULTS_END), results_table(cards)), ((PAPER_START, PAPER_END), paper_table(cards)))
    for (first, last), table in parts:
        start, end = text.index(first) + len(first), text.index(last)
        text = text[:start] + "\n" + table + "\n" + text[end:]
    atomic_write_text(readme, text)
