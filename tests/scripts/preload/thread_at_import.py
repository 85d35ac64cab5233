"""Guarded: one of the script's imports starts a thread; a forkserver Pool."""
import multiprocessing

import preload.import_marker  # noqa: F401
import preload.starts_thread  # noqa: F401


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(pool.map(square, range(6)))
