"""Unguarded: Celery's `billiard` fork, a Pool from a spawn or forkserver context at top
level."""
import os

import billiard


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


record("start")
pool = billiard.get_context(os.environ["START_METHOD"]).Pool(2)
print("squares", pool.map(square, range(10)))
pool.close()
pool.join()
record("end")
