"""Unguarded, no start method named: the platform default (forkserver on Linux 3.14+)."""
import multiprocessing


def square(x):
    return x * x


pool = multiprocessing.Pool(2)
print("sum", sum(pool.map(square, range(20))))
pool.close()
pool.join()
