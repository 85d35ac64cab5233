"""Unguarded: the same program as marked.py without the main guard."""
import multiprocessing
import os

import preload.import_marker  # noqa: F401


def square(x):
    return x * x


context = multiprocessing.get_context("forkserver")
with context.Pool(2, maxtasksperchild=1) as pool:
    print(pool.map(square, range(6), chunksize=1))
