"""Guarded, the start method set under the guard after the warm start: still unset then."""
import multiprocessing
import multiprocessing.forkserver


def square(x):
    return x * x


if __name__ == "__main__":
    print("warm", multiprocessing.forkserver._forkserver._forkserver_pid is not None)
    print("chosen", multiprocessing.get_start_method(allow_none=True))
    multiprocessing.set_start_method("forkserver")
    with multiprocessing.Pool(2) as pool:
        print(pool.map(square, range(6)))
    print("method", multiprocessing.get_start_method())
