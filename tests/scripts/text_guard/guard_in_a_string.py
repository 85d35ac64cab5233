"""An unguarded Pool whose statement starts with a string that holds guard-like text: the
lines above the Pool's line look like a main guard, but they are inside the string."""

import multiprocessing
import os


def square(x):
    return x * x


NOTE = """
if __name__ == "__main__":
    """ + str(
    multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2).map(square, [3])
)
print("note", NOTE.split()[-1])
