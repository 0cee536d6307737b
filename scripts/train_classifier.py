"""Train the MNIST classifier whose penultimate features ``fd`` uses (zoo/evaluation/classifier.py), and ship it
as weights/classifiers/mnist/: model.safetensors (checksummed), card.json (its test accuracy on all 10,000
test images, training facts, data checksums, each file's SHA-256) and README.md.

    python scripts/train_classifier.py

Adam 1e-3 with a cosine decay to zero, batch 128, each image shifted by up to 2 pixels either way (a fresh
random shift per image and epoch), on the fit split (the first 50,000 training images); the epoch with the
best validation accuracy (the last 10,000) is kept. Seeded: the same run gives the same weights on the same
machine and torch.
"""
from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zoo.data import checksums, load_dataset, to_float  # noqa: E402
from zoo.evaluation.classifier import MNISTClassifier, classifier_dir  # noqa: E402
from zoo.io import atomic_save_safetensors, atomic_write_json, atomic_write_text  # noqa: E402
from zoo.version import __version__  # noqa: E402


@torch.no_grad()
def accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    right = sum(int((model(to_float(images[i:i + 1000])).argmax(1) == labels[i:i + 1000]).sum())
                for i in range(0, len(images), 1000))
    return right / len(images)


def shifted(x: torch.Tensor, g: torch.Generator, most: int = 2) -> torch.Tensor:
    """Each image moved by a whole number of pixels, -most..most in each direction, zeros shifted in."""
    n, _, h, w = x.shape
    padded = F.pad(x, (most, most, most, most))[:, 0]  # (n, h + 2 most, w + 2 most)
    dy, dx = (torch.randint(0, 2 * most + 1, (n,), generator=g) for _ in range(2))
    rows = (dy.view(n, 1) + torch.arange(h)).view(n, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, w)
    return padded[torch.arange(n).view(n, 1, 1), rows, cols].unsqueeze(1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(classifier_dir("mnist")))
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    fit, val, test = (load_dataset("mnist", split) for split in ("fit", "val", "test"))
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = args.epochs * -(-len(fit.images) // 128)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(args.seed)
    best, history, started = None, [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(fit.images), generator=g)
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(model(shifted(to_float(fit.images[idx]), g)), fit.labels[idx].long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        val_acc = accuracy(model, val.images, val.labels)
        history.append({"epoch": epoch, "val_accuracy": val_acc, "seconds": round(time.perf_counter() - started, 1)})
        print(f"epoch {epoch}: validation accuracy {val_acc:.4f}", flush=True)
        if best is None or val_acc > best[1]:
            best = ({k: v.clone() for k, v in model.state_dict().items()}, val_acc, epoch)
    model.load_state_dict(best[0])
    test_acc = accuracy(model, test.images, test.labels)
    print(f"best epoch {best[2]}: test accuracy {test_acc:.4f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"zoo.classifier": "mnist", "zoo.test_accuracy": repr(test_acc), "zoo.version": __version__}
    atomic_save_safetensors(out / "model.safetensors", model.state_dict(), meta)
    card = {"name": "classifier-mnist", "what": "the feature network of zoo's fd score (penultimate layer, 128-d)",
            "architecture": "conv3x3(32)-maxpool-conv3x3(64)-maxpool-linear(128)-linear(10), ReLU, dropout 0.25",
            "test_accuracy": test_acc, "test_images": len(test.images), "best_epoch": best[2],
            "val_accuracy": best[1], "history": history, "train_seconds": history[-1]["seconds"],
            "recipe": {"optimizer": "adam", "lr": 1e-3, "schedule": "cosine to 0 over all steps", "batch_size": 128,
                       "epochs": args.epochs, "seed": args.seed, "augmentation": "random shifts of up to 2 pixels",
                       "data": "mnist fit split (50,000), best epoch by validation accuracy (10,000)"},
            "data_sha256": checksums("mnist"), "torch": torch.__version__, "python": platform.python_version(),
            "reproduce": "python scripts/train_classifier.py"}
    card["files"] = {"model.safetensors": sha256(out / "model.safetensors")}
    atomic_write_json(out / "card.json", card)
    atomic_write_text(out / "README.md", (
        "# classifier-mnist\n\nThe feature network of zoo's `fd` score: the Fréchet distance between Gaussians fitted to "
        "its 128-d penultimate features of 10,000 generated images and of the MNIST test set. Not Inception: "
        "`fd` values are not comparable with published FIDs.\n\n"
        f"- test accuracy: {test_acc:.2%} on all {len(test.images):,} MNIST test images (epoch {best[2]} of {args.epochs}, "
        f"chosen by validation accuracy {best[1]:.2%})\n"
        f"- {card['architecture']}\n- Adam 1e-3 with a cosine decay, batch 128, random shifts of up to 2 pixels, "
        f"seed {args.seed}; {card['train_seconds']} s here "
        f"(torch {torch.__version__})\n- reproduce: `python scripts/train_classifier.py`\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
