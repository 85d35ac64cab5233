"""Unguarded: a Process started from top-level code."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def work(value):
    record(f"work {value}")


record("start")
context = multiprocessing.get_context(os.environ["START_METHOD"])
process = context.Process(target=work, args=(7,))
process.start()
process.join()
record("after-join")
print("exitcode", process.exitcode)
