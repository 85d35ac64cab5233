"""Guarded: the program chooses its own fork server preload."""
import multiprocessing

import preload.import_marker  # noqa: F401


def square(x):
    return x * x


if __name__ == "__main__":
    multiprocessing.set_forkserver_preload(["json"])
    pool = multiprocessing.get_context("forkserver").Pool(2)
    print(pool.map(square, range(6)))
    # close and join (not terminate): both workers finish starting, so both import.
    pool.close()
    pool.join()
