"""Guarded: the program chooses its own fork server preload."""
import multiprocessing

import preload.import_marker  # noqa: F401


def square(x):
    return x * x


if __name__ == "__main__":
    multiprocessing.set_forkserver_preload(["json"])
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(pool.map(square, range(6)))
