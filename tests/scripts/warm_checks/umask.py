"""Guarded: main() narrows the umask, then a forkserver Pool's workers create files."""

import multiprocessing
import os


def created_mode(path):
    with open(path, "w"):
        pass
    return oct(os.stat(path).st_mode & 0o777)


if __name__ == "__main__":
    os.umask(0o077)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted(set(pool.map(created_mode, [f"made-{i}" for i in range(4)]))))
