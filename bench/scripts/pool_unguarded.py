"""A small unguarded Pool(4) map (spawn), the benchmark's unguarded script."""

import multiprocessing


def square(x):
    return x * x


multiprocessing.set_start_method("spawn")
pool = multiprocessing.Pool(4)
total = sum(pool.map(square, range(1000)))
pool.close()
pool.join()
print(total)
