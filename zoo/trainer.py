"""One Trainer for every registry entry, on CPU or GPU.

Nothing here knows about a particular model: the model's ``loss`` gives the objective (the VAE's
KL term included), the recipe gives optimizer, schedule, early stopping and input corruption.

Speed by design: each split lives on the training device as a uint8 tensor, batches are gathered
with a seeded permutation and turned into floats on the device, and losses stay on the device until
they are read every ``log_every`` steps (no host sync per step).

Exact resume: the state written every ``checkpoint_every`` steps and at every epoch end holds the
model, the optimizer and scheduler, the best weights, the early-stopping counters, the position
(epoch, step within it) and the RNG states; the data order of an epoch is a pure function of the
seed and the epoch. On CPU a resumed run ends with the same tensors, bit for bit, as one never
interrupted.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from . import __version__, distributed
from .data import checksums, load_dataset, to_float
from .devices import resolve_device
from .distributed import SINGLE, Dist
from .early_stopping import EarlyStopping
from .errors import TrainingError
from .figures import loss_figure, reconstruction_grid, save_figure, save_grid
from .io import atomic_write_json
from .models import eval_mode
from .noise import corrupt
from .registry import Entry
from .seeds import derive_seed
from .state import flatten_optimizer, save_state, unflatten_optimizer
from .weights import WEIGHTS_FILE, save_weights

EVAL_BATCH = 1000  # images per forward pass when evaluating (no gradients, so larger than training)
PREVIEW = 16  # test images shown in reconstructions.png and TensorBoard


class LossStep(torch.nn.Module):
    """The training objective as one module call, which is what DistributedDataParallel wraps."""

    def __init__(self, model: torch.nn.Module, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.loss(inputs, target, kind=self.kind).loss


class _NoWriter:
    """Stands in for TensorBoard's SummaryWriter on the ranks that write nothing."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    add_image = add_scalar

    def close(self) -> None:
        pass


def make_optimizer(recipe, params, *, fused: bool = True) -> torch.optim.Optimizer:
    """The recipe's optimizer; ``fused`` takes torch's fused kernel (one per step for all the
    parameters) where this torch and device have one, else torch's default implementation
    (fashion-64 on the 2-core CPU: +16% samples/s fused; BENCHMARKS.md)."""
    params = list(params)
    kw = dict(recipe.optimizer_kwargs)
    if recipe.optimizer == "sgd":
        cls = torch.optim.SGD
    else:
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        cls = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
    if fused:
        try:
            return cls(params, lr=recipe.lr, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device or torch version
            pass
    return cls(params, lr=recipe.lr, **kw)


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    return "fused" if optimizer.defaults.get("fused") else "default"


def make_scheduler(recipe, optimizer, steps_per_epoch: int):
    """(scheduler, steps per call): cosine is stepped every batch, step decay every epoch."""
    if recipe.scheduler is None:
        return None, False
    if recipe.scheduler.type == "cosine":
        total = recipe.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    s = recipe.scheduler
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma), False


