"""Guarded: a ProcessPoolExecutor whose initializer raises in every worker."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def connect_database():
    raise ConnectionRefusedError("database at localhost:5432 refused the connection")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with ProcessPoolExecutor(2, mp_context=context, initializer=connect_database) as executor:
        print(list(executor.map(square, range(10))))
