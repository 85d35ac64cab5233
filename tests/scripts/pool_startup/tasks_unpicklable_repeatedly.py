"""Guarded: ROUNDS Pools in a row whose every task fails to unpickle in a worker (its
reconstruction raises there; the parent, which unpickles the tasks left in the queue when
it terminates the pool, can); each must fail fast."""
import multiprocessing
import os


def _reconstruct_sample():
    if multiprocessing.parent_process() is not None:
        raise ValueError("sample record is corrupt")
    return Sample()


class Sample:
    def __reduce__(self):
        return (_reconstruct_sample, ())


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    stopped = 0
    rounds = int(os.environ["ROUNDS"])
    for _ in range(rounds):
        try:
            with context.Pool(2) as pool:
                pool.map(square, [Sample() for _ in range(10)], chunksize=1)
        except Exception as error:
            stopped += type(error).__name__ == "WorkerStartupError"
    print(f"stopped {stopped} of {rounds}")
