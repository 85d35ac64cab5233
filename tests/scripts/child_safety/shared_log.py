"""Unguarded: a log file opened with "w" at the top level; the parent writes before and
after a Pool whose workers write to the same file object. Every line is kept, as under
fork (one file offset for the parent and its children)."""
import multiprocessing
import os

log = open("run.log", "w")  # noqa: SIM115
log.write("parent: before\n")
log.flush()


def work(x):
    log.write(f"worker: task {x}\n")
    log.flush()
    return x


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2) as pool:
    pool.map(work, range(4), chunksize=1)
log.write("parent: after\n")
log.close()
with open("run.log") as handle:
    print("".join(sorted(handle.readlines())), end="")
