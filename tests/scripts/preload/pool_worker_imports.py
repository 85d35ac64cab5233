"""Guarded: a forkserver Pool whose workers report their pids; ``preload.import_recorder``
records what each process imports after it."""
import multiprocessing
import os

import preload.import_recorder  # noqa: F401


def worker_pid(_):
    return os.getpid()


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    with context.Pool(2) as pool:
        pids = sorted(set(pool.map(worker_pid, range(6), chunksize=1)))
    print("workers", *pids)
