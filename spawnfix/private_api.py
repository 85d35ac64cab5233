"""The standard library's private functions spawnfix replaces, and the parameters it expects.

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
