"""Guarded, forkserver named: is the fork server running before the first child?"""
import multiprocessing
import multiprocessing.forkserver


def square(x):
    return x * x


if __name__ == "__main__":
    print("warm", multiprocessing.forkserver._forkserver._forkserver_pid is not None)
    print("children", multiprocessing.active_children())
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(pool.map(square, range(6)))
