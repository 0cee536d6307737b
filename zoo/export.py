"""Models that leave Python: ONNX (torch's exporter) and TorchScript, checked before they are written.

``export(model_or_name, path, format=, part=)`` exports the whole autoencoder, its encoder (images to
codes) or its decoder (codes to images) with a dynamic batch axis and named inputs and outputs. The
exported program is run on real test images (ONNX: onnx's reference evaluator, so no runtime
dependency; TorchScript: torch.jit) and compared with the torch model; a difference above
``tolerance`` (default 1e-5) refuses the export. The file is written atomically and carries the entry,
the weights' SHA-256 and the zoo version (ONNX ``metadata_props``, TorchScript ``_extra_files``).
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any, Dict, Union

import torch

from .data import load_dataset, to_float
from .errors import UsageError, ZooError, checked_call, first_line, shown
from .io import atomic_write_bytes, output_file
from .models import eval_mode
from .version import __version__
from .weights import load
from .weights import stored_sha256 as weights_sha256

FORMATS = ("onnx", "torchscript")
PARTS = ("full", "encoder", "decoder")
NAMES = {"full": ("images", "reconstructions"), "encoder": ("images", "codes"), "decoder": ("codes", "images")}
CHECK_IMAGES = 256
DEFAULT_TOLERANCE = 1e-5


class ExportError(ZooError):
    """An export that could not be made, or does not compute what the model computes."""


class Part(torch.nn.Module):
    """One part of an autoencoder as a module with a single input and output."""

    def __init__(self, model: torch.nn.Module, part: str):
        super().__init__()
        self.model, self.part = model, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.part == "encoder":
            return self.model.encode(x)
        if self.part == "decoder":
            return self.model.decode(x)
        return self.model(x)


def example_inputs(model: torch.nn.Module, part: str, n: int = CHECK_IMAGES) -> torch.Tensor:
    """Real test images of the model's data set (or, for a decoder, their codes)."""
    images = to_float(load_dataset(model.entry.dataset, "test").images[:n])
    if part == "decoder":
        with eval_mode(model):
            return model.encode(images)
    return images


@checked_call
def export(model: Union[str, Path, torch.nn.Module], path: Union[str, Path], *, format: str = "onnx",
           part: str = "full", tolerance: float = DEFAULT_TOLERANCE, force: bool = False) -> Dict[str, Any]:
    """Export ``model`` (a name, a run folder, a weights file, or a model from ``zoo.load``) to ``path``.

    ``force``: overwrite a file that exists (refused otherwise: it may be a run's weights). A model passed
    in keeps its mode (training or eval) and its device. Returns ``{"path", "format", "part",
    "max_abs_diff", "images"}``; raises a ZooError (one line) for an unknown format or part, a model that
    is not deterministic (a VAE sampling in training mode), an export that differs from torch by more
    than ``tolerance``, or a path that cannot or may not be written.
    """
    if format not in FORMATS:
        raise UsageError(f"Unknown export format {format!r}: use {' or '.join(FORMATS)}")
    if part not in PARTS:
        raise UsageError(f"Unknown part {part!r}: use {', '.join(PARTS)}")
    if not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise UsageError(f"tolerance must be a number >= 0, got {tolerance!r}")
    path = output_file(path, force)
    if not isinstance(model, torch.nn.Module):
        return _export(load(model, device="cpu"), path, format, part, tolerance)
    was_training, device = model.training, next(model.parameters(), torch.empty(0)).device
    try:
        return _export(model.to("cpu"), path, format, part, tolerance)
    finally:  # the caller's model as it was
        model.to(device).train(was_training)


def _export(model: torch.nn.Module, path: Path, format: str, part: str, tolerance: float) -> Dict[str, Any]:
    module = Part(model, part).eval()
    x = example_inputs(model, part)
    with torch.no_grad():
        expected, again = module(x), module(x)
    if not torch.equal(expected, again):
        raise ExportError(f"{model.entry.name or 'the model'}'s {part} is not deterministic (sampling?); only a fixed "
                          f"computation can be exported (a VAE exports its posterior mean)")
    metadata = {"zoo.entry": model.entry.to_json(), "zoo.name": model.entry.name, "zoo.version": __version__,
                "zoo.part": part, "zoo.weights_sha256": weights_sha256(model),
                "zoo.image_shape": json.dumps(list(model.image_shape))}
    data = _onnx(module, x, metadata) if format == "onnx" else _torchscript(module, x, metadata)
    got = _run_onnx(data, x) if format == "onnx" else _run_torchscript(data, x)
    diff = float((got.double() - expected.double()).abs().max())
    if not diff <= tolerance:
        raise ExportError(f"the {format} export of {model.entry.name}'s {part} differs from torch by {diff:.3g} on "
                          f"{len(x)} test images, above the tolerance {tolerance:g}; nothing was written")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(f"Cannot write {shown(path)}: {exc.strerror or exc}") from None
    return {"path": str(path), "format": format, "part": part, "max_abs_diff": diff, "images": len(x)}


def _onnx(module: Part, x: torch.Tensor, metadata: Dict[str, str]) -> bytes:
    try:
        import onnx
    except ImportError:
        raise UsageError("ONNX export needs the onnx package: pip install 'zoo[export]'") from None
    inp, out = NAMES[module.part]
    buffer = io.BytesIO()
    common = dict(input_names=[inp], output_names=[out], dynamic_axes={inp: {0: "batch"}, out: {0: "batch"}},
                  opset_version=17)
    try:
        with warnings.catch_warnings():  # torch >= 2.9 calls this exporter deprecated; it is the fast one
            warnings.simplefilter("ignore", DeprecationWarning)
            try:  # the TorchScript-based exporter: a plain graph in 0.1 s (the dynamo one takes seconds)
                torch.onnx.export(module, (x[:2],), buffer, dynamo=False, **common)
            except TypeError:  # torch < 2.5 has no dynamo argument (and only that exporter)
                torch.onnx.export(module, (x[:2],), buffer, **common)
        proto = onnx.load_from_string(buffer.getvalue())
    except Exception as first:
        try:  # a torch without the old exporter: torch.export's
            program = torch.onnx.export(module, (x[:2],), dynamo=True, input_names=[inp], output_names=[out],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
            proto = program.model_proto
        except Exception:
            raise ExportError(f"torch could not export {module.model.entry.name} to ONNX: {first_line(first)}") from None
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


def _run_onnx(data: bytes, x: torch.Tensor) -> torch.Tensor:
    """The ONNX program's output: by onnxruntime where it is installed, else onnx's reference evaluator
    (pure Python: no runtime dependency, slow on convolutions)."""
    import onnx

    name = onnx.load_from_string(data).graph.input[0].name
    try:
        import onnxruntime
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return torch.from_numpy(ReferenceEvaluator(onnx.load_from_string(data)).run(None, {name: x.numpy()})[0])
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def _torchscript(module: Part, x: torch.Tensor, metadata: Dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():  # torch >= 2.10 says TorchScript is deprecated; it still runs everywhere
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, (x[:2],), check_trace=False)
            torch.jit.save(traced, buffer, _extra_files={"zoo.json": json.dumps(metadata)})
    except Exception as exc:
        raise ExportError(f"torch.jit.trace could not trace {module.model.entry.name}: {first_line(exc)}") from None
    return buffer.getvalue()


def _run_torchscript(data: bytes, x: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        return loaded(x)

