"""Models as Hugging Face Hub repositories: ``zoo export --format hf`` and ``zoo push``.

A repository holds zoo's own weights file (``model.safetensors``, byte for byte: its header carries the
entry and the checksums; a shipped entry's ``card.json`` beside it), ``config.json`` (the entry, by which the model is rebuilt), the figures beside
the weights, and a ``README.md`` model card whose YAML front matter has ``library_name: zoo``, tags, the
data set, the license and a ``model-index`` of the test metrics. ``zoo.load("hf://OWNER/NAME")`` reads
it back (:mod:`zoo.hf`).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from . import hf
from .errors import UsageError, checked_call, option, shown
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .reporting.cards import SAMPLES_FILE, SHIPPED_FILES
from .version import __version__
from .weights import CARD_FILE, WEIGHTS_FILE, load, read_metadata

FIGURES = tuple(f for f in (*SHIPPED_FILES, SAMPLES_FILE) if f != WEIGHTS_FILE)
LICENSE = "mit"  # zoo's, and so its weights' (pyproject.toml)
HF_DATASETS = {"mnist": "ylecun/mnist", "fashion-mnist": "zalando-datasets/fashion_mnist", "mnist-binary": "ylecun/mnist"}
LABELS = {"mse": "MSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "bce": "BCE", "nll": "NLL (nats)"}


def _metrics(target: str, weights: Path) -> Dict[str, float]:
    """Test metrics: the shipped card's (registry names), else measured now by zoo eval on the full test split."""
    card = weights.parent / CARD_FILE
    if card.is_file():
        data = json.loads(card.read_text())
        found = dict(data["test"]["reconstruction"]["model"])
        if "likelihood" in data:
            found["nll"] = data["likelihood"]["nll"]
        return found
    from .evaluation import ALL_METRICS, eval_rows

    row = eval_rows(target, metrics=ALL_METRICS, baseline=False)[0]
    return {m: row[m] for m in ALL_METRICS}


def card_text(name: str, entry: Dict[str, Any], metrics: Dict[str, float], figures: List[str], repo: str) -> str:
    """README.md with the Hub's front matter (built by huggingface_hub, so the Hub parses it)."""
    h = hf.hub()
    dataset = entry["dataset"]
    network = entry["network"].get("type") if isinstance(entry.get("network"), dict) else None
    results = [h.EvalResult(task_type="image-to-image", task_name="reconstruction", dataset_type=HF_DATASETS.get(dataset, dataset),
                            dataset_name=dataset, dataset_split="test", metric_type=metric, metric_name=label,
                            metric_value=round(float(metrics[metric]), 6))
               for metric, label in LABELS.items() if metric in metrics]
    data = h.ModelCardData(library_name="zoo", license=LICENSE, model_name=name, eval_results=results,
                           datasets=[HF_DATASETS[dataset]] if dataset in HF_DATASETS else None,
                           tags=["autoencoder", "pytorch", "zoo", entry["family"],
                                 *([network] if network else []), dataset])
    lines = [f"# {name}", "", entry["description"], "",
             f"A zoo model (an autoencoder for PyTorch): `{entry['family']}` {json.dumps(entry.get('kwargs', {}))} on network "
             f"{json.dumps(entry.get('network'))}, "
             f"trained on {dataset} by the recipe in `config.json`.", "",
             "```python", "import zoo", f'model = zoo.load("hf://{repo}")', "```", "",
             "| metric (test split) | value |", "| --- | ---: |"]
    lines += [f"| {label} | {metrics[metric]:.6g} |" for metric, label in LABELS.items() if metric in metrics]
    lines += [""] + [f"![{f[:-4]}]({f})\n" for f in figures]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


@checked_call
def export_hf(target: Union[str, Path], out: Union[str, Path], *, force: bool = False, repo: str = "OWNER/NAME") -> Path:
    """Write ``target`` (a registry name, run folder or weights file) as a Hub repository folder ``out``
    (``repo``: the repository it is for, named in the card's example)."""
    hf.hub()  # huggingface_hub is there, before anything is written
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UsageError(f"{shown(out)} exists; choose another {option('--out')} or pass {option('--force', 'force=True')}")
    model = load(target, device="cpu")  # checks the file: checksums, family, network
    weights = Path(model.weights_file)
    meta = read_metadata(weights)
    entry = model.entry.to_dict()  # the family form, also for a file written in the architecture form
    name = meta.get("zoo.name") or weights.parent.name
    figures = [f for f in FIGURES if (weights.parent / f).is_file()]
    extra = [CARD_FILE] if (weights.parent / CARD_FILE).is_file() else []  # a shipped entry's measured card
    card = card_text(name, entry, _metrics(str(target), weights), figures, repo)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / WEIGHTS_FILE, weights.read_bytes())
    for file in (*figures, *extra):
        atomic_write_bytes(out / file, (weights.parent / file).read_bytes())
    atomic_write_json(out / "config.json", {"library_name": "zoo", "zoo_version": __version__, "name": name,
                                            "weights": WEIGHTS_FILE, "entry": entry})
    atomic_write_text(out / "README.md", card)
    return out


@checked_call
def push(target: Union[str, Path], repo: str, *, private: bool = False, token: Optional[str] = None) -> str:
    """Export ``target`` and upload it to the Hub repository ``repo`` (created if need be); its URL."""
    hf.check_repo_id(repo)
    h = hf.hub()
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_hf(target, Path(tmp) / "repo", repo=repo)
        try:
            api = h.HfApi(token=token)
            url = api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
            api.upload_folder(repo_id=repo, folder_path=folder, repo_type="model",
                              commit_message=f"zoo push {Path(str(target)).name}")
        except Exception as exc:  # offline, no token, no right to the repository
            raise hf.HubError(f"could not push to {repo} on the Hugging Face Hub: {hf.reason(exc)}; nothing was "
                              f"pushed") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return str(url)
