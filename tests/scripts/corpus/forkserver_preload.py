"""Unguarded, with the fork server preloading the main script as CPython 3.13.8+/3.14 do.

Those versions pass ``init_main_from_path`` to the fork server as ``main_path``
(gh-126631). On older versions the key never reaches it; the backport below adds it, on
top of whatever else wraps ``get_preparation_data``, exactly where CPython now reads it.
"""
import multiprocessing
import os
from multiprocessing import spawn


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def backport_forkserver_main_preload():
    build_preparation_data = spawn.get_preparation_data

    def get_preparation_data(name):
        data = build_preparation_data(name)
        if name == "ignore" and "init_main_from_path" in data:
            data["main_path"] = data["init_main_from_path"]
        return data

    spawn.get_preparation_data = get_preparation_data


def work():
    record("work")


backport_forkserver_main_preload()
record("start")
context = multiprocessing.get_context("forkserver")
context.set_forkserver_preload(["__main__"])
process = context.Process(target=work)
process.start()
process.join()
print("exitcode", process.exitcode)
