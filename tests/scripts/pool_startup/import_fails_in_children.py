"""Guarded: module code raises ImportError only in child processes (a module that only
the parent's environment provides, say)."""
import multiprocessing
import os

if multiprocessing.current_process().name != "MainProcess":
    raise ImportError("cannot import name 'fast_kernel' from 'accel' (workers only)")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(2) as pool:
        print(pool.map(square, range(10)))
