"""Unguarded: the target is defined inside a compound statement, and the spawn site is
a `for` loop (a compound statement too)."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


try:
    import math

    def work(value):
        record(f"work {math.isqrt(value)}")
except ImportError:
    raise

record("start")
context = multiprocessing.get_context(os.environ["START_METHOD"])
codes = []
for value in (16, 81):
    process = context.Process(target=work, args=(value,))
    process.start()
    process.join()
    codes.append(process.exitcode)
record("after-loop")
print("exitcodes", codes)
