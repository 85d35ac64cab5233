"""A fork server that is warm before it is needed.

``multiprocessing`` starts its fork server when the first forkserver child is launched;
the fork server then imports its preload (``spawnfix.forkserver_preload``: the main
script's imports, torch for a training script), and only after that can it fork the first
worker. By then the parent has long finished its own imports, so the two run one after
the other. Started ahead of need, the fork server imports beside the parent.

"Ahead of need" is when the program imports ``multiprocessing`` (the startup hook calls
``warm_if_needed`` then), or begins ``import torch``: torch imports multiprocessing only
a third of the way into its import, so the startup hook imports multiprocessing as that
import begins, and the fork server imports torch beside the parent from the start
(measured: the first DataLoader epoch then waits about 0.1 s for the fork server instead
of 0.45 s). Provided the main script's own source says it will start forkserver children:

- it has a process-start call (``Pool``, ``Process``, ``ProcessPoolExecutor``,
  ``DataLoader``, ``spawn``/``start_processes``), and
- it names ``"forkserver"`` (``get_context``, ``set_start_method``,
  ``multiprocessing_context=``, ``mp_context=``), or it names no start method at all and
  the default one is ``forkserver`` (Python 3.14+ on Linux);
- and it does not choose its own preload (``set_forkserver_preload``): the program keeps it;
- and, on Python 3.13.8+/3.14+, whose fork server imports a guarded main script itself, that
  import is not kept (``mp_hooks.keeps_guarded_main_in_fork_server``: it is kept when the
  script's top level reads ``__name__``, with ``SPAWNFIX_VALUES=0`` and the like):
  such an import must see the ``sys.argv`` and ``sys.path`` of the moment the first child
  starts. An unguarded script is always kept out of the fork server.

A start method read from a variable (``get_context(args.method)``) is not known from the
source: no warm start then, unless ``"forkserver"`` is written in that argument (a
default: ``os.environ.get("METHOD", "forkserver")``).

The fork server is started exactly as the first launch would start it
(``forkserver.ensure_running()``: the same ``sys.path``, ``sys.argv``, preload and
authentication key; later changes to ``os.environ`` still reach each child through
``spawnfix.inherited_config``); it prints nothing and is no ``Process`` (not in
``active_children()``). ``SPAWNFIX=0`` and ``SPAWNFIX_PRELOAD=0`` turn it off, as does
``SPAWNFIX_WARM=0``.
"""

import os
import sys
from functools import cached_property

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

START_CALLS = frozenset(
    {"Pool", "Process", "ProcessPoolExecutor", "DataLoader", "spawn", "start_processes"}
)
METHOD_CALLS = frozenset({"get_context", "set_start_method"})
METHOD_KEYWORDS = frozenset({"multiprocessing_context", "mp_context", "start_method"})
FORKSERVER = "forkserver"


