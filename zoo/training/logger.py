"""What a run tells: a line per epoch, a progress bar, TensorBoard. Rank 0 logs; other ranks get a
:class:`SilentLogger`, so the loop never asks which rank it is on.

Lines go to the ``log`` callback when one is given, else to the ``zoo`` logger at INFO (the CLI
shows them on stdout); warnings to the callback with a ``warning:`` prefix, else at WARNING.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from ..errors import worded

LOGGER = logging.getLogger("zoo")


class SilentLogger:
    """Logs nothing: ranks other than 0, and the base of :class:`RunLogger`."""

    def open(self, purge_step: int, stage: str = "") -> None:
        pass

    def scalars(self, tag: str, values: List[float], first: int, stage: str = "") -> None:
        pass

    def line(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def bar(self, total: int, initial: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, disable=True)

    def steps(self, first: int, losses: Dict[str, List[float]], bar, samples_per_s: float) -> None:
        pass

    def epoch(self, record: Dict[str, float], epochs: int, improved: bool, grid: Callable[[], torch.Tensor]) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "SilentLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RunLogger(SilentLogger):
    """Rank 0's logger: lines unless ``quiet``, TensorBoard events in ``run_dir/tensorboard`` (a stage
    before training, such as pretraining, in a subfolder of its own, with steps of its own)."""

    def __init__(self, run_dir: Path, *, quiet: bool = False, log: Optional[Callable[[str], None]] = None):
        self.run_dir, self.quiet, self.log = Path(run_dir), quiet, log
        self.writers: Dict[str, Any] = {}

    @property
    def writer(self) -> Any:
        return self.writers.get("")

    def open(self, purge_step: int, stage: str = "") -> None:
        """Open the events of ``stage`` ("": training); a resumed run drops those at ``purge_step`` and later."""
        from torch.utils.tensorboard import SummaryWriter

        if stage not in self.writers:
            self.writers[stage] = SummaryWriter(str(self.run_dir / "tensorboard" / stage), purge_step=purge_step or None)

    def scalars(self, tag: str, values: List[float], first: int, stage: str = "") -> None:
        for j, value in enumerate(values):
            self.writers[stage].add_scalar(tag, value, first + j)

    def line(self, message: str) -> None:
        if self.quiet:
            return
        if self.log is not None:
            self.log(worded(message, cli=False))
        else:
            LOGGER.info(message)

    def warning(self, message: str) -> None:
        if self.log is not None:
            self.log(f"warning: {worded(message, cli=False)}")
        else:
            LOGGER.warning(message)

    def bar(self, total: int, initial: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, leave=False, unit="batch",
                    disable=self.quiet or not sys.stderr.isatty())

    def steps(self, first: int, losses: Dict[str, List[float]], bar, samples_per_s: float) -> None:
        """Per step: ``loss`` as ``loss/train_step``, each named part of it as ``parts_step/<name>``."""
        for name, values in losses.items():
            tag = "loss/train_step" if name == "loss" else f"parts_step/{name}"
            for j, value in enumerate(values):
                self.writer.add_scalar(tag, value, first + j)
        bar.update(len(losses["loss"]))
        bar.set_postfix(loss=f"{losses['loss'][-1]:.5f}", samples_s=f"{samples_per_s:,.0f}")

    def epoch(self, record: Dict[str, float], epochs: int, improved: bool, grid: Callable[[], torch.Tensor]) -> None:
        epoch = record["epoch"]
        self.writer.add_scalar("loss/train", record["train_loss"], epoch)
        self.writer.add_scalar("loss/val", record["val_loss"], epoch)
        self.writer.add_scalar("lr", record["lr"], epoch)
        for name, value in record.get("parts", {}).items():
            self.writer.add_scalar(f"parts/{name}", value, epoch)
        self.writer.add_image("reconstructions", grid(), epoch)
        self.line(
            f"epoch {epoch:>3}/{epochs}  train {record['train_loss']:.6f}  val {record['val_loss']:.6f}"
            f"{'  *best' if improved else ''}  {record['seconds']:.1f}s  {record['samples_per_s']:,.0f} samples/s"
        )

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
