"""Guarded: a ProcessPoolExecutor with max_tasks_per_child=1 whose replacement worker
cannot be started (its initializer fails to pickle the second time): on 3.14+ the
executor breaks with BrokenProcessPool; it must not hang."""
import concurrent.futures
import multiprocessing
import os


class Setup:
    pickled = 0

    def __call__(self):
        pass

    def __reduce__(self):
        Setup.pickled += 1
        if Setup.pickled > 1:
            raise RuntimeError("license server unavailable")
        return (Setup, ())


def square(x):
    return x * x


def main():
    # Inside a function: no global of __main__ holds the executor (spawnfix pickles the
    # parent's globals at each start, which would pickle Setup once more).
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with concurrent.futures.ProcessPoolExecutor(
        1, mp_context=context, initializer=Setup(), max_tasks_per_child=1
    ) as executor:
        futures = [executor.submit(square, x) for x in range(3)]
        for future in futures:
            try:
                print("result", future.result(timeout=60))
            except concurrent.futures.process.BrokenProcessPool:
                print("broken")


if __name__ == "__main__":
    main()
