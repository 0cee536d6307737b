"""A throw-away PostgreSQL server for the sweep tests: Debian's postgresql binaries, a cluster in a temporary
folder, listening on a free loopback port, stopped and removed afterwards. Skipped, with the reason, where the
binaries (or the psycopg2 driver) are not installed."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest


def binaries() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not versions:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql); .ci/run installs it")
    return Path(versions[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the SQLAlchemy URL of a fresh server's ``postgres`` database (user ``zoo``, no password)."""
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed (pip install 'psycopg[binary]')")
    bindir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="zoo-pg-"))
    as_user: List[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres account Debian makes
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "zoo", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                        f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off", "start"], check=True, capture_output=True)
        yield f"postgresql://zoo@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
