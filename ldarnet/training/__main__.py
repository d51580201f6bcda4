"""``python -m ldarnet.training pretrain ...``: the ``ldarnet`` command line (also under torchrun)."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main())
