"""A program that sets its own fork server preload keeps it: no warm start."""
import multiprocessing
import multiprocessing.forkserver


def square(x):
    return x * x


if __name__ == "__main__":
    multiprocessing.set_forkserver_preload(["json"])
    print("warm", multiprocessing.forkserver._forkserver._forkserver_pid is not None)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        print(pool.map(square, range(6)))
