"""scripts/scaling.py runs real `zoo train` runs for 1 and 2 ranks and prints one row each."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zoo.paths import REPO_DIR


@pytest.mark.slow
def test_scaling_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "scaling.py"), "deep-784-32", "--nproc", "1", "2",
                           "--limit-batches", "4", "--device", "cpu"], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.startswith("| deep-784-32 |")]
    assert [row[2].strip() for row in rows] == ["1", "2"]
    assert all(row[6].strip() == "4" for row in rows)  # the same optimizer steps in both rows
