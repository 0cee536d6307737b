#!/usr/bin/env python
"""Retrain the whole zoo (or the named entries) and refresh weights/, the model cards and README.

    python scripts/train_zoo.py                      # every registry entry, recipe as in registry.json
    python scripts/train_zoo.py deep-64 vae-16       # only these
    python scripts/train_zoo.py --cards-only         # re-measure cards and README from weights/ as it is
    python scripts/train_zoo.py --readme-only        # only the README's tables and figures, from the cards
    python scripts/train_zoo.py --add-sampling vae-16   # add samples and their fd to a card, leaving the rest
    python scripts/train_zoo.py --restamp hinton-30-rbm  # after editing only description, notes or
                                                         # reference_recipe or ablation: write the entry into its weights,
                                                         # then re-measure its card

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
from zoo.reporting.cards import SHIPPED_FILES, add_sampling, write_card  # noqa: E402
from zoo.reporting.readme import refresh_docs, write_readme_figures  # noqa: E402


def set_aside_if_stale(name: str, run: Path) -> None:
    """A run trained with another entry than registry.json's (beyond its documentation) is moved aside
    (not deleted); one that differs in documentation only is reused, and its weights restamped."""
    from zoo.training.checkpoint import has_state, read_state

    if not has_state(run):
        return
    _, info = read_state(run, warn=print)
    if not same_but_documentation(name, info["entry"]):
        aside = run.with_name(f"{run.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        run.rename(aside)
        print(f"{name}: registry.json changed since {run} was trained; moved it to {aside} and training afresh")


DOCUMENTATION = ("description", "reference_recipe", "ablation")  # and recipe.notes: what does not change a trajectory


def same_but_documentation(name: str, trained: dict) -> bool:
    """Whether the entry a run was trained by differs from registry.json's in its documentation only."""
    from zoo.registry import parse_entry

    old, new = parse_entry(name, trained).to_dict(), zoo.get_entry(name).to_dict()
    for data in (old, new):
        for key in DOCUMENTATION:
            data.pop(key, None)
        data["recipe"].pop("notes", None)
    return old == new


def restamp(name: str, folder: Path) -> None:
    """Write registry.json's entry into the header of ``folder``'s weights (the tensors and every other
    header field kept), refusing when anything but documentation differs from the entry it was trained by."""
    from zoo.io import CHECKSUM_KEY, HEADER_CHECKSUM_KEY, atomic_save_safetensors, read_verified_safetensors
    from zoo.registry import parse_entry
    from zoo.weights import WEIGHTS_FILE, read_metadata

    path = folder / WEIGHTS_FILE
    meta = read_metadata(path)
    if parse_entry(name, json.loads(meta["zoo.entry"])) == zoo.get_entry(name):
        return
    tensors, _ = read_verified_safetensors(path)
    if not same_but_documentation(name, json.loads(meta["zoo.entry"])):
        raise SystemExit(f"{name}: registry.json changed more than its documentation since {path} was trained; retrain it")
    kept = {k: v for k, v in meta.items() if k not in (CHECKSUM_KEY, HEADER_CHECKSUM_KEY)}
    atomic_save_safetensors(path, tensors, {**kept, "zoo.entry": zoo.get_entry(name).to_json()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="registry names (default: all)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="where runs train (default: runs/)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cards-only", action="store_true", help="do not train; re-measure weights/ as it is")
    parser.add_argument("--readme-only", action="store_true",
                        help="do not train or measure; rewrite the tables and figures of the README and docs/ from the cards as they are")
    parser.add_argument("--add-sampling", action="store_true",
                        help="do not train or re-measure; add the samples and their fd to each named card as it is")
    parser.add_argument("--restamp", action="store_true",
                        help="do not train; write each named entry (changed only in its documentation) into its weights")
    args = parser.parse_args()
    names = args.names or zoo.list_models()
    weights = REPO / "weights"
    for name in names:
        zoo.get_entry(name)  # unknown names fail before anything runs
    for name in [] if args.readme_only else names:
        if args.add_sampling:
            card = add_sampling(weights / name, device=args.device)
            print(f"{name}: fd {card.get('sampling', {}).get('fd', 'none')}", flush=True)
            continue
        if args.restamp:
            restamp(name, weights / name)
        elif not args.cards_only:
            set_aside_if_stale(name, args.runs / name)
            started = time.time()
            summary = zoo.train(name, out=args.runs / name, resume=True, device=args.device, quiet=True)
            print(f"{name}: {summary['stop_reason']}; best val {summary['best_val_loss']:.6f}; "
                  f"{time.time() - started:.0f} s wall", flush=True)
            target = weights / name
            target.mkdir(parents=True, exist_ok=True)
            for file in SHIPPED_FILES:
                shutil.copyfile(args.runs / name / file, target / file)
            restamp(name, target)  # the run's entry may differ from registry.json's in its documentation
        card = write_card(weights / name, device=args.device)
        print(f"{name}: test MSE {card['test']['reconstruction']['model']['mse']:.6f} "
              f"(PCA {card['test']['reconstruction']['pca']['mse']:.6f})", flush=True)
    cards = [json.loads((weights / n / "card.json").read_text()) for n in zoo.list_models()
             if (weights / n / "card.json").is_file()]
    write_readme_figures(REPO, [c["name"] for c in cards])
    refresh_docs(REPO, cards)
    return 0


if __name__ == "__main__":
    sys.exit(main())
