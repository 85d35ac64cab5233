"""Fork server preload: the main script's imports, imported once in the fork server.

Every forkserver child forks from the fork server, so a module the fork server has
imported is free in every child; one it has not is imported again by each child (torch:
seconds per ``DataLoader`` worker). Python 3.13.8+/3.14 preload the main script there,
which spawnfix withholds for an unguarded script (running it would run the program), and
3.9-3.13 preload nothing.

Parent side (``choose_preload``, called from the ``get_preparation_data('ignore')`` call
that ``ForkServer.ensure_running`` makes just before it starts the fork server): unless the
program chose its own preload (``set_forkserver_preload``) or ``SPAWNFIX_PRELOAD=0``, the
modules named by the main script's top-level ``import`` and ``from ... import`` statements
(also those inside a top-level ``try``; read from the source, never by running the script),
in source order, guarded or not, then the modules each child imports as it starts where
the script's text starts a ``Pool``, a ``ProcessPoolExecutor`` or a ``DataLoader``
(``CHILD_START_MODULES``: the pool module, the queues, the locks), are handed to the fork
server: its preload list becomes
``['__main__', 'spawnfix.run_preload']`` followed by the settings, one entry each
(``encode_settings``: ``spawnfix.run_preload:module:NAME``, ``...:script:PATH``). The
fork server gets its preload list on its command line, as the standard library sends it
(with the parent's ``sys.path``); nothing is put in the parent's environment. The
program's own modules (``spawnfix.user_modules``) are preloaded only for a program written
for fork, without effects (``spawnfix.quiet_imports``: their top level ran in the parent,
and a fork server that may never serve a child must not run it again); for one that chose
its start method they are not (each child imports them as natively).

Fork-server side (``preload_in_fork_server``, run by importing ``spawnfix.run_preload``):
the settings are read from the list ``forkserver.main`` is going through, which then ends
there (a fork server without spawnfix cannot import the runner, and no import finds the
settings' names: it preloads nothing more, as natively); ``sys.path`` is the parent's, as
``forkserver.main`` received it. Each module is imported; one that raises (any exception)
is skipped, and the exit handlers its import registered are removed (the fork server
outlives the program: a module that saves its state at exit would overwrite what the
program saved). If the fork server has more than one Python thread after an import (the
module started one: forking it would be unsafe), the fork server re-executes itself
without that module. Native threads started by extensions (torch starts one at import)
are not counted: those libraries handle fork themselves, as they must under the ``fork``
start method. Each decision is logged
under ``SPAWNFIX_DEBUG``. Then the fork server imports spawnfix's own child side and reads
and parses the main script once for all its children (each re-runs it), and is set to
exit without tearing its modules down (``spawnfix.forkserver_exit``). Only
``multiprocessing``'s fork server is covered (not the ``multiprocess`` or ``billiard``
ones); the re-execution needs Linux's ``/proc`` or Python 3.10+ (``sys.orig_argv``),
elsewhere the module is kept and the fact logged.
"""

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Optional

SKIP_VARIABLE = "SPAWNFIX_FORKSERVER_SKIP"
RUNNER_MODULE = "spawnfix.run_preload"
DEFAULT_PRELOAD = ["__main__"]


def choose_preload(data: "dict[str, Any]", imports_main: "Callable[[Any], bool]") -> None:
    """Parent: extend the starting fork server's preload with the script's imports.
    ``imports_main(script)``: whether this fork server imports the main script itself
    (``spawnfix.mp_hooks.fork_server_imports_main`` decides it)."""
    from spawnfix import config
    from spawnfix.diagnostics import log_decision

    if not config.current().preload:
        log_decision("fork server preload left alone: SPAWNFIX_PRELOAD=0")
        return
    server = _fork_server()
    if server is None or program_chose_preload(server):
        log_decision("fork server preload chosen by the program: left alone")
        return
    path = _script_path(data)
    modules = modules_to_preload(path)
    for_children = modules_children_import(path)
    if not modules and not for_children:
        return
    global _default_preload_list
    settings = encode_settings([*modules, *for_children], path)
    if _children_get_fork_values(path, imports_main):
        settings.append(QUIET_USER_MODULES)
    # spawnfix's own list is not the program's choice (program_chose_preload).
    server._preload_modules = _default_preload_list = [*DEFAULT_PRELOAD, RUNNER_MODULE, *settings]
    log_decision(
        "fork server will preload %s; for its children's start: %s",
        ", ".join(modules) or "nothing of the script's",
        ", ".join(for_children) or "nothing more",
    )


# The setting by which the fork server imports the program's own modules among its preload
# without effects (its children get the parent's values on top, as a fork child has them).
QUIET_USER_MODULES = "spawnfix.run_preload:user-modules:quiet"


def _children_get_fork_values(path: "Optional[str]", imports_main: "Callable[[Any], bool]") -> bool:
    # Whether this fork server's children are a program's written for fork: those of a
    # script the fork server does not import (unguarded, or guarded and withheld).
    from spawnfix import running_script

    script = running_script.load_script(path)
    if script is None or script.tree is None:
        return False
    return not imports_main(script)


