"""Guarded: main() changes nothing a forkserver child inherits (a SIGTERM handler written
in Python is not inherited across exec; an entry appended to sys.path shadows nothing):
the warm fork server forks the workers. Nothing of the parent changed by its start."""

import os


def _descriptors():
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            stat = os.fstat(int(name))
        except OSError:  # the listing's own descriptor, closed by now
            continue
        found[int(name)] = (stat.st_dev, stat.st_ino)
    return found


ENVIRONMENT_BEFORE = dict(os.environ)
DESCRIPTORS_BEFORE = _descriptors()

import multiprocessing  # noqa: E402  (the warm start, when spawnfix decides on one)
import multiprocessing.forkserver  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402


def parent_pid(_):
    return os.getppid()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: None)
    sys.path.append(os.path.join(os.getcwd(), "appended"))
    print("environment kept", dict(os.environ) == ENVIRONMENT_BEFORE)
    now = _descriptors()
    print("descriptors kept", all(now.get(fd) == same for fd, same in DESCRIPTORS_BEFORE.items()))
    warm = multiprocessing.forkserver._forkserver._forkserver_pid
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        parents = set(pool.map(parent_pid, range(4)))
    print("forked by the warm fork server", warm is not None and parents == {warm})
