"""Guarded: a Pool whose initializer cannot be unpickled in the workers (spawn and
forkserver), built slowly on purpose.

The pool's worker-handler thread starts before ``Pool.__init__`` has finished. Here the
last step of ``__init__`` (making the pool's finalizer) waits until spawnfix's watchdog
has decided to stop the pool, which provokes the order that happens by chance with fast
workers: the pool is stopped before it is fully built. Run several times in one
process (ROUNDS), each round must end with the watchdog's error.
"""
import multiprocessing
import multiprocessing.pool
import multiprocessing.util
import os
import threading
import time

WATCHDOG_DEADLINE = 30
EARLY_STOP_GRACE = 1.0
STOPPER = "spawnfix-pool-terminate"
stoppers_started = []
_original_start = threading.Thread.start


def _recording_start(self):
    if self.name == STOPPER:
        stoppers_started.append(self)
    _original_start(self)


threading.Thread.start = _recording_start


def early_stop_finished():
    return any(not thread.is_alive() for thread in stoppers_started)


def _reconstruct_config():
    raise ValueError("config.yaml has no 'model' section")


class LoadConfig:
    """The initializer; rebuilding it in a worker raises (so every worker dies at start)."""

    def __call__(self):
        pass

    def __reduce__(self):
        return (_reconstruct_config, ())


def square(x):
    return x * x


class FinalizeOnceWatchdogFired(multiprocessing.util.Finalize):
    """Pool.__init__'s last step, held back until the watchdog stopped the pool."""

    def __init__(self, obj, *args, **kwargs):
        watch = getattr(obj, "_initializer", None)
        if isinstance(obj, multiprocessing.pool.Pool) and hasattr(watch, "error"):
            deadline = time.monotonic() + WATCHDOG_DEADLINE
            fired = threading.Event()
            while watch.error is None and time.monotonic() < deadline:
                fired.wait(0.01)  # polling the watchdog's decision, bounded
            print("watchdog fired before the pool was built:", watch.error is not None)
            # Give a stop that does not wait for the pool to be built the time to run
            # (it would call terminate() on this half-built pool): bounded, 1 s.
            deadline = time.monotonic() + EARLY_STOP_GRACE
            while time.monotonic() < deadline and not early_stop_finished():
                fired.wait(0.01)
        super().__init__(obj, *args, **kwargs)


multiprocessing.util.Finalize = FinalizeOnceWatchdogFired

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["START_METHOD"])
    stopped = 0
    rounds = int(os.environ.get("ROUNDS", "1"))
    for _ in range(rounds):
        try:
            with context.Pool(2, initializer=LoadConfig()) as pool:
                pool.map(square, range(10))
        except Exception as error:
            stopped += type(error).__name__ == "WorkerStartupError"
    print(f"stopped {stopped} of {rounds}")
