"""Guarded, with code that runs only when the script is imported (an else: on the guard):
on 3.14+ the fork server's own import of the script prints it, and spawnfix keeps that."""
import multiprocessing


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        print(pool.map(square, [2]))
else:
    print("imported as", __name__)
