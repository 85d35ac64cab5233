"""Shared segments are left nowhere: argv[1] is the start method, argv[2] how the run ends
(``normal``, ``kill-child``: a child SIGKILLs itself with the array mapped,
``kill-parent``: the parent SIGKILLs itself while its child holds the array)."""

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import sys
import time

import numpy as np

SEGMENT = "spawnfix-shared-buffer"


def own_segments():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed
            count += SEGMENT in os.readlink(f"/proc/self/fd/{fd}")
    return count


def child(big, how, ready, parent):
    total = float(big.sum())
    ready.set()
    if how == "kill-child":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "kill-parent":
        deadline = time.monotonic() + 30
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.05)  # until the parent is gone (then this child ends too)
    print("child read", total, flush=True)


def main():
    method, how = sys.argv[1], sys.argv[2]
    ctx = mp.get_context(method)
    big = np.ones(2_000_000)
    processes = []
    for _ in range(2):
        ready = ctx.Event()
        process = ctx.Process(target=child, args=(big, how, ready, os.getpid()))
        process.start()
        ready.wait(60)
        processes.append(process)
    print("parent holds segments while its children live:", own_segments() > 0, flush=True)
    helper = os.fork()  # a fork child (a daemon's helper) gets none of them
    if helper == 0:
        os._exit(min(own_segments(), 100))
    print("a fork child holds segments:", os.waitpid(helper, 0)[1] != 0, flush=True)
    if how == "kill-parent":
        os.kill(os.getpid(), signal.SIGKILL)
    for process in processes:
        process.join(60)
    print("exit codes", [process.exitcode for process in processes])
    del process, processes
    gc.collect()
    print("parent holds segments after they ended:", own_segments() > 0)


if __name__ == "__main__":
    main()
