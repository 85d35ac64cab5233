"""Unguarded: set_start_method at top level, then a Process."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def work():
    record("work")


record("start")
multiprocessing.set_start_method(os.environ["START_METHOD"])
process = multiprocessing.Process(target=work)
process.start()
process.join()
print("exitcode", process.exitcode)
