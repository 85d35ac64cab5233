"""A guarded Pool: the parent tells from the text that its children start inside the guard."""

import multiprocessing
import os
import sys


def square(x):
    return x * x


if __name__ == "__main__":  # the usual guard, with a comment
    context = multiprocessing.get_context(os.environ.get("START_METHOD", "spawn"))
    with context.Pool(2) as pool:
        print("sum", sum(pool.map(square, range(10))))
    print("parsed", "_ast" in sys.modules)
