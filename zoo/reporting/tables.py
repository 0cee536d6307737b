"""Rows of results as an aligned table, JSON, CSV or Markdown."""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Dict, List, Sequence

FORMATS = ("table", "json", "csv", "markdown")


def cell(value: Any, column: str = "") -> str:
    """A value as text: counts with thousands separators, metrics to a sensible precision."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if column == "params" else str(value)
    if isinstance(value, float):
        if column.endswith("psnr"):
            return f"{value:.2f}"
        if column.endswith("accuracy") or column == "bits_per_dim":
            return f"{value:.4f}"
        if column.endswith(("nll", "elbo", "fd")):  # nats per image, Fréchet distances: their SE is above 0.01
            return f"{value:.2f}"
        return f"{value:.4f}" if column.endswith("ssim") else f"{value:.6f}"
    return str(value)


def _numeric(rows: List[Dict[str, Any]], column: str) -> bool:
    """Whether the column holds numbers (and None, shown as ``-``) and at least one number."""
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def render(rows: List[Dict[str, Any]], columns: Sequence[str], fmt: str = "table") -> str:
    """``rows`` (dicts) restricted to ``columns``, rendered in ``fmt`` (one of FORMATS)."""
    if fmt == "json":
        return json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    texts = [[cell(r.get(c), c) for c in columns] for r in rows]
    if fmt == "markdown":
        align = ["---:" if _numeric(rows, c) else "---" for c in columns]
        lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(t) + " |" for t in texts]
        return "\n".join(lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}")
    widths = [max(len(c), *(len(t[i]) for t in texts)) if texts else len(c) for i, c in enumerate(columns)]
    right = [_numeric(rows, c) for c in columns]
    out = []
    for row in [list(columns), *texts]:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(row, widths, right)]
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)
