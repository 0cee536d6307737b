#!/usr/bin/env python
"""Retrain the whole zoo (or the named entries) and refresh weights/, the model cards and README.

    python scripts/train_zoo.py                      # every registry entry, recipe as in registry.json
    python scripts/train_zoo.py deep-64 vae-16       # only these
    python scripts/train_zoo.py --cards-only         # re-measure cards and README from weights/ as it is

Each entry trains into RUNS/<name> (default runs/) and resumes there if interrupted; a finished run
is reused, so running this again only re-measures. The best weights and figures are then copied into
weights/<name>/, each card is measured with `zoo eval` on the full test split, and the README's
results table is rewritten between its markers.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import zoo  # noqa: E402
from zoo.reporting.cards import SHIPPED_FILES, refresh_readme, write_card, write_readme_figures  # noqa: E402


def set_aside_if_stale(name: str, run: Path) -> None:
    """A run trained with another entry than registry.json's is moved aside (not deleted)."""
    from zoo.registry import parse_entry
    from zoo.training.checkpoint import has_state, read_state

    if not has_state(run):
        return
    _, info = read_state(run, warn=print)
    if parse_entry(name, info["entry"]) != zoo.get_entry(name):
        aside = run.with_name(f"{run.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        run.rename(aside)
        print(f"{name}: registry.json changed since {run} was trained; moved it to {aside} and training afresh")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="registry names (default: all)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="where runs train (default: runs/)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cards-only", action="store_true", help="do not train; re-measure weights/ as it is")
    args = parser.parse_args()
    names = args.names or zoo.list_models()
    weights = REPO / "weights"
    for name in names:
        zoo.get_entry(name)  # unknown names fail before anything runs
    for name in names:
        if not args.cards_only:
            set_aside_if_stale(name, args.runs / name)
            started = time.time()
            summary = zoo.train(name, out=args.runs / name, resume=True, device=args.device, quiet=True)
            print(f"{name}: {summary['stop_reason']}; best val {summary['best_val_loss']:.6f}; "
                  f"{time.time() - started:.0f} s wall", flush=True)
            target = weights / name
            target.mkdir(parents=True, exist_ok=True)
            for file in SHIPPED_FILES:
                shutil.copyfile(args.runs / name / file, target / file)
        card = write_card(weights / name, device=args.device)
        print(f"{name}: test MSE {card['test']['reconstruction']['model']['mse']:.6f} "
              f"(PCA {card['test']['reconstruction']['pca']['mse']:.6f})", flush=True)
    cards = [json.loads((weights / n / "card.json").read_text()) for n in zoo.list_models()
             if (weights / n / "card.json").is_file()]
    write_readme_figures(REPO, [c["name"] for c in cards])
    refresh_readme(REPO / "README.md", cards)
    return 0


if __name__ == "__main__":
    sys.exit(main())
