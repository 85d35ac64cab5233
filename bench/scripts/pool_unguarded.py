"""A small unguarded Pool(4) map, the benchmark's unguarded script; the start method from
START_METHOD (spawn by default)."""

import multiprocessing
import os


def square(x):
    return x * x


multiprocessing.set_start_method(os.environ.get("START_METHOD", "spawn"))
pool = multiprocessing.Pool(4)
total = sum(pool.map(square, range(1000)))
pool.close()
pool.join()
print(total)
