"""Unguarded: a worker function defined under an `if` that also starts the pool."""
import multiprocessing as mp
import os

if os.environ["START_METHOD"]:
    def cube(x):
        return x ** 3

    with mp.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
        print(pool.map(cube, range(5)))