def warm_if_needed(multiprocessing_module: "Any") -> None:
    """Start the fork server now if the main script will need it (see the module doc)."""
    main_module = sys.modules.get("__main__")
    path = getattr(main_module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py") or not warm_start_enabled():
        return
    # Every program that imports multiprocessing gets here: the source's text rules most
    # of them out before it is parsed (``_ast`` alone costs about a millisecond), and
    # before the default start method is worked out, which on 3.14.10+ imports
    # multiprocessing.util and tempfile (8 ms on 3.15) in a program that may never use it.
    source = _read(path)
    if source is None or not _may_start_forkserver_children(source, _default_method(predict=True)):
        return
    if FORKSERVER not in multiprocessing_module.get_all_start_methods():
        return
    default_method = _default_method()
    from spawnfix import main_script

    main_script.read_source(path, known=source)  # the parse reads these bytes, not the file
    script = main_script.load_script(path)
    if script is None or not will_start_forkserver_children(script, default_method):
        return
    if _fork_server_imports_main() and _imports_guarded_main(script):
        # This fork server imports the guarded main script itself, with the sys.argv and
        # sys.path the parent has when the first child starts: it must not start sooner.
        return
    from spawnfix import mp_hooks
    from spawnfix.diagnostics import log_decision

    try:
        from multiprocessing import context, forkserver

        mp_hooks.starting_ahead_of_need = True
        chosen = context._default_context._actual_context
        try:
            forkserver.ensure_running()
        finally:
            # ensure_running() reads get_start_method() for the preload's preparation
            # data, which fixes the default context: the program's own
            # set_start_method() would then fail with "context has already been set".
            context._default_context._actual_context = chosen
    except Exception as error:  # fail open: the first launch starts it, as natively
        log_decision("fork server not started ahead of need: %r", error)
        return
    finally:
        mp_hooks.starting_ahead_of_need = False
    log_decision("fork server started ahead of need (%s imports multiprocessing)", path)


def _imports_guarded_main(script: "Any") -> bool:
    if not any(statement.guarded for statement in script.statements):
        return False
    from spawnfix import mp_hooks

    return mp_hooks.keeps_guarded_main_in_fork_server(script)


def import_multiprocessing_first(_name: str) -> None:
    """Import multiprocessing as ``import torch`` begins, when the warm start is on.

    torch imports multiprocessing a third of the way into its import (0.3 of 1 s here):
    importing it first lets a warm fork server (``warm_if_needed``, run by that import's
    hook) import torch beside the parent from the start, not after the parent's first third.
    """
    if "multiprocessing" not in sys.modules and warm_start_enabled():
        import multiprocessing  # noqa: F401  (its import hook decides on the warm start)


def warm_start_enabled() -> bool:
    """Whether the warm start is on (not ``SPAWNFIX_WARM=0`` or ``SPAWNFIX_PRELOAD=0``);
    without any ``SPAWNFIX*`` variable the defaults hold, and config is not imported."""
    if not any(name.startswith("SPAWNFIX") for name in os.environ):
        return True
    from spawnfix import config

    return config.current().warm


def _read(path: str) -> "Optional[bytes]":
    # Read here, not through spawnfix.main_script: most programs that import
    # multiprocessing are ruled out by the text test below without that module.
    import io

    try:
        with io.open_code(path) as handle:
            return handle.read()
    except OSError:
        return None


def _may_start_forkserver_children(source: bytes, default_method: "Optional[str]") -> bool:
    # A cheap test of the source's text: a start call (``Pool(``), and "forkserver"
    # written or the default method; no set_forkserver_preload. (``Pool (`` with a space
    # is missed: the fork server then starts with the first child, as natively.)
    if b"set_forkserver_preload" in source:
        return False
    if not any(f"{name}(".encode() in source for name in START_CALLS):
        return False
    return FORKSERVER.encode() in source or default_method == FORKSERVER


def _fork_server_imports_main() -> bool:
    # 3.13.8+ and 3.14+ pass the main script to the fork server (gh-126631).
    version = sys.version_info
    return version >= (3, 14) or (version[:2] == (3, 13) and version >= (3, 13, 8))


def _default_method(predict: bool = False) -> "Optional[str]":
    # The start method a program gets without choosing one, read without fixing it (a
    # get_context() call would, and a later set_start_method() would then fail). From
    # 3.14.10 the platform default is a cached_property worked out when first read;
    # ``predict`` answers without reading it (forkserver wherever it can pass handles).
    try:
        from multiprocessing import context, reduction

        default = context._default_context
        if default._actual_context is not None:
            return str(default._actual_context._name)
        lazy = isinstance(vars(type(default)).get("_default_context"), cached_property)
        if predict and lazy and "_default_context" not in vars(default):
            usable = reduction.HAVE_SEND_HANDLE and sys.platform != "darwin"
            return FORKSERVER if usable else "spawn"
        return str(default._default_context._name)
    except Exception:
        return None


def will_start_forkserver_children(script: "Any", default_method: "Optional[str]") -> bool:
    """Whether the script's source starts processes under ``forkserver`` (see above)."""
    import _ast

    from spawnfix.main_script import walk

    starts = False
    methods: set[Optional[str]] = set()
    for node in walk(script.tree):
        if not isinstance(node, _ast.Call):
            continue
        name = _call_name(node.func)
        if name == "set_forkserver_preload":
            return False
        starts = starts or name in START_CALLS
        if name in METHOD_CALLS and node.args:
            methods.add(_literal(node.args[0]))
        for keyword in node.keywords:
            if keyword.arg in METHOD_KEYWORDS:
                methods.add(_literal(keyword.value))
    if not starts:
        return False
    if FORKSERVER in methods:
        return True
    return not methods and default_method == FORKSERVER


def _call_name(func: "Any") -> "Optional[str]":
    import _ast

    if isinstance(func, _ast.Attribute):
        return func.attr
    if isinstance(func, _ast.Name):
        return func.id
    return None


def _literal(node: "Any") -> "Optional[str]":
    # The method a call names: a string, or "forkserver" written anywhere in the argument
    # (``os.environ.get("METHOD", "forkserver")``: most likely that); None: not known.
    import _ast

    from spawnfix.main_script import walk

    if isinstance(node, _ast.Constant) and isinstance(node.value, str):
        return node.value
    for inner in walk(node):
        if isinstance(inner, _ast.Constant) and inner.value == FORKSERVER:
            return FORKSERVER
    return None
