"""Unguarded: a Pool in a top-level `with` statement (a compound spawn site)."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    record("inside-with")
    print("sum", sum(pool.map(square, range(20))))
record("after-with")
