"""Guarded: imports a probe module, then a forkserver Pool whose 6 tasks each get a fresh
worker (maxtasksperchild=1). Its logger is named after the module (on 3.14+ that does not
keep the script in the fork server)."""
import logging
import multiprocessing
import os

import preload.import_marker  # noqa: F401

log = logging.getLogger(__name__)


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    with context.Pool(2, maxtasksperchild=1) as pool:
        print(pool.map(square, range(6), chunksize=1))
