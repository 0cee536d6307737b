"""``zoo report``: the zoo as one static page that opens from disk (file://), with no server and no
network request: images are inlined as data URIs, the data as JSON, the script is plain JavaScript
in the page (no library: sorting a table, drawing on a canvas and a few matrix products need none).

Per model: the facts and recipe, originals above reconstructions (upscaled without blur), denoising
triplets, VAE samples, the loss curves, a latent scatter coloured by label whose points show their
test image on hover, an interpolation strip, and for a 2-d code a latent explorer that decodes the
point under the pointer in the page (the decoder's weights exported to the page).
"""
from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..data import dataset_info, load_dataset, to_float
from ..errors import UsageError, WeightsError, option, shown
from ..evaluation.measured import weights_file
from ..evaluation.results import compare_rows, sort_rows
from ..evaluation.sampling import generative
from ..figures import reconstruction_grid
from ..io import atomic_write_text
from ..models import eval_mode
from ..models.capabilities import dense_decoder
from ..registry import NAME_RE, list_models, load_registry
from ..seeds import derive_seed
from ..training.outputs import TrainingFacts
from ..weights import WEIGHTS_FILE, has_weights, load, read_metadata
from .model_figures import interpolation_grid, latent_points, samples_grid

LOGGER = logging.getLogger("zoo")
TEMPLATE = Path(__file__).with_name("report.html")
SCATTER_POINTS = 400  # test images per latent scatter (their pixels ride along for the hover)
SCALE = 3  # nearest-neighbour upscaling of image grids
ACTIVATIONS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "Tanh": "tanh", "Sigmoid": "sigmoid",
               "SiLU": "silu", "GELU": "gelu"}


def png_uri(grid: torch.Tensor, scale: int = SCALE) -> str:
    """A (C, H, W) grid in [0, 1] as a PNG data URI, upscaled by ``scale`` without blur."""
    from torchvision.utils import save_image

    big = torch.nn.functional.interpolate(grid.unsqueeze(0).float(), scale_factor=scale, mode="nearest")[0]
    buffer = io.BytesIO()
    save_image(big, buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def file_uri(path: Path) -> Optional[str]:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if path.is_file() else None


def decoder_layers(model: torch.nn.Module) -> Optional[List[Dict[str, Any]]]:
    """The decoder as [{"w": rows, "b": ..., "act": name}] when it is Linear layers and activations
    (what the page can compute), else None."""
    dense = dense_decoder(model)
    if dense is None:
        return None
    layers: List[Dict[str, Any]] = []
    for module, act in dense:
        w, b = module.weight.detach().double(), module.bias.detach().double()
        layers.append({"w": _b64(w), "b": _b64(b), "in": w.shape[1], "out": w.shape[0], "act": act})
    return layers


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.float().contiguous().numpy().tobytes()).decode()


