"""Guarded: a ProcessPoolExecutor whose initializer raises in every worker; the program
waits until the pool is broken, then submits again (the race a busy machine provokes
inside ``executor.map``: the break comes before the last submit)."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool


def connect_database():
    raise ConnectionRefusedError("database at localhost:5432 refused the connection")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    executor = ProcessPoolExecutor(2, mp_context=context, initializer=connect_database)
    first = executor.submit(square, 2)
    print("first:", type(first.exception(timeout=60)).__name__)
    try:
        executor.submit(square, 3)
    except BrokenProcessPool as broken:
        print("second:", type(broken).__name__, "cause:", broken.__cause__)
        print("message:", broken)
    executor.shutdown()
