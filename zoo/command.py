"""The ``zoo`` command's entry point (the console script and ``python -m zoo``): the process is set up for zoo's
CPU work before torch is imported, then the command runs (zoo.cli).

- OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it): a thread that
  spins while it waits takes a core from the other processes of a busy machine (BENCHMARKS.md, "A busy
  machine"); OpenMP reads the setting once, when torch loads it.
- The process counts itself among the machine's zoo commands (zoo.threads), whose cores they share.
- Denormals are flushed in every thread and freed blocks kept (zoo.devices).

Calling ``zoo.cli.main`` from Python (click's testing runner, a script) leaves the caller's process as it was.
"""
from __future__ import annotations

import os


def run() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .threads import join_machine

    join_machine()
    from .cli import main
    from .devices import flush_denormal_everywhere, keep_freed_memory

    flush_denormal_everywhere()
    keep_freed_memory()
    main()
