"""Unguarded: a scratch file written and removed at the top level, then a Pool. No
worker's re-run leaves the file behind, as under fork."""
import multiprocessing
import os

with open("scratch.txt", "w") as handle:
    handle.write("scratch\n")
os.remove("scratch.txt")


def work(x):
    return x * x


with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(work, range(4)))
print("scratch left:", os.path.exists("scratch.txt"))
