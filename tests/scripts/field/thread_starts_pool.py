"""Unguarded: a thread starts a Pool while the main thread joins it."""
import multiprocessing
import os
import threading


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def square(x):
    return x * x


def run_pool():
    with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print("sum", sum(pool.map(square, range(20))))


record("start")
worker = threading.Thread(target=run_pool)
worker.start()
worker.join()
record("end")
print("joined")