class Trainer:
    """Train ``entry`` (its recipe already carrying any overrides) into the run folder ``out``."""

    def __init__(
        self,
        entry: Entry,
        *,
        out: Path,
        device: str = "auto",
        checkpoint_every: int = 0,
        limit_batches: Optional[int] = None,
        log_every: int = 50,
        quiet: bool = False,
        log: Optional[Callable[[str], None]] = None,
        dist: Dist = SINGLE,
        amp: bool = False,
        compile: bool = False,
    ):
        self.entry, self.recipe = entry, entry.recipe
        self.run_dir = Path(out)
        self.device = resolve_device(device)
        self.dist = dist  # under torchrun: this rank's place; rank 0 alone logs and writes
        distributed.check_batch(self.recipe.batch_size, dist.world_size)
        self.checkpoint_every = checkpoint_every  # 0: only at epoch ends
        self.limit_batches = limit_batches  # cut every epoch (and evaluation) short: for smoke tests
        self.log_every = log_every
        self.quiet = quiet or not dist.is_main
        self.log = log or (lambda message: print(message, flush=True))
        self.amp = amp  # bf16 autocast for the training forward pass (evaluation stays float32)
        self.compile = compile  # torch.compile the training step (forward and backward)

        self._load_data()
        torch.manual_seed(self.recipe.seed)  # the initial weights depend on the seed alone
        self.model = entry.build().to(self.device).train()
        self.step_module: torch.nn.Module = LossStep(self.model, self.recipe.loss)
        if dist.enabled:  # each rank its own stream of random numbers (a VAE's sampling)
            torch.manual_seed(derive_seed(self.recipe.seed, "rank", dist.rank, dist.world_size))
        self.optimizer = make_optimizer(self.recipe, self.model.parameters())
        self.scheduler, self.per_step_schedule = make_scheduler(self.recipe, self.optimizer, self.steps_per_epoch)
        es = self.recipe.early_stopping
        self.stopper = EarlyStopping(es.patience, es.min_delta)
        self.noise_gen = None
        if self.recipe.noise is not None:
            parts = ("noise", dist.rank, dist.world_size) if dist.enabled else ("noise",)
            self.noise_gen = torch.Generator(device=self.device).manual_seed(derive_seed(self.recipe.seed, *parts))
        # position and running totals, all saved in the state
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0
        self.global_step = 0
        self.epoch_loss_sum, self.epoch_samples, self.epoch_seconds = 0.0, 0, 0.0
        self.train_seconds = 0.0
        self.history: List[Dict[str, float]] = []
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.stop_reason: Optional[str] = None
        self.writer = None

    # ------------------------------------------------------------------ data
    def _load_data(self) -> None:
        ds, bs = self.entry.dataset, self.recipe.batch_size
        self.fit_images = load_dataset(ds, "fit").images.to(self.device)
        n_steps = math.ceil(len(self.fit_images) / bs)
        self.steps_per_epoch = min(n_steps, self.limit_batches) if self.limit_batches else n_steps
        eval_limit = self.limit_batches * bs if self.limit_batches else None
        self.val_images = load_dataset(ds, "val").images[:eval_limit].to(self.device)
        self.test_images = load_dataset(ds, "test").images[:eval_limit].to(self.device)
        self.preview = to_float(self.test_images[:PREVIEW])

    def wrap_step(self) -> None:
        """DDP around the training step under torchrun, then torch.compile when asked for."""
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.step_module, device_ids=ids)
        if self.compile:
            self.step_module = torch.compile(self.step_module)

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The permutation of the fit split used in ``epoch`` (a function of seed and epoch only)."""
        g = torch.Generator().manual_seed(derive_seed(self.recipe.seed, "order", epoch))
        return torch.randperm(len(self.fit_images), generator=g).to(self.device)

    def _inputs(self, target: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        noise = self.recipe.noise
        return target if noise is None else corrupt(target, noise, generator)

    # ------------------------------------------------------------------ loop
    def fit(self, state: Optional[Tuple[Dict[str, torch.Tensor], Dict[str, Any]]] = None) -> Dict[str, Any]:
        """Train until the recipe's epochs run out or early stopping fires; returns the summary."""
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if state is not None:
            if self.dist.is_main:
                for leftover in self.run_dir.glob(".*.tmp"):  # from a write that a kill cut short
                    leftover.unlink(missing_ok=True)
            self._restore(*state)
            self.log_line(f"resuming {self.entry.name} at epoch {self.epoch + 1}, step {self.step_in_epoch}")
        else:
            self.save_state()  # a kill before the first checkpoint still leaves something to resume
        self.wrap_step()  # after the restore: every rank starts from the same weights
        if self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.global_step or None)
        else:
            self.writer = _NoWriter()
        try:
            while self.stop_reason is None:
                self._train_epoch()
                self._end_epoch()
        finally:
            self.writer.close()
        return self._finish()

    def _train_epoch(self) -> None:
        from tqdm.auto import tqdm

        order, bs = self.epoch_order(self.epoch), self.recipe.batch_size
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=self.step_in_epoch,
            desc=f"{self.entry.name} epoch {self.epoch + 1}/{self.recipe.epochs}",
            disable=self.quiet or not sys.stderr.isatty(),
            leave=False,
            unit="batch",
        )
        pending: List[torch.Tensor] = []
        started, sizes = time.perf_counter(), []
        for i in range(self.step_in_epoch, self.steps_per_epoch):
            idx = order[i * bs : (i + 1) * bs]  # the global batch; _step takes this rank's share
            pending.append(self._step(idx))
            sizes.append(len(idx))
            self.step_in_epoch, self.global_step = i + 1, self.global_step + 1
            checkpoint = self.checkpoint_every and self.global_step % self.checkpoint_every == 0
            if len(pending) >= self.log_every or checkpoint or i + 1 == self.steps_per_epoch:
                now = time.perf_counter()
                self.epoch_seconds += now - started
                self._flush(pending, sizes, now - started, bar)
                pending, sizes, started = [], [], time.perf_counter()
            if checkpoint and i + 1 < self.steps_per_epoch:  # epoch ends save their own state
                self.save_state()
        bar.close()

    def _step(self, idx: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the global batch ``idx``; returns this rank's (scaled) loss."""
        idx, scale = distributed.shard(self.dist, idx)
        target = to_float(self.fit_images[idx])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss = self.step_module(self._inputs(target, self.noise_gen), target)
        if scale != 1.0:
            loss = loss * scale
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.per_step_schedule:
            self.scheduler.step()
        return loss.detach()

    def _flush(self, pending: List[torch.Tensor], sizes: List[int], seconds: float, bar) -> None:
        """Read the pending losses (one host sync), refuse non-finite ones, log them.

        Under torchrun the ranks' losses are averaged first (one all-reduce per flush), so every
        rank sees the global batch's loss and all of them stop together on a non-finite one."""
        losses = torch.stack(pending).double()
        if self.dist.enabled:
            losses = distributed.all_reduce_sum(self.dist, losses) / self.dist.world_size
        losses = losses.cpu()
        first = self.global_step - len(pending) + 1
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = first + int(bad[0])
            self._stop(
                f"{self.entry.name}: the loss became {losses[int(bad[0])].item()} at step {step} "
                f"(epoch {self.epoch + 1}); stopped. The last good state in {self.run_dir} is intact: "
                f"resume with --resume, or start again with a lower --lr"
            )
        weights = torch.tensor(sizes, dtype=torch.float64)
        self.epoch_loss_sum += float((losses * weights).sum())
        self.epoch_samples += sum(sizes)
        for j, value in enumerate(losses.tolist()):
            self.writer.add_scalar("loss/train_step", value, first + j)
        bar.update(len(pending))
        bar.set_postfix(loss=f"{losses[-1].item():.5f}", samples_s=f"{sum(sizes) / max(seconds, 1e-9):,.0f}")

    def _stop(self, message: str) -> None:
        """Raise a TrainingError for a number every rank shares: every rank stops, rank 0 says why."""
        error = TrainingError(message)
        error.from_main = not self.dist.is_main
        raise error

    def evaluate_loss(self, images: torch.Tensor, purpose: str) -> float:
        """Mean loss over ``images`` in eval mode; corruption (if any) is fixed by seed and purpose."""
        g = None
        if self.recipe.noise is not None:
            g = torch.Generator(device=self.device).manual_seed(derive_seed(self.recipe.seed, purpose))
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with eval_mode(self.model):
            for start in range(0, len(images), EVAL_BATCH):
                target = to_float(images[start : start + EVAL_BATCH])
                loss = self.model.loss(self._inputs(target, g), target, kind=self.recipe.loss).loss
                total += loss.double() * len(target)
        return float(total) / len(images)

    def _test_mse(self) -> float:
        from .evaluation import score

        with eval_mode(self.model):
            return score(self.model, self.test_images, ("mse",), device=self.device)["mse"]

    def _end_epoch(self) -> None:
        val_loss = self.evaluate_loss(self.val_images, "val")
        if self.dist.enabled:  # the ranks hold the same weights; rank 0's number decides for all
            val_loss = float(distributed.broadcast_tensor(
                self.dist, torch.tensor([val_loss], dtype=torch.float64, device=self.device)))
        if not math.isfinite(val_loss):
            self._stop(f"{self.entry.name}: the validation loss became {val_loss} in epoch {self.epoch + 1}; stopped")
        epoch = self.epoch + 1
        improved = self.stopper.step(val_loss, epoch)
        if improved:
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        record = {
            "epoch": epoch,
            "train_loss": self.epoch_loss_sum / max(self.epoch_samples, 1),
            "val_loss": val_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": self.epoch_seconds,
            "samples_per_s": self.epoch_samples / max(self.epoch_seconds, 1e-9),
        }
        self.history.append(record)
        self.train_seconds += self.epoch_seconds
        self.writer.add_scalar("loss/train", record["train_loss"], epoch)
        self.writer.add_scalar("loss/val", val_loss, epoch)
        self.writer.add_scalar("lr", record["lr"], epoch)
        if self.dist.is_main:
            self.writer.add_image("reconstructions", self._preview_grid(), epoch)
        self.log_line(
            f"epoch {epoch:>3}/{self.recipe.epochs}  train {record['train_loss']:.6f}  val {val_loss:.6f}"
            f"{'  *best' if improved else ''}  {record['seconds']:.1f}s  {record['samples_per_s']:,.0f} samples/s"
        )
        if self.scheduler is not None and not self.per_step_schedule:
            self.scheduler.step()
        self.epoch, self.step_in_epoch = epoch, 0
        self.epoch_loss_sum, self.epoch_samples, self.epoch_seconds = 0.0, 0, 0.0
        if self.stopper.should_stop:
            self.stop_reason = (
                f"early stopping: validation loss did not improve by more than {self.stopper.min_delta:g} "
                f"for {self.stopper.patience} epochs (best {self.stopper.best:.6f} at epoch {self.stopper.best_epoch})"
            )
        elif self.epoch >= self.recipe.epochs:
            n = self.recipe.epochs
            self.stop_reason = f"completed {n} epoch{'s' if n != 1 else ''}"
        if self.stop_reason:
            self.log_line(f"stopped: {self.stop_reason}")
        self.save_state()

    def _preview_grid(self) -> torch.Tensor:
        """Originals on top, (corrupted inputs,) reconstructions below."""
        g = torch.Generator(device=self.device).manual_seed(derive_seed(self.recipe.seed, "preview"))
        inputs = self._inputs(self.preview, g)
        with eval_mode(self.model):
            recon = self.model(inputs)
        bands = [self.preview, inputs, recon] if self.recipe.noise is not None else [self.preview, recon]
        return reconstruction_grid(bands, nrow=8)

    def log_line(self, message: str) -> None:
        if not self.quiet:
            self.log(message)

    # ------------------------------------------------------------------ state
    def _rng_states(self) -> Dict[str, torch.Tensor]:
        states = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.noise_gen is not None:
            states["noise"] = self.noise_gen.get_state()
        return states

    def _rng_prefix(self, rank: int) -> str:
        """One process: ``rng.cpu``...; under torchrun each rank's: ``rng.rank1.cpu``..."""
        return f"rng.rank{rank}." if self.dist.enabled else "rng."

    def save_state(self) -> None:
        """Every rank calls this at the same steps (their random states are gathered); rank 0 writes."""
        tensors: Dict[str, torch.Tensor] = {}
        for key, value in self._rng_states().items():
            for rank, part in enumerate(distributed.all_gather(self.dist, value, self.device)):
                tensors[f"{self._rng_prefix(rank)}{key}"] = part
        if not self.dist.is_main:
            return
        tensors.update({f"model.{k}": v for k, v in self.model.state_dict().items()})
        if self.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        optim_tensors, optim_info = flatten_optimizer(self.optimizer.state_dict())
        tensors.update(optim_tensors)
        info = {
            "name": self.entry.name,
            "entry": self.entry.to_dict(),
            "limit_batches": self.limit_batches,
            "world_size": self.dist.world_size,
            "amp": self.amp,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "epoch_loss_sum": self.epoch_loss_sum,
            "epoch_samples": self.epoch_samples,
            "epoch_seconds": self.epoch_seconds,
            "train_seconds": self.train_seconds,
            "history": self.history,
            "early_stopping": self.stopper.state_dict(),
            "stop_reason": self.stop_reason,
            "optimizer": optim_info,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
        }
        save_state(self.run_dir, tensors, info)

    def _restore(self, tensors: Dict[str, torch.Tensor], info: Dict[str, Any]) -> None:
        def part(prefix: str) -> Dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.model.load_state_dict(part("model."))
        best = part("best.")
        self.best_state = {k: v.to(self.device) for k, v in best.items()} if best else None
        self.optimizer.load_state_dict(unflatten_optimizer(tensors, info["optimizer"]))
        if self.scheduler is not None and info["scheduler"] is not None:
            self.scheduler.load_state_dict(info["scheduler"])
        rng = self._rng_prefix(self.dist.rank)
        torch.set_rng_state(tensors[f"{rng}cpu"])
        if self.device.type == "cuda" and f"{rng}cuda" in tensors:
            torch.cuda.set_rng_state(tensors[f"{rng}cuda"], self.device)
        if self.noise_gen is not None:
            self.noise_gen.set_state(tensors[f"{rng}noise"])
        self.stopper.load_state_dict(info["early_stopping"])
        for key in ("epoch", "step_in_epoch", "global_step", "epoch_loss_sum", "epoch_samples",
                    "epoch_seconds", "train_seconds", "history"):
            setattr(self, key, info[key])
        self.stop_reason = info["stop_reason"]
        if self.stop_reason and self.stop_reason.startswith("completed") and self.epoch < self.recipe.epochs:
            self.stop_reason = None  # --epochs raised on resume: carry on

    # ------------------------------------------------------------------ outputs
    def _finish(self) -> Dict[str, Any]:
        """Rank 0 evaluates the best weights and writes the outputs; every rank returns its summary."""
        if not self.dist.is_main:
            return distributed.broadcast_json(self.dist, None, self.device)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        test_loss = self.evaluate_loss(self.test_images, "test")
        summary = {
            "name": self.entry.name,
            "dataset": self.entry.dataset,
            "run_dir": str(self.run_dir),
            "device": str(self.device),
            "epochs_run": self.epoch,
            "best_epoch": self.stopper.best_epoch,
            "best_val_loss": self.stopper.best,
            "stop_reason": self.stop_reason,
            "test_loss": test_loss,
            "test_mse": self._test_mse(),
            "steps": self.global_step,
            "train_seconds": self.train_seconds,
            "samples_per_s": sum(h["samples_per_s"] for h in self.history) / max(len(self.history), 1),
            "params": self.model.num_parameters(),
            "world_size": self.dist.world_size,
            "amp": self.amp,
            "compile": self.compile,
            "optimizer_impl": optimizer_kind(self.optimizer),
            "history": self.history,
            "zoo_version": __version__,
            "torch_version": torch.__version__,
        }
        save_weights(
            self.run_dir / WEIGHTS_FILE,
            self.model,
            self.entry,
            epochs=self.epoch,
            best_epoch=self.stopper.best_epoch,
            best_val_loss=self.stopper.best,
            stop_reason=self.stop_reason,
            data_sha256=checksums(self.entry.dataset),
            device=str(self.device),
            train_seconds=self.train_seconds,
        )
        save_grid(self.run_dir / "reconstructions.png", self._preview_grid())
        fig = loss_figure(self.history, title=f"{self.entry.name}: loss per epoch", best_epoch=self.stopper.best_epoch)
        save_figure(self.run_dir / "losses.png", fig)
        atomic_write_json(self.run_dir / "metrics.json", summary)
        return distributed.broadcast_json(self.dist, summary, self.device)
