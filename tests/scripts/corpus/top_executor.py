"""Unguarded: a ProcessPoolExecutor at top level."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def cube(x):
    return x ** 3


record("start")
context = multiprocessing.get_context(os.environ["START_METHOD"])
executor = ProcessPoolExecutor(max_workers=2, mp_context=context)
print("sum", sum(executor.map(cube, range(10))))
executor.shutdown()
record("after-shutdown")
