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
authentication key), but for the resource tracker, which the first launch starts, as
natively; it prints nothing and is no ``Process`` (not in ``active_children()``).
``SPAWNFIX=0`` and ``SPAWNFIX_PRELOAD=0`` turn it off, as does ``SPAWNFIX_WARM=0``.

It is a speculation, checked at the first launch. The fork server, and every child it
forks, keeps what the parent was when it started, not what the parent is at the first
``start()``: a ``main()`` that narrows the umask, lowers a limit, ignores SIGINT while its
Pool starts, changes directory, puts a vendored module first on ``sys.path`` or sets a
variable that a module reads at import would get other workers than natively. So the
parent's state is recorded as the fork server starts (``spawnfix.process_state``) and
compared when the first launch calls ``ensure_running``: unchanged, the warm fork server
is used; changed, it is discarded (its pipe closed so that it exits, reaped once the new
one has started) and the standard library starts one then, as natively; the debug line
names what changed. Recording and comparing cost about 40 and 50 µs, once. A child
forked before the first launch (a daemon) forgets the warm fork server
(``os.register_at_fork``): its first launch starts its own, as natively, and its copy of
the pipe no longer keeps the parent's fork server, and whatever reads that one's stdout,
waiting.
"""

import _thread
import contextlib
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
    from spawnfix import running_script

    try:
        running_script.read_source(path, known=source)  # the parse reads these bytes, not the file
    except OSError:  # edited since the program started: no fork server ahead of need
        return
    script = running_script.load_script(path)
    if script is None or not will_start_forkserver_children(script, default_method):
        return
    if _fork_server_imports_main() and _imports_guarded_main(script):
        # This fork server imports the guarded main script itself, with the sys.argv and
        # sys.path the parent has when the first child starts: it must not start sooner.
        return
    from spawnfix import mp_hooks, process_state
    from spawnfix.diagnostics import log_decision

    try:
        from multiprocessing import context, forkserver, resource_tracker

        server = forkserver._forkserver
        if not _can_check(server):
            return
        state = process_state.capture()
        mp_hooks.starting_ahead_of_need = True
        chosen = context._default_context._actual_context
        start_tracker = resource_tracker.ensure_running
        # The resource tracker starts at the first launch, as natively: started now, it
        # would hold the stdout the program has now, and a process that forks (a daemon)
        # would share it.
        resource_tracker.ensure_running = _start_tracker_later
        try:
            forkserver.ensure_running()
        finally:
            resource_tracker.ensure_running = start_tracker
            # ensure_running() reads get_start_method() for the preload's preparation
            # data, which fixes the default context: the program's own
            # set_start_method() would then fail with "context has already been set".
            context._default_context._actual_context = chosen
        state.update(_fork_server_settings(server))
    except Exception as error:  # fail open: the first launch starts it, as natively
        log_decision("fork server not started ahead of need: %r", error)
        return
    finally:
        mp_hooks.starting_ahead_of_need = False
    _await_first_launch(forkserver, server, state)
    log_decision("fork server started ahead of need (%s imports multiprocessing)", path)


def _start_tracker_later() -> None:
    pass


# What the first launch's check reads of the fork server, and resets to discard it.
_SERVER_STATE = ("_forkserver_pid", "_forkserver_alive_fd", "_forkserver_address", "_lock")


def _can_check(server: "Any") -> bool:
    from spawnfix.private_api import expects

    if not all(hasattr(server, name) for name in _SERVER_STATE):
        from spawnfix.diagnostics import log_decision

        log_decision("fork server not started ahead of need: it has no %s", _SERVER_STATE)
        return False
    return expects(
        type(server).ensure_running, "multiprocessing.forkserver:ForkServer.ensure_running"
    )


def _fork_server_settings(server: "Any") -> "dict[str, Any]":
    # What the program may change through multiprocessing itself after the warm start.
    from multiprocessing import spawn

    return {
        "executable (set_executable)": spawn.get_executable(),
        "fork server preload (set_forkserver_preload)": list(server._preload_modules),
    }


# The parent's state (spawnfix.process_state) when its warm fork server started: kept
# until the first launch compares it with the parent's state then; None once compared,
# in a child forked meanwhile, and where no warm fork server was started.
_speculation: "Optional[dict[str, Any]]" = None

# Whether this process has registered its fork hooks (at most once).
_fork_hook_registered = False

# Held by every os.fork() (register_at_fork's ``before``) and while the first launch
# discards the warm fork server: a child forked in between would keep its pipe open.
_fork_lock = _thread.allocate_lock()


def _await_first_launch(forkserver: "Any", server: "Any", state: "dict[str, Any]") -> None:
    global _speculation, _fork_hook_registered
    original = server.ensure_running

    def ensure_running() -> None:
        discarded = None
        try:
            with server._lock:
                discarded = _check_at_first_launch(forkserver, server)
        except Exception as error:  # fail open: the fork server as it is
            from spawnfix.diagnostics import log_decision

            log_decision("warm fork server not checked: %r", error)
        original()
        if discarded is not None:
            _reap(discarded)

    ensure_running.spawnfix_original = original  # type: ignore[attr-defined]
    _speculation = state
    # connect_to_new_process() calls self.ensure_running(); the module's name for it is
    # a copy of the bound method, for programs that call it themselves.
    server.ensure_running = forkserver.ensure_running = ensure_running
    if not _fork_hook_registered:
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_forget_in_fork_child,
        )
        _fork_hook_registered = True


def _check_at_first_launch(forkserver: "Any", server: "Any") -> "Optional[int]":
    """Keep the warm fork server if what its children inherit is unchanged; otherwise
    detach it (its pid is returned, to be reaped) so that one starts now, as natively."""
    global _speculation
    from spawnfix import process_state
    from spawnfix.diagnostics import log_decision

    if _speculation is None:
        return None  # checked by another thread
    now: Optional[dict[str, Any]] = None
    failure = ""
    try:
        now = process_state.capture()
        now.update(_fork_server_settings(server))
    except Exception as error:  # not known to be unchanged: as natively
        failure = f"what (not checked: {error!r})"
    with _fork_lock:
        state, _speculation = _speculation, None
        stop_checking(forkserver, server)
        if state is None or server._forkserver_pid is None:
            return None  # checked by another thread, or stopped by the program
        changed = failure if now is None else process_state.first_change(state, now)
        discarded = _detach(server) if changed is not None else None
    if changed is None:
        log_decision("warm fork server used: nothing its children inherit has changed")
    else:
        log_decision(
            "warm fork server discarded: %s changed since it started; the fork server "
            "starts now, as natively",
            changed,
        )
    return discarded


def stop_checking(forkserver: "Any", server: "Any") -> None:
    """Put back the fork server's own ``ensure_running`` (a second call does nothing)."""
    patched = vars(server).get("ensure_running")
    original = getattr(patched, "spawnfix_original", None)
    if original is None:
        return
    if getattr(original, "__func__", None) is getattr(type(server), "ensure_running", None):
        del server.ensure_running
    else:
        server.ensure_running = original
    if forkserver.ensure_running is patched:
        forkserver.ensure_running = original


