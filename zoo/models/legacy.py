"""Today's ``"architecture"`` form of an entry, read as the family form it stands for.

Before networks, an entry named an *architecture* (``"mlp"``, ``"vae"``, ...) whose kwargs mixed the code's
settings with the network's. Registry files of users and the headers of weights files written then still say
so; :func:`from_architecture` maps such an entry to ``family`` + ``network`` + ``kwargs``, and
:func:`renames` gives the tensors whose names moved (only the vae, iwae and vamp architectures' encoders:
``encoder.1.<i>`` to ``encoder.<i>``, ``encoder.2`` to the head after them), so those files load as they are.
A plugin's architecture (``zoo.register_model``) is a family of the same key without a network.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

# architecture: (family, network type, the kwargs that are the network's, their defaults then)
MLP_KEYS = {"hidden": [], "activation": "relu"}
ARCHITECTURES: Dict[str, Tuple[str, Optional[str], Dict[str, Any]]] = {
    "mlp": ("ae", "mlp", MLP_KEYS),
    "custom-mlp": ("custom-layer", "mlp", {"hidden": []}),
    "conv": ("ae", "conv", {"channels": [32, 64], "activation": "relu"}),
    "vae": ("vae", "mlp", MLP_KEYS),
    "iwae": ("iwae", "mlp", MLP_KEYS),
    "vamp": ("vamp", "mlp", MLP_KEYS),
    "wae": ("wae", "mlp", MLP_KEYS),
    "rae": ("rae", "mlp", MLP_KEYS),
    "aae": ("aae", "mlp", MLP_KEYS),
    "vq-vae": ("vq-vae", "resnet", {"channels": 64, "residual_layers": 2}),
}
VARIATIONAL = ("vae", "iwae", "vamp")


def is_legacy(data: Any) -> bool:
    return isinstance(data, dict) and "architecture" in data


def from_architecture(data: Dict[str, Any]) -> Dict[str, Any]:
    """An entry's JSON in the architecture form as the family form (other keys as they were). Keys the
    mapping does not know stay in ``kwargs``, where the family's config names them."""
    out = {k: v for k, v in data.items() if k != "architecture"}
    arch = data["architecture"]
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        out["family"] = arch  # a plugin's model (or a typo, which the family lookup names)
        return out
    family, network_type, network_keys = ARCHITECTURES[arch]
    kwargs = dict(data.get("kwargs", {})) if isinstance(data.get("kwargs"), dict) else data.get("kwargs")
    network: Dict[str, Any] = {"type": network_type}
    if isinstance(kwargs, dict):
        for key, default in network_keys.items():
            network[key] = kwargs.pop(key, default)
        if arch == "vq-vae":  # one width for both stride-2 convolutions
            width = network["channels"]
            network["channels"] = [width, width] if isinstance(width, int) and not isinstance(width, bool) else width
    out.update(family=family, network=network, kwargs=kwargs)
    return out


def renames(data: Any) -> Dict[str, str]:
    """Tensor names of a weights file written from the architecture-form entry ``data``, old to new; empty
    where nothing moved (every architecture but vae, iwae and vamp)."""
    if not is_legacy(data) or data.get("architecture") not in VARIATIONAL:
        return {}
    hidden = data.get("kwargs", {}).get("hidden", [])
    body = 2 * len(hidden) if isinstance(hidden, list) else 0  # Linear and activation per hidden layer
    pattern = re.compile(r"^encoder\.1\.(\d+)\.(.+)$")

    def new(name: str) -> str:
        match = pattern.match(name)
        if match:
            return f"encoder.{match.group(1)}.{match.group(2)}"
        if name.startswith("encoder.2."):
            return f"encoder.{body}.{name[len('encoder.2.'):]}"
        return name

    names = [f"encoder.1.{i}.{p}" for i in range(0, body, 2) for p in ("weight", "bias")]
    names += ["encoder.2.weight", "encoder.2.bias"]
    return {old: new(old) for old in names}


def rename(tensors: Dict[str, Any], mapping: Dict[str, str]) -> Dict[str, Any]:
    """``tensors`` under their new names (a name the map does not hold is kept)."""
    return {mapping.get(name, name): value for name, value in tensors.items()} if mapping else tensors


def old_names(family: str, network: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """The inverse of :func:`renames` for a family-form entry: new tensor names to those its architecture form
    wrote (to compare a training trajectory with one recorded before the change); empty where none moved."""
    if family not in VARIATIONAL or not isinstance(network, dict) or network.get("type") != "mlp":
        return {}
    hidden = network.get("hidden", [512, 256])
    return {new: old for old, new in renames({"architecture": family, "kwargs": {"hidden": hidden}}).items()}
