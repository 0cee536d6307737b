#!/usr/bin/env python
"""Training speed: the reference systems' loop against zoo's trainer, same recipe, one process.

    python scripts/bench.py fashion-64 --epochs 1 --reps 3 --device cpu

The reference loop is what the five reference projects ran: a torchvision dataset with
``ToTensor()`` (one PIL image per sample), a shuffling ``DataLoader``, and ``loss.item()`` every
step. Both train the same architecture, optimizer, batch size and number of optimizer steps on the
same 50,000 training images; repetitions alternate (reference, zoo, reference, zoo...) so that
drift in the machine's speed hits both. Timed: the training loop only (no validation, no start-up).
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import zoo  # noqa: E402
from zoo.data import FILES, VAL_SIZE, image_shape, locate  # noqa: E402
from zoo.devices import resolve_device  # noqa: E402
from zoo.training import RunOptions, Trainer  # noqa: E402
from zoo.training.optimizers import make_optimizer  # noqa: E402

TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def torchvision_root(dataset: str, tmp: Path) -> Path:
    """torchvision's own layout (<root>/<Class>/raw/, decompressed), made from zoo's verified files."""
    raw = tmp / TORCHVISION[dataset] / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    source = locate(dataset)
    for stem in FILES.values():
        gz, plain = source / f"{stem}.gz", source / stem
        (raw / stem).write_bytes(gzip.decompress(gz.read_bytes()) if gz.exists() else plain.read_bytes())
    return tmp


def reference_epoch(entry, device, root: Path, limit_batches=None):
    """One epoch of the reference loop; returns (seconds, samples, mean loss)."""
    import torchvision
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    dataset = getattr(torchvision.datasets, TORCHVISION[entry.dataset])(
        str(root), train=True, download=False, transform=transforms.ToTensor())
    fit = Subset(dataset, range(len(dataset) - VAL_SIZE))  # zoo's fit split: the same images
    torch.manual_seed(entry.recipe.seed)
    model = entry.build(image_shape(entry.dataset)).to(device).train()
    optimizer = make_optimizer(entry.recipe, model.parameters(), fused=False)  # torch's default, as they had
    loader = DataLoader(fit, batch_size=entry.recipe.batch_size, shuffle=True)
    total, samples, steps = 0.0, 0, 0
    started = time.perf_counter()
    for x, _ in loader:
        x = x.to(device)
        loss = model.loss(x, x, kind=entry.recipe.loss).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)  # the host sync every step that the references make
        samples += len(x)
        steps += 1
        if limit_batches and steps >= limit_batches:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, samples, total / samples


VARIANTS = {  # zoo's loop with one option changed: what each option gives
    "zoo": {},
    "zoo, default optimizer": {"fused": False},
    "zoo --amp": {"amp": True},
    "zoo --compile": {"compile": True},
}


def zoo_epoch(entry, device, out: Path, limit_batches=None, fused=True, amp=False, compile=False, warmup=0):
    """One epoch of zoo's training loop (data already on the device); returns (seconds, samples, mean loss).

    The time is the loop's own (``history[0]["seconds"]``: steps and loss reads, not validation or
    outputs). ``warmup`` steps are run (and not timed) first: torch.compile compiles on its first steps."""
    entry = entry.with_recipe(entry.recipe.replace(epochs=1))
    options = RunOptions(device=str(device), limit_batches=limit_batches, amp=amp, compile=compile)
    trainer = Trainer(entry, out=out, options=options, quiet=True)
    if not fused:
        trainer.objective.optimizer = make_optimizer(entry.recipe, trainer.model.parameters(), fused=False)
    trainer.objective.prepare()  # compile (when asked) before the warm-up
    if warmup:  # then back to the initial weights and optimizer state: every loop trains the same steps
        import copy

        initial = copy.deepcopy((trainer.model.state_dict(), trainer.objective.optimizer.state_dict()))
        compiling = time.perf_counter()
        order = trainer.data.order(-1)
        for i in range(warmup):
            trainer.training.train_step(trainer.data.batch(order, i))
        last = len(trainer.data.fit) % entry.recipe.batch_size
        if last and not limit_batches:  # the epoch's smaller last batch compiles too
            trainer.training.train_step(order[:last])
        print(f"warm-up ({warmup} steps{', compiling' if compile else ''}): {time.perf_counter() - compiling:.1f} s",
              file=sys.stderr)
        trainer.model.load_state_dict(initial[0])
        trainer.objective.optimizer.load_state_dict(initial[1])
    record = trainer.fit()["history"][0]
    samples = min(len(trainer.data.fit), trainer.data.steps_per_epoch * entry.recipe.batch_size)
    return record["seconds"], samples, record["train_loss"]


GRID_MODELS = ("linear-128", "deep-784-32", "fashion-64", "deep-64", "conv-32", "hinton-30")
GRID_BATCHES = (64, 128, 256, 512)


def grid(device, limit_batches=None) -> int:
    """How zoo's epoch time grows with batch size and model size (seconds per epoch)."""
    print(f"zoo training-loop seconds per epoch (50,000 images), device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| model | params | " + " | ".join(f"batch {b}" for b in GRID_BATCHES) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in GRID_BATCHES) + " |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in GRID_MODELS:
            base = zoo.get_entry(name)
            cells = []
            for b in GRID_BATCHES:
                entry = base.with_recipe(base.recipe.replace(batch_size=b))
                seconds, samples, _ = zoo_epoch(entry, device, Path(tmp) / f"{name}-{b}", limit_batches)
                cells.append(f"{seconds:.2f}")
            print(f"| {name} | {base.params:,} | " + " | ".join(cells) + " |", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", default="fashion-64")
    parser.add_argument("--reps", type=int, default=3, help="epochs timed for each loop, alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--limit-batches", type=int, help="cut each epoch short (smoke tests)")
    parser.add_argument("--variants", nargs="*", default=[], choices=[k for k in VARIANTS if k != "zoo"],
                        help="also time zoo's loop with one option changed (torch.compile is timed after 3 "
                             "warm-up steps, its compile time reported apart)")
    parser.add_argument("--grid", action="store_true",
                        help="instead: one zoo epoch per model (linear-128 ... hinton-30) and batch size (64 ... 512)")
    args = parser.parse_args()
    if args.grid:
        return grid(resolve_device(args.device), args.limit_batches)
    entry = zoo.get_entry(args.name)
    if args.batch_size:
        entry = entry.with_recipe(entry.recipe.replace(batch_size=args.batch_size))
    device = resolve_device(args.device)
    loops = ["reference", "zoo", *args.variants]
    results = {k: [] for k in loops}
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(entry.dataset, Path(tmp) / "tv")
        for rep in range(args.reps):
            results["reference"].append(reference_epoch(entry, device, root, args.limit_batches))
            for i, k in enumerate(loops[1:]):
                options = VARIANTS[k]
                warmup = 3 if options.get("compile") else 0
                results[k].append(zoo_epoch(entry, device, Path(tmp) / f"zoo{rep}-{i}", args.limit_batches,
                                            warmup=warmup, **options))
    rate = {k: [s / t for t, s, _ in v] for k, v in results.items()}
    ratio = statistics.mean(rate["zoo"]) / statistics.mean(rate["reference"])
    print(f"{args.name}, batch {entry.recipe.batch_size}, {args.reps} alternating epochs each, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| loop | samples/s | s/epoch | final-epoch train loss |")
    print("| --- | ---: | ---: | ---: |")
    for k in loops:
        r = rate[k]
        sd = statistics.stdev(r) if len(r) > 1 else 0.0
        seconds = statistics.mean(t for t, _, _ in results[k])
        print(f"| {k} | {statistics.mean(r):,.0f} ± {sd:,.0f} | {seconds:.2f} | {results[k][-1][2]:.5f} |")
    print(f"speed-up (zoo / reference samples/s): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
