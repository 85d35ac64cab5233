"""Unguarded: a thread pool's worker starts a Pool; the main thread waits in a `with`."""
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def cube(x):
    return x**3


def run_pool(n):
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        return sum(pool.map(cube, range(n)))


record("start")
with ThreadPoolExecutor(max_workers=1) as threads:
    print("sum", threads.submit(run_pool, 10).result())
record("end")
