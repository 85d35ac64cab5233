"""Works without spawnfix: a dynamic guard, and a helper defined after the block that
the workers call (the children define it because they run the whole script)."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def work(x):
    return helper_after_block(x)


record("start")
if multiprocessing.current_process().name == "MainProcess":
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print("sum", sum(pool.map(work, range(10))))


def helper_after_block(x):
    return x + 100


record("end")
