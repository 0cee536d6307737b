"""The generated parts of the README (the table of entries) and of the docs pages, from the shipped cards: the
results table with the reconstruction grids, the comparison with Hinton & Salakhutdinov (2006), pythae's likelihood
table, and the generative families' table with the sample grids."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Dict, List

from ..io import atomic_write_bytes, atomic_write_text
from .cards import FIGURE_SCALE, FIGURES_DIR, PUBLISHED, PUBLISHED_NLL, SAMPLES_FILE, tasks_in_order, total_seconds, training_time

SAMPLES_DIR = "docs/samples"  # the README's sample grids (the shipped samples.png, upscaled)

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
              "device named (a pretraining or code-prior stage included).", "",
              "The first 16 test images, each model's reconstructions below them (upscaled "
              f"{FIGURE_SCALE}x without blur; `zoo report` shows every figure of every model):", ""]
    for card in cards:
        caption = ("originals, their noisy inputs (std 0.5) and the reconstructions" if "denoising" in card["test"]
                   else "originals (top two rows) and reconstructions (bottom two rows)")
        lines += [f"**{card['name']}**: {caption}", "", f"![{card['name']}: {caption}]({FIGURES_DIR}/{card['name']}.png)", ""]
    return "\n".join(lines).rstrip()


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
                         f"{key[0]}, {key[1]} | {card['squared_error_per_image']['model']:.2f} | {training_time(card['training'])} |")
            ablation = card.get("ablation") or {}
            if "squared_error_per_image" in ablation:
                lines.append(f"| `{card['name']}` ablation: {ablation['what']} (`{ablation['command']}`) | {key[0]}, {key[1]} "
                             f"| {ablation['squared_error_per_image']:.2f} | {training_time(ablation['training'])} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def likelihood_table(cards: List[Dict[str, Any]]) -> str:
    """pythae's reproducibility table (paper, pythae) beside zoo's entry of each family, its protocol, and the
    sample grids."""
    mine = [(PUBLISHED_NLL[c["family"]], c) for c in cards if "likelihood" in c and c["family"] in PUBLISHED_NLL]
    if not mine:
        return ""
    lines = ["| model | paper | pythae obtained | zoo | zoo - pythae | zoo's entry |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for pub, card in mine:
        like = card["likelihood"]
        lines.append(f"| {pub['model']} | {pub['paper']:.2f} ({pub['source']}) | {pub['pythae']:.2f} | "
                     f"**{like['nll']:.2f}** (± {like['nll_sem']:.2f}) | {like['nll'] - pub['pythae']:+.2f} | "
                     f"[`{card['name']}`](weights/{card['name']}/README.md) |")
    lines += ["", "NLL in nats per test image. The protocol of each number:", ""]
    for pub, card in mine:
        like, recipe, t = card["likelihood"], card["recipe"], card["training"]
        schedule = f", {recipe['scheduler']['type']} decay" if recipe.get("scheduler") else ""
        lines += [f"- {pub['model']}: paper and pythae: {pub['protocol']}. zoo (`{card['name']}`): {card['dataset']} "
                  f"(dynamic binarization); `{card['family']}` {json.dumps(card['kwargs'])} on {json.dumps(card['network'])}; "
                  f"{t['epochs_run']} epochs of {recipe['optimizer']} lr {recipe['lr']:g}{schedule}, batch "
                  f"{recipe['batch_size']}, {t['train_seconds']:.0f} s on {t['device']} (the weights of epoch "
                  f"{t['best_epoch']}, the best validation loss); {like['samples']} importance samples on all "
                  f"{like['n']:,} test images (`{like['command']}`, {like['seconds']:.0f} s)."]
    lines += ["", "Samples from each prior (64 draws, seed 0):", ""]
    for _, card in mine:
        lines += [f"**{card['name']}**", "", f"![{card['name']}: samples]({SAMPLES_DIR}/{card['name']}.png)", ""]
    return "\n".join(lines).rstrip()


FAMILIES_START, FAMILIES_END = "<!-- families:start -->", "<!-- families:end -->"


def families_table(cards: List[Dict[str, Any]]) -> str:
    """Every generative family's entries: test MSE beside PCA's, the NLL where defined, fd beside sampled PCA and
    the floor, training time, and each sample grid."""
    mine = [c for c in cards if "sampling" in c]
    if not mine:
        return ""
    lines = ["| family | entry | data | code | test MSE (PCA) | NLL | fd (sampled PCA) | sampler | training |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for card in sorted(mine, key=lambda c: (c["family"], c["name"])):
        m, p, s = card["test"]["reconstruction"]["model"], card["test"]["reconstruction"]["pca"], card["sampling"]
        nll = f"{card['likelihood']['nll']:.2f}" if "likelihood" in card else "-"
        t = card["training"]
        lines.append(f"| `{card['family']}` | [`{card['name']}`](weights/{card['name']}/README.md) | {card['dataset']} | "
                     f"{card['latent_dim']} | {m['mse']:.5f} ({p['mse']:.5f}) | {nll} | **{s['fd']:.2f}** ({s['pca_fd']:.2f}) | "
                     f"{s['sampler']} | {total_seconds(t):.0f} s |")
    floors = sorted({(c["dataset"], round(c["sampling"]["floor_fd"], 2)) for c in mine})
    lines += ["", "fd: 10,000 samples (seed 0) against the 10,000 test images in zoo's MNIST classifier's features "
              "(not Inception FID); beside it PCA of the same code size with a Gaussian on its codes, sampled. The "
              "floor, 10,000 training images: " + ", ".join(f"{f:.2f} ({d})" for d, f in floors) + ". NLL: nats per "
              "test image, importance-sampled (binarized data only). Training: training-loop seconds, a code prior's stage "
              "included." + "".join(f" {c['name']}'s code: {c['latent_dim']} positions, each an index into "
              f"{c['kwargs']['codebook_size']} codebook vectors." for c in mine if "code_prior" in c), "",
              "64 samples of each (seed 0), by its default sampler:", ""]
    for card in sorted(mine, key=lambda c: (c["family"], c["name"])):
        lines += [f"**{card['name']}** ({card['family']}, {card['sampling']['sampler']})", "",
                  f"![{card['name']}: samples]({SAMPLES_DIR}/{card['name']}.png)", ""]
    return "\n".join(lines).rstrip()


def _upscaled(source: Path, target: Path) -> None:
    from PIL import Image

    with Image.open(source) as image:
        big = image.resize((image.width * FIGURE_SCALE, image.height * FIGURE_SCALE), Image.NEAREST)
        buffer = io.BytesIO()
        big.save(buffer, format="png")
    atomic_write_bytes(target, buffer.getvalue())


def write_readme_figures(repo: Path, names: List[str]) -> None:
    """Each shipped reconstructions.png (and samples.png, where the entry samples), upscaled without blur into
    docs/reconstructions/ (docs/samples/), for the README."""
    for name in names:
        _upscaled(repo / "weights" / name / "reconstructions.png", repo / FIGURES_DIR / f"{name}.png")
        if (repo / "weights" / name / SAMPLES_FILE).is_file():
            _upscaled(repo / "weights" / name / SAMPLES_FILE, repo / SAMPLES_DIR / f"{name}.png")


PAPER_START, PAPER_END = "<!-- paper:start -->", "<!-- paper:end -->"
LIKELIHOOD_START, LIKELIHOOD_END = "<!-- likelihood:start -->", "<!-- likelihood:end -->"


ENTRIES_START, ENTRIES_END = "<!-- entries:start -->", "<!-- entries:end -->"


def entries_table(cards: List[Dict[str, Any]]) -> str:
    """The README's one table of every shipped entry: family, network, data, code size and its headline numbers
    (test SSIM beside PCA's; the NLL of a likelihood model; the fd of a generative one)."""
    lines = ["| entry | family | network | data | code | SSIM (PCA) | NLL | fd |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for card in cards:
        m, p = card["test"]["reconstruction"]["model"], card["test"]["reconstruction"]["pca"]
        nll = f"{card['likelihood']['nll']:.2f}" if "likelihood" in card else "-"
        fd = f"{card['sampling']['fd']:.2f}" if "sampling" in card else "-"
        network = card["network"]["type"] if isinstance(card.get("network"), dict) else "-"
        lines.append(f"| [`{card['name']}`](weights/{card['name']}/README.md) | `{card['family']}` | {network} | "
                     f"{card['dataset']} | {card['latent_dim']} | {m['ssim']:.4f} ({p['ssim']:.4f}) | {nll} | {fd} |")
    return "\n".join(lines)


GENERATED = ((ENTRIES_START, ENTRIES_END, entries_table), (RESULTS_START, RESULTS_END, results_table),
             (PAPER_START, PAPER_END, paper_table), (LIKELIHOOD_START, LIKELIHOOD_END, likelihood_table),
             (FAMILIES_START, FAMILIES_END, families_table))


def for_docs(text: str) -> str:
    """Links written from the repository's root (the README's) as a page under docs/ writes them."""
    def fix(match: "re.Match") -> str:
        target = match.group(1)
        if re.match(r"(https?:|#|mailto:)", target):
            return match.group(0)
        return f"]({target[5:] if target.startswith('docs/') else '../' + target})"

    return re.sub(r"\]\(([^)\s]+)\)", fix, text)


def refresh_readme(readme: Path, cards: List[Dict[str, Any]]) -> None:
    """Rewrite the generated parts a file holds (its links relative to docs/ for a page there), nothing else."""
    text = readme.read_text(encoding="utf-8")
    for first, last, table in GENERATED:
        if first in text:
            start, end = text.index(first) + len(first), text.index(last)
            made = table(cards)
            text = text[:start] + "\n" + (for_docs(made) if readme.parent.name == "docs" else made) + "\n" + text[end:]
    atomic_write_text(readme, text)


def refresh_docs(repo: Path, cards: List[Dict[str, Any]]) -> None:
    """The README's and the docs pages' generated parts, each where it is."""
    for path in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        refresh_readme(path, cards)
