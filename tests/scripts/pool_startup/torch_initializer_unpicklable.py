"""Guarded: a torch.multiprocessing Pool (a multiprocessing.pool.Pool subclass) whose
initializer cannot be rebuilt in the workers: every worker dies as it starts."""
import os

import torch.multiprocessing as mp


def _reopen_shard():
    raise FileNotFoundError("shard-00017.bin is missing")


class OpenShard:
    def __call__(self):
        pass

    def __reduce__(self):
        return (_reopen_shard, ())


def double(x):
    return 2 * x


if __name__ == "__main__":
    context = mp.get_context(os.environ["START_METHOD"])
    with context.Pool(2, initializer=OpenShard()) as pool:
        print(pool.map(double, range(4)))
