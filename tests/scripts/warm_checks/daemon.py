"""Guarded: main() daemonizes (double fork, setsid, stdio to /dev/null) after the imports,
waits for work (the file named by argv[2], at most 10 s), then starts a forkserver Pool;
the result goes to the file named by argv[1]."""

import multiprocessing
import os
import sys
import time


def square(x):
    return x * x


def daemonize():
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


def wait_for(path, seconds):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)  # a daemon waiting for work, polling for its file


if __name__ == "__main__":
    result_path, work_path = map(os.path.abspath, sys.argv[1:3])
    daemonize()
    wait_for(work_path, 10)
    try:
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            result = repr(pool.map(square, range(4)))
    except Exception as error:
        result = repr(error)
    with open(result_path + ".part", "w") as handle:
        handle.write(f"{os.getpid()}\n{result}\n")
    os.rename(result_path + ".part", result_path)
