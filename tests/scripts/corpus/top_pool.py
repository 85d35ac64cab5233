"""Unguarded: a Pool created and used by simple top-level statements."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
pool = multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2)
record("after-pool")
results = pool.map(square, range(20))
record("after-map")
print("sum", sum(results))
pool.close()
pool.join()
