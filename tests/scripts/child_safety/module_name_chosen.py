"""Guarded, with the start method it chose: spawn's children, whose main module is named
__mp_main__, with spawnfix as natively."""
import logging
import multiprocessing
import os


def work(x):
    return f"{__name__} {logging.getLogger(__name__).name}"


if __name__ == "__main__":
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print(sorted(set(pool.map(work, range(3)))))
