"""Unguarded: about a second of top-level work computes a value, then a Pool(2) uses it."""

import math
import multiprocessing
import os


def compute_table():
    # About a second of work for 100,000 values (under 1 MB pickled).
    items = int(os.environ.get("WORK_ITEMS", "100000"))
    return [sum(math.sqrt(i * k) * math.sin(k) for k in range(40)) for i in range(items)]


TABLE = compute_table()
CHECKSUM = round(sum(TABLE[:1000]), 6)


def lookup(index):
    return TABLE[index * 1000]


pool = multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2)
print(sum(pool.map(lookup, range(8))), CHECKSUM)
pool.close()
pool.join()
