"""Guarded: one of the script's imports raises only in a fork server; a forkserver Pool."""
import multiprocessing

import preload.fails_in_fork_server  # noqa: F401
import preload.import_marker  # noqa: F401


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(pool.map(square, range(6)))
