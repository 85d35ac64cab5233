"""Unguarded: the common tee, ``sys.stdout = Tee("run.log")`` (the terminal and a file
opened with "a"); the workers print. run.log holds every line once, as under fork."""
import multiprocessing
import os
import sys


class Tee:
    def __init__(self, path):
        self.terminal = sys.stdout
        self.log = open(path, "a")  # noqa: SIM115

    def write(self, message):
        self.terminal.write(message)
        self.log.write(message)
        self.log.flush()
        return len(message)

    def flush(self):
        self.terminal.flush()
        self.log.flush()


sys.stdout = Tee("run.log")


def work(x):
    sys.stdout.write(f"worker line {x}\n")  # one write: workers print at once
    return x


print("parent start")
with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    pool.map(work, range(3), chunksize=1)
print("parent end")
sys.stdout = sys.__stdout__
with open("run.log") as handle:
    print("run.log:", "|".join(sorted(handle.read().splitlines())))
