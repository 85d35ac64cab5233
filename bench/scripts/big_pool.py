"""A guarded program: a large numpy array given to Pool(4) workers as the initializer's
argument (the documented way to share data with a Pool); 64 tasks read slices of it.
START_METHOD picks the context, BIG_MB the size. Prints the time from the Pool's creation
to the last result, and a checksum."""

import multiprocessing as mp
import os
import time

import numpy as np
from descendants_pss import children_pss_mib

shared = None


def init(array):
    global shared
    shared = array


def work(index):
    return float(shared[index * 1000 : (index + 1) * 1000].sum())


def main():
    ctx = mp.get_context(os.environ.get("START_METHOD", "fork"))
    big = np.random.default_rng(0).random(int(os.environ.get("BIG_MB", "400")) * 2**20 // 8)
    start = time.perf_counter()
    with ctx.Pool(4, init, (big,)) as pool:
        total = sum(pool.map(work, range(64)))
        elapsed = time.perf_counter() - start
        pss = children_pss_mib()
    print(f"loader {elapsed:.3f} s checksum {total:.6f} pss {pss:.0f}", flush=True)


if __name__ == "__main__":
    main()
