"""The benchmark script runs end to end (a few batches) and prints both loops."""
from __future__ import annotations

import os
import subprocess
import sys

from zoo.paths import REPO_DIR


def test_bench_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "bench.py"), "deep-784-32", "--reps", "2",
                           "--limit-batches", "5", "--device", "cpu"], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert any(line.startswith("| reference |") for line in lines) and any(line.startswith("| zoo |") for line in lines)
    assert "speed-up (zoo / reference samples/s):" in proc.stdout


def test_latency_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "latency.py"), "--reps", "1", "--skip-compare"],
                          capture_output=True, text=True, env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("| ") and " s |" in line]
    assert rows == ["import torch", "import zoo after torch", "zoo.load", "zoo.load again", "import zoo, torch included"]
