#!/usr/bin/env python
"""Regenerate docs/report.png: `zoo report` of every entry with shipped weights, opened in headless Chromium
(Debian's `chromium`), screenshotted at 1300 px wide. The PNG's text chunk `zoo.models` lists the models the
page holds, so a test can hold the picture to the registry.

    python scripts/report_screenshot.py                 # -> docs/report.png
    python scripts/report_screenshot.py --height 2400 --out other.png
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import zoo  # noqa: E402
from zoo.io import atomic_write_bytes  # noqa: E402
from zoo.reporting.report import build_report  # noqa: E402
from zoo.weights import has_weights  # noqa: E402

MODELS_KEY = "zoo.models"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1300)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no Chromium here: apt-get install chromium")
    names = [n for n in zoo.list_models() if has_weights(n)]
    with tempfile.TemporaryDirectory() as tmp:
        page = build_report(names, Path(tmp) / "report", progress=lambda line: print(line, file=sys.stderr))
        shot = Path(tmp) / "shot.png"
        subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={args.width},{args.height}", f"--user-data-dir={tmp}/profile",
                        "--virtual-time-budget=20000", f"--screenshot={shot}", page.as_uri()],
                       check=True, capture_output=True, timeout=300)
        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text(MODELS_KEY, json.dumps(names))
        buffer = io.BytesIO()
        with Image.open(shot) as image:
            image.save(buffer, format="png", pnginfo=info, optimize=True)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out}: {len(names)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
