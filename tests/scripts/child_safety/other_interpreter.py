"""Guarded: the program runs its workers with another interpreter (set_executable), one
without spawnfix; the Pool works as it does without spawnfix."""
import multiprocessing
import os


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    context.set_executable(os.environ["WORKER_PYTHON"])
    with context.Pool(2) as pool:
        print(pool.map(square, range(4)))
