"""The package's shape: dependencies go one way (down the layers below), no import circle, no long file."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from zoo.paths import PACKAGE_DIR

# Lower layers never import higher ones; a module may import its own layer (the graph stays acyclic).
LAYERS = [
    ("zoo.version", "zoo.errors", "zoo.paths", "zoo.seeds", "zoo.io", "zoo.schema", "zoo.devices", "zoo.figures",
     "zoo.console", "zoo.threads"),
    ("zoo.networks",),
    ("zoo.models",),
    ("zoo.sources",),
    ("zoo.recipe", "zoo.stage_recipes"),
    ("zoo.entries", "zoo.registry"),
    ("zoo.data", "zoo.noise"),
    ("zoo.weights", "zoo.hf"),
    ("zoo.evaluation",),
    ("zoo.training",),
    ("zoo.reporting", "zoo.export", "zoo.hub", "zoo.sweeps"),
    ("zoo.cli", "zoo.cli_options", "zoo.cli_plot", "zoo.cli_sweep", "zoo.cli_sample", "zoo.__main__", "zoo.command",
     "zoo"),
]
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = ("zoo",) + path.relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def modules():
    return {module_name(p): p for p in PACKAGE_DIR.rglob("*.py") if "_data" not in p.parts}


def imports(name: str, path: Path):
    """The zoo modules ``name`` imports, at any depth of the file (function-level imports too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from . import checkpoint" names a module; "from .models import X" a name in zoo.models
            candidates = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            if c.split(".")[0] == "zoo":
                while c not in known and "." in c:
                    c = c.rsplit(".", 1)[0]
                if c in known and c != name:
                    found.add(c)
    return found


def layer(name: str) -> int:
    best = None
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if name == prefix or (prefix != "zoo" and name.startswith(prefix + ".")):
                best = i
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best


def test_no_import_goes_up_a_layer():
    upward = [f"{a} -> {b}" for a, p in modules().items() for b in imports(a, p) if layer(b) > layer(a)]
    assert not upward, upward


def test_the_import_graph_has_no_circle():
    graph = {a: imports(a, p) for a, p in modules().items()}
    done, active = set(), []

    def visit(node):
        if node in active:
            pytest.fail("import circle: " + " -> ".join(active[active.index(node):] + [node]))
        if node in done:
            return
        active.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        active.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_no_module_is_longer_than_a_sitting():
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert all(v <= MAX_LINES for v in long.values()), {n: v for n, v in long.items() if v > MAX_LINES}


def test_the_training_loop_reads_on_one_screen():
    assert len((PACKAGE_DIR / "training" / "loop.py").read_text().splitlines()) <= 150


def test_no_module_reads_another_objects_private_attributes():
    """``x._name`` only on ``self`` / ``cls`` (and torch's own ``torch._*``); no ``from m import _name``."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls", "torch")):
                    found.append(f"{name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.ImportFrom):
                found += [f"{name}:{node.lineno}: import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def test_the_epoch_driver_reads_on_one_screen():
    tree = ast.parse((PACKAGE_DIR / "training" / "loop.py").read_text())
    (drive,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "drive"]
    assert drive.end_lineno - drive.lineno + 1 <= 45


# what a family declares (zoo.models.capabilities): outside zoo/models nothing asks a model for it by name
CAPABILITY_NAMES = {"continuous_codes", "code_kind", "default_sampler", "sample_prior", "prior_loss", "features",
                    "decode_features", "trained_parameters", "posterior", "prior", "likelihood", "objective", "samplers",
                    "generative", "has_likelihood", "code_prior", "phases", "sigmoid_output", "decoder", "encoder"}


def test_no_module_outside_the_families_probes_a_model_for_a_capability():
    probes = []
    for name, path in modules().items():
        if name.startswith("zoo.models"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value in CAPABILITY_NAMES):
                probes.append(f"{name}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    assert not probes, probes
