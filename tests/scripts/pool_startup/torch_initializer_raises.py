"""Guarded: a torch.multiprocessing Pool (a multiprocessing.pool.Pool subclass) whose
initializer raises in every worker."""
import os

import torch.multiprocessing as mp


def open_shard():
    raise FileNotFoundError("shard-00017.bin is missing")


def double(x):
    return 2 * x


if __name__ == "__main__":
    context = mp.get_context(os.environ["START_METHOD"])
    with context.Pool(2, initializer=open_shard) as pool:
        print(pool.map(double, range(4)))
