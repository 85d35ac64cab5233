"""Guarded: a top-level value of DATA_MB megabytes, then a Pool(2) that reads it."""

import multiprocessing
import os

DATA = os.urandom(int(float(os.environ.get("DATA_MB", "1")) * 2**20))


def size(_):
    return len(DATA)


if __name__ == "__main__":
    with multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2) as pool:
        print(pool.map(size, range(2)))
