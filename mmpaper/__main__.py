"""``python -m mmpaper``: the command line (:mod:`mmpaper.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
