"""What a user at a terminal sees: zoo train under a real pseudo-terminal (its progress bar drawn), and Ctrl-C."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import zoo.paths


def test_ctrl_c_ends_the_progress_bar_line_before_it_speaks(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(zoo.paths.REPO_DIR))
    process = subprocess.Popen([sys.executable, "-m", "zoo", "train", "deep-784-32", "--out", str(tmp_path / "run")],
                               stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path)
    os.close(slave)
    seen, sent, deadline = b"", False, time.time() + 120
    try:
        while time.time() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the terminal closed: the process has exited
                    break
            if not sent and b"batch/s" in seen:  # the bar is drawn: press Ctrl-C
                process.send_signal(signal.SIGINT)
                sent = True
            if process.poll() is not None and not select.select([master], [], [], 0.2)[0]:
                break
    finally:
        process.kill()
        os.close(master)
    assert sent and process.wait() == 130, seen[-2000:]
    before, found, _ = seen.partition(b"Error: interrupted")
    assert found, seen[-2000:]
    assert before.endswith((b"\r", b"\n")), before[-300:]  # on a line of its own, not glued to the bar
    assert b"batch/s" not in before.rsplit(b"\r", 2)[-2]  # the bar's text is gone from that line (cleared)
