"""``python -m spawnfix``: the same command line as the ``spawnfix`` script."""

import sys

from spawnfix.cli import main

sys.exit(main())
