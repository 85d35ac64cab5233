"""Guarded: main() sets a variable that an installed module reads at import."""

import multiprocessing
import os

import envprobe


def threads(_):
    return envprobe.THREADS


if __name__ == "__main__":
    os.environ["WARM_CHECK_THREADS"] = "1"
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted(set(pool.map(threads, range(4)))))
