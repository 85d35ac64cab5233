"""Guarded, on the default start method (forkserver on 3.14): an 8 MB bytes global and a
200,000-item list, Pool(2, maxtasksperchild=1) over 100 tasks (issue 30, finding 11)."""

import multiprocessing
import os
import sys
import time

BIG = os.urandom(8_000_000)
TABLE = list(range(200_000))


def work(i):
    return len(BIG) + len(TABLE) + i


if __name__ == "__main__":
    started = time.perf_counter()
    method = sys.argv[1] if len(sys.argv) > 1 else None
    with multiprocessing.get_context(method).Pool(2, maxtasksperchild=1) as pool:
        total = sum(pool.map(work, range(100), chunksize=1))
    print(total, round(time.perf_counter() - started, 2))