@torch.no_grad()
def model_section(target: str, row: Dict[str, Any]) -> Dict[str, Any]:
    model = load(target, device="cpu")
    entry, path = model.entry, weights_file(target)
    info = dataset_info(entry.dataset)
    test = load_dataset(entry.dataset, "test")
    x = to_float(test.images[:16])
    x = x[: len(x) - len(x) % min(8, len(x))]
    scale = max(SCALE, 84 // max(x.shape[-2:]))  # 8x8 digits as large as 28x28 ones
    section: Dict[str, Any] = {
        "id": re.sub(r"[^a-z0-9]+", "-", Path(str(target)).name.lower()).strip("-") or "model",
        "name": str(target), "description": entry.description, "dataset": entry.dataset,
        "family": entry.family, "network": entry.network, "kwargs": entry.kwargs, "recipe": _recipe(entry),
        "training": TrainingFacts.from_header(read_metadata(path)), "row": row,
    }
    with eval_mode(model):
        section["reconstructions"] = png_uri(reconstruction_grid([x, model(x)], nrow=min(8, len(x))), scale)
        if entry.recipe.noise is not None:
            from ..noise import corrupt

            g = torch.Generator().manual_seed(derive_seed(entry.recipe.seed, "report"))
            noisy = corrupt(x, entry.recipe.noise.hardest(), g)
            section["denoising"] = png_uri(reconstruction_grid([x, noisy, model(noisy)], nrow=min(8, len(x))), scale)
        if generative(model):  # by its default sampler: a shipped RAE's mixture is read, never fitted here
            section["samples"] = png_uri(samples_grid(model, n=32, seed=0), scale)
        section["interpolation"] = png_uri(interpolation_grid(model, start=0, end=1, steps=10), scale)
        section["scatter"] = _scatter(model, test, info)
        section["explorer"] = _explorer(model) if model.latent_dim == 2 else None
    section["losses"] = file_uri(path.parent / "losses.png")
    return section


def _recipe(entry) -> Dict[str, Any]:
    from ..schema import to_dict

    return {k: v for k, v in to_dict(entry.recipe).items() if k != "notes" and v not in (None, {}, [])}


def _scatter(model: torch.nn.Module, test, info) -> Dict[str, Any]:
    n = min(SCATTER_POINTS, len(test.images))
    images = test.images[:n]
    codes, how = latent_points(model, images)
    labels = test.labels[:n].tolist() if test.labels is not None else [0] * n
    pixels = images if images.dim() == 4 else images.unsqueeze(1)
    return {"x": codes[:, 0].tolist(), "y": codes[:, 1].tolist(), "label": labels, "how": how,
            "classes": list(info.classes or ("images",)), "shape": list(pixels.shape[1:]),
            "pixels": base64.b64encode(pixels.contiguous().numpy().tobytes()).decode()}


def _explorer(model: torch.nn.Module) -> Optional[Dict[str, Any]]:
    layers = decoder_layers(model)
    if layers is None:
        return None
    return {"layers": layers, "shape": list(model.image_shape)}


def script_json(value: Any) -> str:
    """``value`` as JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` at all (each as its
    ``\\u`` escape, which JSON reads back the same), so no text of a user's (an entry's description, a
    class folder's name) can close the script or open an HTML comment (``</script>``, ``<!--``)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_report(targets: Sequence[str], out: Path, *, force: bool = False,
                 progress: Optional[Callable[[str], None]] = None) -> Path:
    """Write ``out/index.html`` for ``targets`` (default: every registry entry with weights); ``progress``,
    when given, is called with a line per model (``report: i/n NAME ...``) as it starts, as its row is read or
    measured (zoo.evaluation.measured: a shipped card, the cache, or measured now) and as its section is drawn.

    The page is rewritten after each model, marked incomplete until the last: an interrupted report leaves a
    page of the models done. Over an existing page (``force``) the new one grows as ``index.partial.html`` and
    replaces ``index.html`` when complete."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UsageError(f"{shown(out)} exists; choose another {option('--out')} or pass "
                         f"{option('--force', 'force=True')} to overwrite its index.html")
    names = list(targets) or [n for n in list_models() if has_weights(n)]
    usable = []
    for target in names:
        if NAME_RE.match(str(target)) and not Path(target).exists():
            load_registry().get(target)  # an unknown name: did you mean...
        if target not in list_models() and not weights_file(target).is_file():
            if Path(target).is_dir():
                LOGGER.warning(f"{shown(target)} holds no {WEIGHTS_FILE}; left out of the report")
                continue
            raise WeightsError(f"{shown(target)} is neither a registry model nor a run folder or weights file")
        usable.append(target)
    if not usable:
        raise UsageError("Nothing to report: no model with weights among the names given")
    out.mkdir(parents=True, exist_ok=True)
    # the page is written as each model is done: over a page that exists (--force) as index.partial.html,
    # which replaces it only when complete, so that an interrupted report never costs the earlier one
    partial = out / ("index.partial.html" if (out / "index.html").exists() else "index.html")
    rows: Dict[str, Dict[str, Any]] = {}
    sections: List[Dict[str, Any]] = []
    for number, row in enumerate(compare_rows(usable, device="cpu", progress=progress, label="report"), 1):
        started = time.perf_counter()
        target = usable[number - 1]
        rows[str(target)] = row
        sections.append(model_section(target, row))
        _write_page(partial, sections, rows, len(usable))  # an interrupted report leaves the models done so far
        if progress is not None:
            progress(f"report: {number}/{len(usable)} {target} drawn in {time.perf_counter() - started:.1f} s")
    if partial.name != "index.html":
        os.replace(partial, out / "index.html")
    return out / "index.html"


def _write_page(path: Path, sections: List[Dict[str, Any]], rows: Dict[str, Dict[str, Any]], total: int) -> None:
    """The page with the sections so far, the table best first by SSIM, and whether models are missing."""
    order = [str(r["name"]) for r in sort_rows(list(rows.values()), "ssim")]
    page = TEMPLATE.read_text(encoding="utf-8").replace("__ZOO_DATA__", script_json(
        {"models": sections, "order": order, "complete": len(sections) == total, "total": total}))
    atomic_write_text(path, page)
