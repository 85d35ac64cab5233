"""Unguarded: about a second of top-level work computes a value, then a Pool(2) uses it."""

import math
import multiprocessing
import os


def compute_table():
    return [math.sqrt(i) * math.sin(i) for i in range(int(os.environ.get("WORK_ITEMS", "4000000")))]


TABLE = compute_table()
CHECKSUM = round(sum(TABLE[:1000]), 6)


def lookup(index):
    return TABLE[index * 1000]


pool = multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2)
print(sum(pool.map(lookup, range(8))), CHECKSUM)
pool.close()
pool.join()
