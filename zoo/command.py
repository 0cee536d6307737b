"""The ``zoo`` command's entry point (the console script and ``python -m zoo``): the process is set up for zoo's
CPU work before torch is imported, then the command runs (zoo.cli).

- The process counts itself among the machine's zoo commands and notes the other runnable tasks (zoo.threads),
  which decide its torch threads. On a busy machine OpenMP's threads wait passively (``OMP_WAIT_POLICY=PASSIVE``
  unless the environment sets it): a thread that spins while it waits takes a core another process needs, while
  on an idle machine spinning is what makes two threads fast (BENCHMARKS.md, "A busy machine"). OpenMP reads the
  setting once, when torch loads it.
- Denormals are flushed in every thread and freed blocks kept (zoo.devices).

Calling ``zoo.cli.main`` from Python (click's testing runner, a script) leaves the caller's process as it was.
"""
from __future__ import annotations

import os


def run() -> None:
    from .threads import join_machine

    if join_machine():  # other tasks are running: OpenMP's threads must not spin on their cores
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .cli import main
    from .devices import flush_denormal_everywhere, keep_freed_memory

    flush_denormal_everywhere()
    keep_freed_memory()
    main()
