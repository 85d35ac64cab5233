"""Unguarded: Pool(2, maxtasksperchild=1); the pool's worker-handler thread starts every
replacement worker."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
pool = multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2, maxtasksperchild=1)
print("squares", pool.map(square, range(12), chunksize=1))
pool.close()
pool.join()
record("end")
