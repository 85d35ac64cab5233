"""Unguarded: a Pool whose second worker is still starting when the parent terminates it
(the end of the with block). The worker's re-run has built a Pool of its own up to its
first worker, so its queues' semaphores are registered with the parent's resource
tracker; it waits there until the parent's SIGTERM has been sent. Under fork: the
results, nothing on stderr (no "leaked semaphore objects" at exit)."""
import multiprocessing
import multiprocessing.pool
import os
import signal


def square(x):
    return x * x


class SecondWorkerWaitsForTerminate(multiprocessing.pool.Pool):
    def _repopulate_pool(self):
        if multiprocessing.current_process().name.endswith("-2"):
            # A worker's re-run, which stops at this Pool's first worker: hold it there
            # until the parent's terminate() has sent SIGTERM (then send it again, so that
            # the worker still ends). Where SIGTERM is not blocked, it kills us here.
            if signal.sigtimedwait([signal.SIGTERM], 60) is not None:
                signal.raise_signal(signal.SIGTERM)
        return super()._repopulate_pool()


context = multiprocessing.get_context(os.environ["START_METHOD"])
with SecondWorkerWaitsForTerminate(2, context=context) as pool:
    print(pool.map(square, [1, 2, 3]))
