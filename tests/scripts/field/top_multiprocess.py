"""Unguarded: the `multiprocess` fork (dill-based), set_start_method and a Pool at top level."""
import os

import multiprocess


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


record("start")
multiprocess.set_start_method(os.environ["START_METHOD"])
pool = multiprocess.Pool(2)
print("squares", pool.map(lambda x: x * x, range(10)))
pool.close()
pool.join()
record("end")
