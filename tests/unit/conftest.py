"""The fast tier: pure functions tested in-process, spawnfix imported from this source tree
(no wheel, no virtual environment)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

sys.path.insert(0, str(REPO))
if "spawnfix" in sys.modules and not sys.modules["spawnfix"].__file__.startswith(str(REPO)):
    raise RuntimeError("tests/unit must import spawnfix from the source tree under test")
