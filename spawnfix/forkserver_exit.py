"""The fork server's exit: its exit handlers run, its interpreter teardown does not.

A fork server lives as long as its parent: when the parent exits, the fork server reads
EOF on its pipe and exits too, after the parent. Its interpreter teardown then destroys
every module it preloaded, about half a second for torch, while it still holds the
parent's stdout and stderr, so whatever reads them to the end (a shell pipeline such as
``python train.py | tee log``, CI, ``subprocess.run(..., capture_output=True)``) waits
that long after the program has ended. Under ``fork`` there is no such process.

The fork server keeps no state of the program's: it only forks. So once spawnfix's
preload has run there (``spawnfix.forkserver_preload``), ``exit_without_teardown``
registers an exit handler after all others; at exit it runs first, runs every other
exit handler as the interpreter would (multiprocessing's own, any a preloaded module
registered), flushes stdout and stderr and ends the process with ``os._exit(0)``.

It steps aside (the interpreter exits as usual) when the fork server ends with an
uncaught exception (its exit status stays 1) or when another exit handler was registered
after it (that one has run already, and running all handlers again would repeat it).
"""

import atexit
import contextlib
import os
import sys

_state = {"registered_at": -1, "running": False}


def exit_without_teardown() -> None:
    """Fork server, after its preload: end with the exit handlers but no teardown."""
    atexit.register(_exit_now)
    _state["registered_at"] = atexit._ncallbacks()


def _exit_now() -> None:
    if _state["running"]:
        return  # the call from _run_exitfuncs below
    if getattr(sys, "last_value", None) is not None:
        return  # an uncaught exception: the usual exit, with its status
    if atexit._ncallbacks() != _state["registered_at"]:
        return
    _state["running"] = True
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream: nothing to write
            stream.flush()
    os._exit(0)
