"""Which top-level statement of the main script started each thread.

A child process started from a thread (a ``Pool``'s worker handler, dask's event loop, the
user's own ``threading.Thread``) has no top-level frame of the script on its stack. The
main thread's current statement is then a spawn site, but it may come *after* the
statement that started the thread (``worker.start()`` on one line, ``worker.join()`` on
the next): a child re-running up to the main thread's statement would start the thread
again. So, in the parent, every thread remembers the line of the main script's top-level
code that started it, directly or through the threads that started it, and the spawn
site is the earlier of the two.

``install`` wraps ``threading.Thread.start`` (a plain, reversible function replacement,
installed with the multiprocessing hook, never at interpreter startup). The wrapper walks
the starting thread's stack once per thread start, a few microseconds next to the start
itself. Threads started before ``install`` (before ``multiprocessing.spawn`` was imported)
carry no line.
"""

import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

# The attribute set on each thread started from the main script's top-level code.
ORIGIN_ATTRIBUTE = "_spawnfix_started_at_line"

# ``threading.Thread.start`` replaced (spawnfix.private_api.Patches), for ``uninstall``.
_patches: "Any" = None


def install(_package: "Any" = None) -> None:
    """Wrap ``threading.Thread.start`` to record where each thread came from (idempotent);
    the startup hook calls it when a multiprocessing package is imported."""
    global _patches
    if _patches:
        return
    import threading

    from spawnfix.private_api import Patches

    original = threading.Thread.start

    def start(self: "Any") -> None:
        try:
            line = origin_of_new_thread()
            if line is not None:
                setattr(self, ORIGIN_ATTRIBUTE, line)
        except Exception:  # fail open: the thread starts whatever happens here
            pass
        original(self)

    _patches = Patches()
    _patches.replace(threading.Thread, "start", start)


def uninstall() -> None:
    """Put the original ``threading.Thread.start`` back."""
    if _patches:
        _patches.undo()


def origin_of_new_thread() -> "Optional[int]":
    """The main script's top-level line that is starting a thread now, if any: the
    starting thread's own origin, else the top-level line on its stack."""
    import threading

    inherited = getattr(threading.current_thread(), ORIGIN_ATTRIBUTE, None)
    if inherited is not None:
        return inherited
    main_module = sys.modules.get("__main__")
    main_globals = getattr(main_module, "__dict__", None)
    frame: Any = sys._getframe(2)
    line = None
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            line = frame.f_lineno
        frame = frame.f_back
    return line


def origin_of_current_thread() -> "Optional[int]":
    """The top-level line that started the calling thread (or its ancestors), if known."""
    threading = sys.modules.get("threading")
    if threading is None:
        return None
    return getattr(threading.current_thread(), ORIGIN_ATTRIBUTE, None)
