"""Unguarded: a spawn Pool(2, maxtasksperchild=1) over 12 items; the pool's worker-handler
thread starts every replacement worker."""

import multiprocessing


def square(x):
    return x * x


multiprocessing.set_start_method("spawn")
pool = multiprocessing.Pool(2, maxtasksperchild=1)
results = pool.map(square, range(12), chunksize=1)
pool.close()
pool.join()
print(sum(results))
