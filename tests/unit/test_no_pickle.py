"""No pickle on any load path: the package never calls an unpickler."""
from __future__ import annotations

import re

from zoo.paths import PACKAGE_DIR

FORBIDDEN = [r"\bimport pickle\b", r"\bcloudpickle\b", r"\bdill\b", r"\bjoblib\b", r"allow_pickle\s*=\s*True",
             r"\bpickle\.loads?\b", r"torch\.load\((?![^)]*weights_only\s*=\s*True)"]


def test_package_has_no_unpickling_call():
    hits = []
    for path in PACKAGE_DIR.rglob("*.py"):
        for number, line in enumerate(path.read_text().split("\n"), 1):
            if any(re.search(p, line) for p in FORBIDDEN):
                hits.append(f"{path.relative_to(PACKAGE_DIR)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_scan_would_catch_one():
    assert any(re.search(p, "state = torch.load(path)") for p in FORBIDDEN)
    assert not any(re.search(p, "state = torch.load(path, weights_only=True)") for p in FORBIDDEN)
