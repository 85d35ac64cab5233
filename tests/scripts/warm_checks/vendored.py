"""Guarded: main() puts its vendored copy of an installed module first on sys.path."""

import multiprocessing
import os
import sys

import shadowed


def where(_):
    return shadowed.WHERE


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor"))
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(sorted(set(pool.map(where, range(4)))))
