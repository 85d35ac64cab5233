"""Unguarded, no start method named (3.14+: forkserver): warm before the first child?"""
import multiprocessing
import multiprocessing.forkserver


def square(x):
    return x * x


print("warm", multiprocessing.forkserver._forkserver._forkserver_pid is not None)
with multiprocessing.Pool(2) as pool:
    print(pool.map(square, range(6)))
print("method", multiprocessing.get_start_method())