# The preload list the fork server object was made with: a program that calls
# set_forkserver_preload() replaces it (even with an equal list, ["__main__"]).
_default_preload_list: "Optional[list[str]]" = None


def note_default_preload(forkserver_module: "Any") -> None:
    """When ``multiprocessing.forkserver`` is imported: remember its default list."""
    global _default_preload_list
    server = getattr(forkserver_module, "_forkserver", None)
    _default_preload_list = getattr(server, "_preload_modules", None)


def _fork_server() -> "Any":
    forkserver_module = sys.modules.get("multiprocessing.forkserver")
    return getattr(forkserver_module, "_forkserver", None)


def program_chose_preload(server: "Any" = None) -> bool:
    """Whether the program called ``set_forkserver_preload`` (the fork server keeps it)."""
    server = server if server is not None else _fork_server()
    if server is None:
        return False
    if _default_preload_list is not None:
        return server._preload_modules is not _default_preload_list
    return list(server._preload_modules) != DEFAULT_PRELOAD


def _script_path(data: "dict[str, Any]") -> "Optional[str]":
    from spawnfix import running_script

    main_module = sys.modules.get("__main__")
    path = running_script.rerun_path(main_module, data)
    if path is None and data.get("init_main_from_name") is None:
        path = running_script.main_script_path(main_module)
    return path


def modules_to_preload(path: "Optional[str]") -> "list[str]":
    """The modules imported by the script's top-level import statements, in order."""
    from spawnfix import running_script

    # The launch that starts the fork server has usually read the script already.
    script = running_script.load_script(path)
    if script is None:
        return []
    return imported_modules(script.tree.body)


# What a forkserver child imports to unpickle what its parent sends it and to start, by
# the start call that makes such children (measured: on 3.14 a Pool worker imported these
# and, through them, tempfile, shutil, the compression modules, traceback and inspect; a
# DataLoader worker the queues, the locks and numpy.random; a Process child nothing).
# Imported once in the fork server, they are free in every child, as they are under fork,
# where the parent has them already.
_QUEUES_AND_LOCKS = (
    "multiprocessing.queues",
    "multiprocessing.synchronize",
    "multiprocessing.popen_forkserver",
)
CHILD_START_MODULES = {
    b"Pool(": ("multiprocessing.pool", *_QUEUES_AND_LOCKS),
    b"PoolExecutor(": ("concurrent.futures.process", *_QUEUES_AND_LOCKS),
    # torch's worker loop seeds numpy's generator where numpy is installed (skipped
    # where it is not, as any preload that fails to import).
    b"DataLoader(": (*_QUEUES_AND_LOCKS, "numpy.random"),
}


def modules_children_import(path: "Optional[str]") -> "list[str]":
    """The modules the script's children will import as they start, by the start calls
    its text names (``CHILD_START_MODULES``), but for those of its own imports."""
    from spawnfix import running_script

    script = running_script.load_script(path)
    if script is None:
        return []
    own = modules_to_preload(path)
    names: list[str] = []
    for call, modules in CHILD_START_MODULES.items():
        if call in script.source:
            names.extend(name for name in modules if name not in names and name not in own)
    return names


def imported_modules(statements: "list[Any]") -> "list[str]":
    """Absolute module names of ``import``/``from`` statements (and inside ``try``)."""
    import _ast

    names: list[str] = []
    for node in statements:
        if isinstance(node, _ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, _ast.ImportFrom):
            skip = node.level or node.module in (None, "__future__")
            found = [] if skip else [node.module]
        elif isinstance(node, _ast.Try):
            found = imported_modules(node.body)
        else:
            found = []
        names.extend(name for name in found if name not in names)
    return names


def preload_in_fork_server() -> None:
    """Fork server: import the chosen modules; skip the ones that fail or start threads."""
    found = _settings_from_fork_server_main()
    if found is None:
        _log("fork server: no preload settings found (not started by forkserver.main)")
        return
    (modules, main_path), sys_path, quiet = found
    skipped = [name for name in os.environ.get(SKIP_VARIABLE, "").split(",") if name]
    if sys_path:
        sys.path[:] = sys_path
    import atexit

    from spawnfix.quiet_imports import importing_users_modules_quietly
    from spawnfix.user_modules import is_users_own_before_import

    for name in modules:
        if name in skipped or name in sys.modules:
            continue
        if not quiet and is_users_own_before_import(name):
            # Its top level is the program's: a child of a program that chose its start
            # method runs it as natively.
            _log("fork server: %s is the program's own module: not preloaded", name)
            continue
        with importing_users_modules_quietly(quiet):
            registered = _exit_handlers_registered_by(atexit, __import__, name)
        if registered is None:
            continue
        for handler in registered:
            atexit.unregister(handler)
        if _thread_count() > 1:
            _restart_without(name, skipped)
    _prepare_for_children(main_path)
    from spawnfix.forkserver_exit import exit_without_teardown

    exit_without_teardown()


