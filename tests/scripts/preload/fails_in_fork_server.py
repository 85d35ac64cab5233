"""A module whose import raises in a fork server (a `python -c` process that is no
multiprocessing child), and works everywhere else."""
import multiprocessing
import sys

if sys.argv[:1] == ["-c"] and multiprocessing.current_process().name == "MainProcess":
    raise RuntimeError("no licence server reachable from the fork server")
