"""Guarded: the Pool's initializer fails three times (a database not yet up), then
succeeds; the standard library replaces the failed workers and the pool completes."""
import fcntl
import multiprocessing
import os

COUNTER = "attempts.txt"


def connect():
    with open(COUNTER, "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        attempts = len(counter.read()) + 1
        counter.write("x")
    if attempts <= 3:
        raise ConnectionRefusedError(f"database refused the connection (attempt {attempts})")


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Pool(1, initializer=connect) as pool:
        print(pool.map(square, range(10), chunksize=1))  # no chunk size from len(pool)
