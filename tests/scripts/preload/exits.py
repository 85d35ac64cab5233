"""Guarded: imports a probe of exit handlers and teardown, then a forkserver Pool; with
OWN_PRELOAD=1 the program chooses the fork server's preload itself."""
import multiprocessing
import os

import preload.exit_marker  # noqa: F401


def square(x):
    return x * x


if __name__ == "__main__":
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} __main__ parent\n")
    context = multiprocessing.get_context("forkserver")
    if os.environ.get("OWN_PRELOAD") == "1":
        context.set_forkserver_preload(["preload.exit_marker"])
    with context.Pool(2) as pool:
        print(pool.map(square, range(6)))
