"""Unguarded: os.mkdir of an output folder, then a Pool that writes into it."""
import multiprocessing
import os


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def save(x):
    with open(os.path.join("results", f"{x}.txt"), "w") as handle:
        handle.write(str(x * x))
    return x * x


record("start")
os.mkdir("results")
pool = multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2)
print("saved", pool.map(save, range(6)))
pool.close()
pool.join()
print("files", sorted(os.listdir("results")))
record("end")
