"""``python -m zoo``: the same CLI as the ``zoo`` script (and the entry point torchrun needs)."""
from .command import run

if __name__ == "__main__":
    run()
