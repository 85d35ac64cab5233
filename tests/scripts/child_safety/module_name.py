"""Unguarded: a worker's view of its main module's name (a getLogger(__name__) made in
the worker, as loguru's {name} reads it). Under fork: __main__."""
import logging
import multiprocessing
import os


def work(x):
    return f"{__name__} {logging.getLogger(__name__).name}"


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(sorted(set(pool.map(work, range(3)))))
