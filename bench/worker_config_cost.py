"""Per-child cost of giving a worker the parent's logging and warnings configuration.

A typical configuration (a root stream handler on stderr with a format, a file handler
on a log file, a named logger at DEBUG, one warnings filter): the snapshot the parent
pickles into each child's preparation data, and the child's unpickling, which rebuilds it
(``spawnfix.inherited_config``). Measured in this process with ``timeit`` (median of
repeats), plus the size of the pickle.

Usage: python bench/worker_config_cost.py [--number N]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import statistics
import sys
import tempfile
import timeit
import warnings
from pathlib import Path

from common import REPO, machine_description

sys.path.insert(0, str(REPO))

from spawnfix import inherited_config


def configure(folder: Path) -> None:
    """The parent's configuration: what a training script's main() typically sets up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    handler = logging.FileHandler(folder / "train.log")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("train").setLevel(logging.DEBUG)
    warnings.simplefilter("ignore", FutureWarning)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    configure(Path(tempfile.mkdtemp(prefix="spawnfix-bench-config-")))
    from multiprocessing.reduction import ForkingPickler

    def parent() -> bytes:
        return bytes(ForkingPickler.dumps(inherited_config.take_snapshot()))

    data = parent()
    parent_times = timeit.repeat(parent, number=args.number, repeat=7)
    child_times = timeit.repeat(lambda: pickle.loads(data), number=args.number, repeat=7)
    per = 1e6 / args.number
    print(machine_description())
    print("| step, per child | median |\n|---|---|")
    print(f"| parent: snapshot and pickle | {statistics.median(parent_times) * per:.0f} us |")
    print(f"| child: unpickle and apply | {statistics.median(child_times) * per:.0f} us |")
    print(f"| pickle size | {len(data)} bytes |")


if __name__ == "__main__":
    main()
