"""Unguarded: a class whose instances go to the workers is defined in a `with` block
that then starts the pool."""
import contextlib
import multiprocessing as mp
import os


def double(task):
    return task.size * 2


with contextlib.ExitStack() as stack:
    class Task:
        def __init__(self, size):
            self.size = size

    pool = stack.enter_context(mp.get_context(os.environ["START_METHOD"]).Pool(2))
    print(pool.map(double, [Task(1), Task(2), Task(3)]))
print("done")
