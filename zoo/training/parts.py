"""The parts of a run that have state, and how any part's state becomes safetensors + JSON.

A part is anything with ``state_dict()`` and ``load_state_dict(state)`` (torch's own modules,
optimizers and schedulers, or zoo's :class:`Progress`, :class:`BestWeights`, :class:`RandomState`,
the early stopping, the data, a pretraining stage). The checkpoint saves a dict of named parts and knows
none of them by name (torchtitan's ``CheckpointManager`` over ``Stateful`` parts is the model): a new
part, say a discriminator's optimizer, is one more entry in that dict.

A state dict may nest dicts (of any JSON-able keys), lists and tuples of tensors, numbers, strings,
booleans and None. :func:`flatten` takes the tensors out under dotted names and leaves a JSON
skeleton that says where each one goes back, so no pickle is ever needed.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Protocol, Tuple, runtime_checkable

import torch

from . import distributed
from .distributed import Dist

Tensors = Dict[str, torch.Tensor]


@runtime_checkable
class Stateful(Protocol):
    """What the checkpoint asks of a part (the protocol of ``torch.distributed.checkpoint.stateful``)."""

    def state_dict(self) -> Dict[str, Any]: ...

    def load_state_dict(self, state: Dict[str, Any]) -> Any: ...


# ---------------------------------------------------------------------- state dicts as tensors + JSON
def flatten(state: Any, prefix: str) -> Tuple[Tensors, Any]:
    """(tensors named ``prefix.<path>``, a JSON skeleton) of a state dict; :func:`unflatten` inverts it."""
    tensors: Tensors = {}

    def encode(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[path] = value.detach()
            return {"@tensor": path}
        if isinstance(value, tuple):
            return {"@tuple": [encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("@") for k in value):
                return {k: encode(v, f"{path}.{k}") for k, v in value.items()}
            return {"@items": [[encode(k, f"{path}.@key{i}"), encode(v, f"{path}.{k}")]
                               for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, float) and not math.isfinite(value):
            return {"@float": repr(value)}  # JSON has no infinity or NaN
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"the state at {path} is a {type(value).__name__}; a state holds tensors, numbers, "
                        f"strings, booleans, None, lists, tuples and dicts")

    return tensors, encode(state, prefix)


def unflatten(tensors: Tensors, skeleton: Any) -> Any:
    """The state dict that :func:`flatten` took apart."""
    if isinstance(skeleton, list):
        return [unflatten(tensors, v) for v in skeleton]
    if isinstance(skeleton, dict):
        if "@tensor" in skeleton:
            return tensors[skeleton["@tensor"]]
        if "@tuple" in skeleton:
            return tuple(unflatten(tensors, v) for v in skeleton["@tuple"])
        if "@items" in skeleton:
            return {unflatten(tensors, k): unflatten(tensors, v) for k, v in skeleton["@items"]}
        if "@float" in skeleton:
            return float(skeleton["@float"])
        return {k: unflatten(tensors, v) for k, v in skeleton.items()}
    return skeleton


# ---------------------------------------------------------------------- zoo's own parts
class BestWeights:
    """The model weights of the best validation loss so far (None until the first epoch ends)."""

    def __init__(self, device: torch.device):
        self.device, self.weights = device, None

    def keep(self, model: torch.nn.Module) -> None:
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def state_dict(self) -> Dict[str, Any]:
        return {"weights": self.weights}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        weights = state["weights"]
        self.weights = {k: v.to(self.device) for k, v in weights.items()} if weights is not None else None


class RandomState:
    """torch's global generators (CPU, and CUDA on a CUDA device) and the run's own named generators.

    Under torchrun each rank draws its own numbers: ``state_dict`` gathers every rank's states (every
    rank must call it at the same step) and ``load_state_dict`` takes back this rank's.
    """

    def __init__(self, device: torch.device, dist: Dist, generators: Optional[Dict[str, torch.Generator]] = None):
        self.device, self.dist = device, dist
        self.generators = {k: g for k, g in (generators or {}).items() if g is not None}

    def _local(self) -> Tensors:
        states = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(self.device)
        states.update({name: g.get_state() for name, g in self.generators.items()})
        return states

    def state_dict(self) -> Dict[str, Any]:
        ranks: List[Tensors] = [{} for _ in range(self.dist.world_size)]
        for key, value in self._local().items():
            for rank, part in enumerate(distributed.all_gather(self.dist, value, self.device)):
                ranks[rank][key] = part
        return {"ranks": ranks}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        mine = state["ranks"][self.dist.rank]
        torch.set_rng_state(mine["cpu"])
        if self.device.type == "cuda" and "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"], self.device)
        for name, g in self.generators.items():
            g.set_state(mine[name])
