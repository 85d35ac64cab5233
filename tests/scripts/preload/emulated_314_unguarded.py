"""Unguarded, with the fork server preloading the main script as CPython 3.13.8+/3.14
do (gh-126631, backported as in corpus/forkserver_preload.py); 6 tasks, fresh workers."""
import multiprocessing
import os
from multiprocessing import spawn

import preload.import_marker  # noqa: F401


def backport_forkserver_main_preload():
    build_preparation_data = spawn.get_preparation_data

    def get_preparation_data(name):
        data = build_preparation_data(name)
        if name == "ignore" and "init_main_from_path" in data:
            data["main_path"] = data["init_main_from_path"]
        return data

    spawn.get_preparation_data = get_preparation_data


def square(x):
    return x * x


backport_forkserver_main_preload()
with multiprocessing.get_context("forkserver").Pool(2, maxtasksperchild=1) as pool:
    print(pool.map(square, range(6), chunksize=1))
