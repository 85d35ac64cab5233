"""A spawn Pool(4) mapping a small function over TASKS items (default 10,000), the
benchmark's program, run as a file and, unchanged, as `python -c`."""

import multiprocessing
import os


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        total = sum(pool.map(square, range(int(os.environ.get("TASKS", "10000")))))
    print(total)
