"""Child, in the re-run: no put into a queue and no change through a manager proxy.

A child that gets the parent's values shares the parent's ``multiprocessing`` objects: its
``Queue`` is the parent's queue, its ``Manager().dict()`` proxy the parent's dictionary. A
top-level helper the re-run calls again (``fill_queue()``, ``register(shared)``) would put
every task a second time, or change the parent's dictionary again, from each child. Under
fork the child never runs it. So, inside the statements the re-run refuses effects for
(``spawnfix.effect_guard``), ``put`` on a queue of ``multiprocessing.queues`` and a
changing method called through a manager proxy (``__setitem__``, ``append``, ``update``,
...) raise ``EffectRefused``: the statement is skipped, as one that would write a file.

Only the ``multiprocessing`` package (not its ``multiprocess`` or ``billiard`` forks);
reading through a proxy, and a ``Connection``'s ``send``, are left alone.
"""

import sys

from spawnfix.private_api import Patches

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

# Proxy methods that change the shared object (dict, list, Namespace, Value, queues).
_CHANGING = frozenset(
    {
        "__setitem__",
        "__delitem__",
        "__setattr__",
        "__delattr__",
        "__iadd__",
        "__imul__",
        "append",
        "clear",
        "extend",
        "insert",
        "pop",
        "popitem",
        "put",
        "put_nowait",
        "remove",
        "reverse",
        "set",
        "setdefault",
        "sort",
        "update",
    }
)

# What is replaced now (spawnfix.private_api.Patches).
_replaced = Patches()


def refuse_while(refusing: "Callable[[], bool]", refused: "Callable[[str], Exception]") -> None:
    """Make queue puts and proxy changes raise ``refused(what)`` while ``refusing()``
    (the modules imported by now; called again, it adds those imported since)."""
    queues = sys.modules.get("multiprocessing.queues")
    if queues is not None:
        for kind in (queues.Queue, queues.JoinableQueue, queues.SimpleQueue):
            if not _replaced.holds(kind, "put") and "put" in vars(kind):
                put = _refusing_put(vars(kind)["put"], refusing, refused)
                _replaced.replace(kind, "put", put)
    managers = sys.modules.get("multiprocessing.managers")
    proxy = getattr(managers, "BaseProxy", None)
    if proxy is not None and not _replaced.holds(proxy, "_callmethod"):
        call = _refusing_call(proxy._callmethod, refusing, refused)
        _replaced.replace(proxy, "_callmethod", call)


def restore() -> None:
    """Put every original back."""
    _replaced.undo()


def _refusing_put(original: "Any", refusing: "Any", refused: "Any") -> "Any":
    def put(self: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        if refusing():
            raise refused(f"put into a {type(self).__name__} the parent shares")
        return original(self, *args, **kwargs)

    return put


def _refusing_call(original: "Any", refusing: "Any", refused: "Any") -> "Any":
    def _callmethod(self: "Any", methodname: str, *args: "Any", **kwargs: "Any") -> "Any":
        if methodname in _CHANGING and refusing():
            raise refused(f"{methodname} through a manager proxy the parent shares")
        return original(self, methodname, *args, **kwargs)

    return _callmethod