def _exit_handlers_registered_by(atexit: "Any", importer: "Any", name: str) -> "Optional[list]":
    # The exit handlers a module's import registers (None: the import raised, skipped).
    registered: list = []
    original = atexit.register

    def register(function: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        registered.append(function)
        return original(function, *args, **kwargs)

    atexit.register = register
    try:
        importer(name)
    except Exception as error:
        _log("fork server: skipped preloading %s, its import raised %r", name, error)
        return None
    finally:
        atexit.register = original
    if registered:
        _log("fork server: %s registered exit handlers; removed (the program runs its own)", name)
    return registered


def _settings_from_fork_server_main() -> (
    "Optional[tuple[tuple[list[str], Optional[str]], Any, bool]]"
):
    # forkserver.main(listener_fd, alive_r, preload, main_path, sys_path) is importing the
    # entries of ``preload`` one by one, this module's among them: read the entries after
    # it, and end the list there so that main() does not try them as modules.
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and frame.f_globals.get("__name__", "").endswith("forkserver"):
            preload = frame.f_locals.get("preload")
            if isinstance(preload, list) and RUNNER_MODULE in preload:
                at = preload.index(RUNNER_MODULE)
                entries = preload[at + 1 :]
                del preload[at + 1 :]
                quiet = QUIET_USER_MODULES in entries
                return decode_settings(entries), frame.f_locals.get("sys_path"), quiet
        frame = frame.f_back
    return None


SETTING_PREFIX = RUNNER_MODULE + ":"


def encode_settings(modules: "list[str]", main_path: "Optional[str]") -> "list[str]":
    """The fork server's settings as entries of its preload list: no import finds a module
    by these names, so a fork server without spawnfix ignores them as the standard library
    ignores every preload entry that fails to import."""
    entries = [f"{SETTING_PREFIX}module:{name}" for name in modules]
    if main_path:
        entries.append(f"{SETTING_PREFIX}script:{main_path}")
    return entries


def decode_settings(entries: "list[str]") -> "tuple[list[str], Optional[str]]":
    """The modules and the script path that ``encode_settings`` wrote (others ignored)."""
    modules, main_path = [], None
    for entry in entries:
        kind, _, value = entry[len(SETTING_PREFIX) :].partition(":")
        if not entry.startswith(SETTING_PREFIX) or not value:
            continue
        if kind == "module":
            modules.append(value)
        elif kind == "script":
            main_path = value
    return modules, main_path


# What every forkserver child of spawnfix's imports to prepare itself (re-run the main
# script with the parent's values, report a pool worker's start): imported once here.
CHILD_SIDE_MODULES = (
    "spawnfix.child_exit",
    "spawnfix.child_start",
    "spawnfix.child_values",
    "spawnfix.effect_guard",
    "spawnfix.global_references",
    "spawnfix.handoff",
    "spawnfix.inherited_config",
    "spawnfix.main_script",
    "spawnfix.rerun",
    "spawnfix.running_script",
    "spawnfix.shared_files",
    "spawnfix.startup_reports",
)


def _prepare_for_children(main_path: "Optional[str]") -> None:
    # Each child would import these and read and parse the main script for its re-run;
    # a fork of the fork server has them already.
    try:
        for name in CHILD_SIDE_MODULES:
            __import__(name)
        from spawnfix.running_script import load_script

        load_script(main_path)
    except Exception as error:  # fail open: each child does it itself
        _log("fork server: spawnfix's child side not prepared: %r", error)


def _thread_count() -> int:
    # Python threads only: a thread a module starts at import (an exporter, a watcher)
    # holds Python locks a forked child would inherit locked. Native threads that
    # extensions start (torch starts one) are theirs to handle across fork
    # (pthread_atfork), as they do for the ``fork`` start method.
    threading = sys.modules.get("threading")
    return threading.active_count() if threading is not None else 1


def _restart_without(name: str, skipped: "list[str]") -> None:
    command = _own_command_line()
    if command is None:
        _log("fork server: %s started a thread; cannot restart here, keeping it", name)
        return
    _log(
        "fork server: %s started a thread at import (forking a threaded process is "
        "unsafe); restarting the fork server without it",
        name,
    )
    os.environ[SKIP_VARIABLE] = ",".join([*skipped, name])
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *command[1:]])


def _own_command_line() -> "Optional[list[str]]":
    argv = getattr(sys, "orig_argv", None)
    if argv:
        return list(argv)
    try:
        with open("/proc/self/cmdline", "rb") as handle:
            parts = handle.read().split(b"\0")
    except OSError:
        return None
    return [os.fsdecode(part) for part in parts if part]


def _log(message: str, *args: "Any") -> None:
    from spawnfix.diagnostics import log_decision

    log_decision(message, *args)