def _detach(server: "Any") -> int:
    # ForkServer._stop_unlocked (3.12+) without its wait: the fork server may still be
    # importing its preload; it is reaped once the new one has started beside it.
    from multiprocessing import util

    pid, alive, address = (
        server._forkserver_pid,
        server._forkserver_alive_fd,
        server._forkserver_address,
    )
    _forget(server)
    if alive is not None:
        os.close(alive)  # the only write end: the fork server reads EOF and exits
    if address and not util.is_abstract_socket_namespace(address):
        with contextlib.suppress(OSError):
            os.unlink(address)
    return int(pid)


def _forget(server: "Any") -> None:
    # The state of a ForkServer that has started nothing (3.14 adds the authkey).
    server._forkserver_pid = server._forkserver_alive_fd = server._forkserver_address = None
    if hasattr(server, "_forkserver_authkey"):
        server._forkserver_authkey = None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # reaped by the program (waits for any)
        os.waitpid(pid, 0)


def _before_fork() -> None:
    _fork_lock.acquire()


def _after_fork_in_parent() -> None:
    _fork_lock.release()


def _forget_in_fork_child() -> None:
    """In a child forked before the first launch (a daemon): forget the parent's warm
    fork server, so that the child's first launch starts its own, as natively. Its copy
    of the pipe would keep that fork server, and whatever reads its stdout, waiting."""
    global _speculation, _fork_lock
    _fork_lock = _thread.allocate_lock()  # the parent's copy is held by _before_fork
    if _speculation is None:
        return
    _speculation = None
    from spawnfix.diagnostics import log_decision

    try:
        forkserver = sys.modules["multiprocessing.forkserver"]
        server = forkserver._forkserver
        stop_checking(forkserver, server)
        alive = server._forkserver_alive_fd
        _forget(server)
        if alive is not None:
            os.close(alive)
    except Exception as error:  # never raise from a fork hook
        log_decision("forked child could not forget the warm fork server: %r", error)
        return
    log_decision("forked before the first launch: the child forgets the warm fork server")


def _imports_guarded_main(script: "Any") -> bool:
    from spawnfix import mp_hooks

    # Judged as the warm start would (the program may not have named its method yet).
    return mp_hooks.fork_server_imports_main(script, ahead_of_need=True)


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
    # Read here, not through spawnfix.running_script: most programs that import
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
