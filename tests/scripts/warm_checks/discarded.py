"""Guarded: main() narrows the umask; the warm fork server is discarded at the first
launch: it is gone (exited and reaped, no zombie) once the Pool has started, and the
workers come from the fork server started then."""

import multiprocessing
import multiprocessing.forkserver
import os


def parent_pid(_):
    return os.getppid()


if __name__ == "__main__":
    warm = multiprocessing.forkserver._forkserver._forkserver_pid
    os.umask(0o077)
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        parents = set(pool.map(parent_pid, range(4)))
        now = multiprocessing.forkserver._forkserver._forkserver_pid
        print("warm fork server gone", warm is not None and not os.path.exists(f"/proc/{warm}"))
    print("forked by the fork server started then", parents == {now})
