"""Guarded: the Pool's initializer raises in every worker."""
import multiprocessing
import os


def load_config():
    raise ValueError("config.yaml has no 'model' section")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(2, initializer=load_config) as pool:
        print(pool.map(square, range(10)))
