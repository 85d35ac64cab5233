"""What spawnfix replaces in other modules: how (``Patches``), and, for the standard
library's private functions, the parameters it expects.

Every hook of spawnfix is a plain function put in place of another module's (no wrapt
proxy: importing wrapt costs more than a small ``Pool``'s whole budget, in every process
that starts a child). A mechanism keeps its replacements in one ``Patches``: ``replace``
records the attribute as it was (a ``staticmethod`` or ``classmethod`` stays one, an
inherited one is inherited again after ``undo``) and gives the replacement a
``__wrapped__`` that reaches the original function; ``undo`` puts every attribute back,
newest first. Both live here because every process that imports ``multiprocessing``
imports this module anyway: a module of their own would be one more import there.

A point release may change a private function (3.14 added ``bpe_message`` to
``_ExecutorManagerThread.terminate_broken``). Each replacement either passes its arguments
through as received, or is installed only where ``expects`` finds the parameters it was
written for; elsewhere the function is left alone and a debug line says so, and the
program runs as it would without spawnfix. ``EXPECTED`` lists every one, for the test that
checks them on each Python of the matrix. Not covered: a function whose parameters keep
their names but change their meaning.
"""

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# "module:qualified name" -> the leading parameters spawnfix's replacement relies on. The
# modules are multiprocessing's; its forks (multiprocess, billiard) are checked likewise.
EXPECTED = {
    "multiprocessing.spawn:get_preparation_data": ("name",),
    "multiprocessing.spawn:prepare": ("data",),
    "multiprocessing.spawn:_fixup_main_from_path": ("main_path",),
    "multiprocessing.spawn:_fixup_main_from_name": ("mod_name",),
    "multiprocessing.pool:worker": (
        "inqueue",
        "outqueue",
        "initializer",
        "initargs",
        "maxtasks",
        "wrap_exception",
    ),
    "multiprocessing.pool:Pool._maintain_pool": (
        "ctx",
        "Process",
        "processes",
        "pool",
        "inqueue",
        "outqueue",
        "initializer",
    ),
    "multiprocessing.pool:Pool._check_running": ("self",),
    "multiprocessing.popen_spawn_posix:Popen.duplicate_for_child": ("self", "fd"),
    "multiprocessing.resource_tracker:register": ("self", "name", "rtype"),
    "multiprocessing.reduction:ForkingPickler.dumps": ("cls", "obj", "protocol"),
    "multiprocessing.reduction:dump": ("obj", "file", "protocol"),
    "concurrent.futures.process:_ExecutorManagerThread.terminate_broken": ("self", "cause"),
    "multiprocessing.context:BaseContext.get_context": ("self", "method"),
    "multiprocessing.context:DefaultContext.get_context": ("self", "method"),
    "multiprocessing.context:DefaultContext.set_start_method": ("self", "method"),
    # Stood in for until the first launch (spawnfix.warm_forkserver), called as received.
    "multiprocessing.forkserver:ForkServer.ensure_running": ("self",),
}


def parameters(function: "Any") -> "tuple[str, ...]":
    """The positional parameter names of ``function``; a bound method's include ``self``."""
    function = getattr(function, "__func__", function)
    code = function.__code__
    return code.co_varnames[: code.co_argcount]


def expects(function: "Any", key: str) -> bool:
    """True when ``function`` starts with the parameters ``EXPECTED[key]`` names; else a
    debug line says that spawnfix leaves it alone."""
    wanted = EXPECTED[key]
    try:
        found = parameters(function)
    except AttributeError:  # a builtin or a callable object: not what we were written for
        found = ()
    if found[: len(wanted)] == wanted:
        return True
    from spawnfix.diagnostics import log_decision

    log_decision("%s has parameters %s, not %s: left alone", key, found, wanted)
    return False


class Patches:
    """The replacements one mechanism made, undone together."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._done)

    def replace(self, owner: "Any", name: str, replacement: "Any", wraps: bool = True) -> "Any":
        """Put ``replacement`` in place of ``owner.name``; return the original function
        (unwrapped from a ``staticmethod``/``classmethod``). ``wraps``: the replacement
        gets a ``__wrapped__`` reaching that function (not for a re-bound method that
        has its own)."""
        own = name in vars(owner)
        raw = vars(owner)[name] if own else getattr(owner, name)
        original = getattr(raw, "__func__", raw)
        if wraps:
            getattr(replacement, "__func__", replacement).__wrapped__ = original
        setattr(owner, name, replacement)
        self._done.append((owner, name, raw if own else _INHERITED))
        return original

    def holds(self, owner: "Any", name: str) -> bool:
        """Whether ``owner.name`` is one of the replacements made here."""
        return any(done is owner and done_name == name for done, done_name, _ in self._done)

    def undo(self) -> None:
        """Put back every attribute replaced, newest first."""
        while self._done:
            owner, name, raw = self._done.pop()
            if raw is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, raw)


# The attribute was inherited: ``undo`` removes the replacement again.
_INHERITED = object()
