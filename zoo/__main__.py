"""``python -m zoo``: the same CLI as the ``zoo`` script (and the entry point torchrun needs)."""
from .cli import main

if __name__ == "__main__":
    main()
