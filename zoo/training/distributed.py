"""Training under ``torchrun``: DistributedDataParallel with gloo on CPU and NCCL on CUDA.

``torchrun`` starts one process per rank and tells each its place through the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...). Without those variables, or with a
world of one, zoo trains in one process exactly as before and none of this is used.

The rules every rank follows:

* rank 0 decides and writes: it reads the state to resume from, checks the flags against it, and
  alone writes state, weights, figures, TensorBoard events and progress. What it decided (an
  error, or the entry and state to go on with) is broadcast, so no rank needs to see the run
  folder: on several machines it lives only on the machine of rank 0.
* every collective call is made by every rank at the same point of the same code path, so a rank
  never waits for one that took another branch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from .. import errors
from ..errors import UsageError, option


@dataclass(frozen=True)
class Dist:
    """This process's place among the ranks (world_size 1: a plain single-process run)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Dist()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"The environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def from_env() -> Dist:
    """The place torchrun gave this process (SINGLE when not launched by torchrun)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise UsageError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return Dist(rank=rank, world_size=world, local_rank=local_rank)


def check_batch(batch_size: int, world_size: int) -> None:
    """Each rank takes batch / world size of every batch: refuse a batch that does not split evenly."""
    if batch_size % world_size:
        raise UsageError(
            f"The batch size {batch_size} does not split evenly over {world_size} processes; each rank takes "
            f"batch / world size, so choose a {option('--batch-size')} divisible by {world_size} or another number of processes"
        )


def stop_all(dist_: Dist, message: str) -> None:
    """Raise a TrainingError over a number every rank shares: every rank stops, rank 0 says why."""
    error = errors.TrainingError(message)
    error.from_main = not dist_.is_main
    raise error


def rank_device(dist_: Dist, device: torch.device) -> torch.device:
    """The device one rank trains on: its own GPU (``cuda:LOCAL_RANK``) or the CPU."""
    if not dist_.enabled:
        return device
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UsageError(
            f"Training under torchrun runs on CPU (gloo) or CUDA (NCCL), not {device.type}; use {option('--device')} cpu or cuda"
        )
    if device.index is not None:
        raise UsageError(
            f"Under torchrun each process takes the GPU numbered by its LOCAL_RANK; pass {option('--device')} cuda (or auto), "
            f"not {device}, and choose GPUs with CUDA_VISIBLE_DEVICES"
        )
    count = torch.cuda.device_count()
    if dist_.local_rank >= count:
        raise UsageError(
            f"LOCAL_RANK {dist_.local_rank} has no GPU: this machine has {count}; "
            f"use --nproc_per_node {count} or fewer"
        )
    return torch.device("cuda", dist_.local_rank)


def init(dist_: Dist, device: torch.device) -> bool:
    """Join the process group (unless one is already up); True when this call created it."""
    if not dist_.enabled:
        return False
    import torch.distributed as tdist

    if tdist.is_initialized():
        if tdist.get_world_size() != dist_.world_size or tdist.get_rank() != dist_.rank:
            raise UsageError("A process group is already initialised with another rank or world size than torchrun's")
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
        try:
            tdist.init_process_group("nccl", device_id=device)  # binds the communicator to this GPU
        except TypeError:  # torch < 2.3 has no device_id
            tdist.init_process_group("nccl")
    else:
        tdist.init_process_group("gloo")
    return True


def shutdown(created: bool, ok: Optional[bool]) -> None:
    """Leave the process group this process created.

    After a success every rank meets at a barrier first, so that none tears its connections down
    while another is still finishing its last collective. After an error that every rank raised
    (``ZooError``: a decision of rank 0, a non-finite loss seen by all) the group is destroyed
    without one. After any other error it is left alone: destroying a group while other ranks
    may still be inside a collective can hang, and torchrun stops the other ranks anyway.
    """
    if not created:
        return
    import torch.distributed as tdist

    if tdist.is_initialized() and ok is not None:
        if ok:
            tdist.barrier()
        tdist.destroy_process_group()


def shard(dist_: Dist, idx: torch.Tensor) -> Tuple[torch.Tensor, float]:
    """This rank's part of the global batch ``idx``, and the factor for its mean loss.

    DDP averages the ranks' gradients. Scaling rank r's mean loss by ``n_r * world / n`` makes that
    average the gradient of the global batch's mean loss even when the batch does not split
    evenly (the last one of an epoch). A rank left without images (a last batch smaller than the
    world) computes its loss on one image with factor 0, so that it still joins the all-reduce.
    """
    if not dist_.enabled:
        return idx, 1.0
    mine = torch.tensor_split(idx, dist_.world_size)[dist_.rank]
    if len(mine) == 0:
        return idx[:1], 0.0
    return mine, len(mine) * dist_.world_size / len(idx)


# ---------------------------------------------------------------------- collectives
# All of them are no-ops in a single process. ``device`` is the training device: NCCL moves only
# CUDA tensors, gloo only CPU ones, so every payload travels on the device the group was made for.

def all_reduce_sum(dist_: Dist, tensor: torch.Tensor) -> torch.Tensor:
    if dist_.enabled:
        import torch.distributed as tdist

        tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
    return tensor


def broadcast_tensor(dist_: Dist, tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor``, copied in place into the same-shaped tensor of every other rank."""
    if dist_.enabled:
        import torch.distributed as tdist

        tdist.broadcast(tensor, src=0)
    return tensor


