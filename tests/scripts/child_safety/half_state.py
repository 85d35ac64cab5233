"""Guarded, on the start method it did not choose (forkserver by default since 3.14; the
method named in START_METHOD elsewhere): main() sets up a user module's flag and its
connection, which cannot be sent. The module reaches a worker whole or not at all: never
the flag without the connection (AttributeError: 'NoneType' object has no attribute
'execute')."""
import multiprocessing
import os

import half_state_lib


def work(x):
    return half_state_lib.count_rows()


if __name__ == "__main__":
    half_state_lib.setup("data.db")
    method = os.environ["START_METHOD"]
    context = multiprocessing if method == "default" else multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        print(pool.map(work, range(2)))
