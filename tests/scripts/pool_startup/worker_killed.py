"""Guarded: a worker that has served tasks is killed while it runs one; the Pool replaces
it and the next map finishes, as without spawnfix."""
import multiprocessing
import os
import signal


def park(started, pids):
    pids.append(os.getpid())
    started.set()
    while True:  # stay inside this task until the parent kills this worker
        signal.pause()


def square(x):
    return x * x


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    with context.Manager() as manager, context.Pool(2) as pool:
        print("first", sum(pool.map(square, range(10))))
        started, pids = manager.Event(), manager.list()
        pool.apply_async(park, (started, pids))
        started.wait(timeout=60)
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        print("second", sum(pool.map(square, range(100))))
