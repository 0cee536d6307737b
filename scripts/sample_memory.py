"""The peak memory of ``zoo sample`` drawing many samples into a tensor file, measured in a fresh process.

Prints the process's own peak (VmHWM from /proc, Linux) and the tensor's size; the README's Guarantees table
quotes it::

    ZOO_DATA_DIR=../shared/data python scripts/sample_memory.py --n 200000
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = ("import sys\nfrom zoo.cli import main\ncode = 0\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
         "    code = e.code\nprint([l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1])\n"
         "sys.exit(code)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="vae-16")
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tensor = Path(tmp) / "s.safetensors"
        done = subprocess.run([sys.executable, "-c", CHILD, "sample", args.name, "--n", str(args.n), "--out",
                               str(Path(tmp) / "g.png"), "--save-tensor", str(tensor), "--device", "cpu"],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        if done.returncode:
            sys.exit(done.stderr.strip().splitlines()[-1])
        peak_mb = int(done.stdout.strip().splitlines()[-1]) / 1024
        print(f"zoo sample {args.name} --n {args.n}: peak {peak_mb:.0f} MB (VmHWM); "
              f"tensor file {tensor.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
