"""Guarded: module code raises ImportError only in child processes; a
ProcessPoolExecutor's workers die while they start."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

if multiprocessing.current_process().name != "MainProcess":
    raise ImportError("cannot import name 'fast_kernel' from 'accel' (workers only)")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        print(list(executor.map(square, range(10))))
