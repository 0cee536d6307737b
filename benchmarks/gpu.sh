#!/usr/bin/env bash
# The GPU figures in one command, on a CUDA machine, from the repository root (no install needed):
#   bash benchmarks/gpu.sh            -> benchmarks/gpu.json (and the CUDA tests' counts in it)
# Needs ZOO_DATA_DIR (the MNIST and Fashion-MNIST IDX files). Not yet run: no GPU was lent so far.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
python scripts/gpu_bench.py --out benchmarks/gpu.json "$@"