def broadcast_json(dist_: Dist, value: Any, device: torch.device) -> Any:
    """Rank 0's ``value`` (anything JSON can hold) on every rank; other ranks pass None."""
    if not dist_.enabled:
        return value
    payload = json.dumps(value).encode() if dist_.is_main else b""
    size = broadcast_tensor(dist_, torch.tensor([len(payload)], dtype=torch.int64, device=device))
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if dist_.is_main:
        buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    broadcast_tensor(dist_, buffer)
    return json.loads(bytes(buffer.cpu().tolist()).decode()) if not dist_.is_main else value


def broadcast_tensors(dist_: Dist, tensors: Optional[Dict[str, torch.Tensor]], device: torch.device
                      ) -> Dict[str, torch.Tensor]:
    """Rank 0's dict of tensors (names, dtypes and shapes included) on every rank, on the CPU."""
    if not dist_.enabled:
        return tensors or {}
    layout = None
    if dist_.is_main:
        layout = [[k, str(v.dtype).removeprefix("torch."), list(v.shape)] for k, v in (tensors or {}).items()]
    layout = broadcast_json(dist_, layout, device)
    out = {}
    for name, dtype, shape in layout:
        if dist_.is_main:
            buffer = tensors[name].detach().to(device).contiguous()
        else:
            buffer = torch.empty(shape, dtype=getattr(torch, dtype), device=device)
        out[name] = broadcast_tensor(dist_, buffer).cpu()
    return tensors if dist_.is_main else out


def all_gather(dist_: Dist, tensor: torch.Tensor, device: torch.device) -> List[torch.Tensor]:
    """Every rank's ``tensor`` (same shape and dtype on all ranks), in rank order, on the CPU."""
    if not dist_.enabled:
        return [tensor]
    import torch.distributed as tdist

    local = tensor.to(device)
    parts = [torch.empty_like(local) for _ in range(dist_.world_size)]
    tdist.all_gather(parts, local)
    return [p.cpu() for p in parts]


# ---------------------------------------------------------------------- decisions
def decide_on_main(dist_: Dist, device: torch.device, decide) -> Tuple[Any, bool]:
    """Run ``decide()`` on rank 0 only and hand its result, or the error it raised, to every rank.

    ``decide`` returns ``(value, tensors)``: ``value`` is JSON, ``tensors`` a dict or None. A
    :class:`ZooError` raised on rank 0 is raised again on every other rank, marked ``from_main``
    so that only rank 0 prints it.
    """
    if not dist_.enabled:
        return decide()
    outcome, tensors = None, None
    if dist_.is_main:
        try:
            value, tensors = decide()
            outcome = {"value": value, "has_tensors": tensors is not None}
        except Exception as exc:  # the other ranks must hear of it, or they would wait for ever
            known = isinstance(exc, errors.ZooError)
            outcome = {"error": type(exc).__name__ if known else "ZooError",
                       "message": str(exc) if known else f"rank 0 failed: {type(exc).__name__}: {exc}"}
            broadcast_json(dist_, outcome, device)
            raise
    outcome = broadcast_json(dist_, outcome, device)
    if "error" in outcome:
        cls = getattr(errors, outcome["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, errors.ZooError)):
            cls = errors.ZooError
        exc = cls(outcome["message"])
        exc.from_main = True  # rank 0 has printed it already
        raise exc
    if outcome["has_tensors"]:
        tensors = broadcast_tensors(dist_, tensors, device)
    return outcome["value"], tensors
