"""Child side: a child that received the parent's values ends as a fork child ends.

A fork child ends with ``os._exit`` right after its target (``popen_fork``): the objects
it shares with the parent are never finalised there, and no exit handler of the parent's
modules runs in it. A spawn child ends with ``sys.exit``: its interpreter tears down,
running ``__del__`` methods and exit handlers. For a child that holds the parent's values
(``spawnfix.parent_values``) that teardown acts on the parent's resources: a global
``Workspace`` whose ``__del__`` removes its folder removes the parent's folder, a module
that saves its cache at exit writes its copy over the parent's.

So such a child, once ``BaseProcess._bootstrap`` has returned (the target ran, the
standard streams are flushed), runs multiprocessing's own exit function and ends with
``os._exit``, as a fork child does; and a value its re-run computed that a parent's value
replaced is kept alive until then (``keep``), so freeing it runs no finaliser either.
Not covered: a finaliser that runs while the child's target runs (the program's own code).
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# Values the child's re-run computed and the parent's values replaced: never freed here.
_kept: "list[Any]" = []
# The process modules whose ``_bootstrap`` ends the child like a fork child.
_patched: "set[str]" = set()


def keep(value: "Any") -> None:
    """Keep ``value`` alive for the rest of this child's life."""
    _kept.append(value)


def end_like_a_fork_child() -> None:
    """Make this child end with ``os._exit`` once its process has run (idempotent)."""
    for package in ("multiprocessing", "multiprocess", "billiard"):
        process = sys.modules.get(f"{package}.process")
        if process is None or package in _patched:
            continue
        original = process.BaseProcess._bootstrap

        util = sys.modules.get(f"{package}.util")

        def _bootstrap(
            self: "Any", *args: "Any", _original: "Any" = original, _util: "Any" = util, **kwargs
        ) -> "Any":
            code = _original(self, *args, **kwargs)
            # What a fork child runs at its end: multiprocessing's own exit function (its
            # queues' feeder threads flush there; 3.14+ call it from popen_fork, earlier
            # versions from _bootstrap, and a second call does nothing).
            if _util is not None:
                try:  # noqa: SIM105 (contextlib: an import each child would pay)
                    _util._exit_function()
                except Exception:  # fail open: the usual exit path is gone, end anyway
                    pass
            for stream in (sys.stdout, sys.stderr):
                try:  # noqa: SIM105 (contextlib: an import each child would pay)
                    stream.flush()
                except Exception:  # a closed or broken stream: nothing more to write
                    pass
            os._exit(code if isinstance(code, int) else 1)

        _bootstrap.__wrapped__ = original  # type: ignore[attr-defined]
        process.BaseProcess._bootstrap = _bootstrap
        _patched.add(package)
