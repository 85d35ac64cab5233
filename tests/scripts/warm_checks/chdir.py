"""Guarded: main() changes directory; an installed module records it at import."""

import multiprocessing
import os

import cwdprobe


def folders(_):
    return cwdprobe.FOLDER, os.path.basename(os.getcwd())


if __name__ == "__main__":
    os.makedirs("elsewhere", exist_ok=True)
    os.chdir("elsewhere")
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted(set(pool.map(folders, range(4)))))
