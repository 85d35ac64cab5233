"""The startup hook, run by ``spawnfix.pth`` (Python <= 3.14) or ``spawnfix.start`` (3.15+).

Every interpreter in the environment runs ``activate()``, so it must be cheap, standard
library only, idempotent and fail-open:

- unless spawnfix is off, it registers post-import hooks (``when_imported``) for
  ``multiprocessing`` and its ``spawn`` module (and those of the ``multiprocess`` and
  ``billiard`` forks), ``multiprocessing.pool``, ``concurrent.futures.process``,
  ``cloudpickle`` and ``wandb``: the patches are applied when the program imports those
  modules, or at once if they already are; and one hook for the start of ``import torch``
  (``when_importing``), which imports ``multiprocessing`` first (see
  ``spawnfix.warm_forkserver``);
- it imports neither wrapt, nor multiprocessing, nor wandb, nor ``typing``; the whole hook
  is this module and the package's ``__init__``. ``spawnfix.config`` is imported only when
  a ``SPAWNFIX*`` variable is set, since the defaults need no parsing;
- a second call (virtual environments run ``.pth`` lines twice on Python < 3.15) does
  nothing, and no exception ever escapes.

The post-import finder does not cope with module reloads (the callback does not run
again) or with loaders that lack ``exec_module``; neither applies to the two modules
watched here.
"""

import os
import sys

# Whether activate() has run in this process, and what it decided (for `spawnfix doctor`).
_activated = False
status = []
# The .pth or .start file whose line called activate() (site's frame says), or None.
started_by = None
# warnings.filters as the interpreter set them up (recorded when warnings is imported).
initial_warning_filters = None

# Callbacks waiting for their module, by module name; an entry is removed when it runs.
_pending = {}
# Callbacks to run when the import of a module begins (before its body), by module name.
_before = {}

_CONFIG_REPORTED = "SPAWNFIX_CONFIG_REPORTED"
# multiprocessing.spawn.get_command_line() passes it to every spawned child.
SPAWN_CHILD_FLAG = "--multiprocessing-fork"
_VARIABLES = ("SPAWNFIX", "SPAWNFIX_DEBUG", "SPAWNFIX_PRELOAD")
# multiprocessing and the forks of it that share its spawn module's shape.
MULTIPROCESSING_PACKAGES = ("multiprocessing", "multiprocess", "billiard")
SPAWN_MODULES = tuple(f"{package}.spawn" for package in MULTIPROCESSING_PACKAGES)


def activate() -> None:
    """Install spawnfix's lazy hooks in this interpreter (idempotent, never raises)."""
    global _activated, started_by
    if _activated:
        return
    _activated = True
    try:
        started_by = _startup_file(sys._getframe(1))
        _activate()
    except Exception as error:  # fail open: the user's program must start regardless
        status.append(f"activation failed: {error!r}")
        try:
            from spawnfix.diagnostics import log_decision

            log_decision("activation failed, spawnfix is inactive: %r", error)
        except Exception:
            pass


def _startup_file(frame):
    # site runs a .pth import line with exec() in a frame holding ``fullname`` (3.8-3.15)
    # and calls a .start entry point from a frame holding ``filename`` (3.15+, PEP 829).
    for _ in range(3):
        if frame is None:
            return None
        for name in ("fullname", "filename"):
            value = frame.f_locals.get(name)
            if isinstance(value, str) and value.endswith(("spawnfix.pth", "spawnfix.start")):
                return value
        frame = frame.f_back
    return None


def is_active() -> bool:
    """Whether the hooks were installed in this process."""
    return _activated and "hooks registered" in status


def _activate():
    if any(name in os.environ for name in _VARIABLES):
        from spawnfix import config

        settings = config.current()
        if not settings.understood:
            _report_unknown_mode(settings.raw_mode or "")
        if not settings.active:
            status.append("off: SPAWNFIX disables it")
            return
    # A spawned child's own top-level code is never on the stack when it starts a process
    # (it runs the parent's target), so the parent-side patches are useless there and
    # would cost every worker their imports: its re-run of the main script is handled
    # when the parent's plan is unpickled, which installs the patch for grandchildren
    # (spawnfix.rerun); and it needs by-value pickling only once it has received
    # something by value (cloudpickle is then imported), to send such objects back.
    if SPAWN_CHILD_FLAG not in sys.argv:
        for spawn_module in SPAWN_MODULES:
            when_imported(spawn_module, _patch_multiprocessing)
        # Threads started before the first child need their origin recorded too.
        for package in MULTIPROCESSING_PACKAGES:
            when_imported(package, _record_thread_origins)
        # A script that will start forkserver children gets its fork server now, so that
        # its preload imports beside the program's own (spawnfix.warm_forkserver).
        when_imported("multiprocessing", _warm_fork_server)
        when_importing("torch", _import_multiprocessing_first)
        when_imported("multiprocessing.forkserver", _note_default_preload)
        when_imported("multiprocessing.pool", _watch_pools)
        when_imported("concurrent.futures.process", _watch_executors)
        # What a fresh interpreter's warnings filters are: only the program's changes to
        # them are given to children (spawnfix.inherited_config).
        when_imported("warnings", _record_initial_warning_filters)
    # By-value pickling is installed at the first spawn or forkserver launch
    # (spawnfix.mp_hooks), and in any process that has imported cloudpickle (a worker
    # that received something by value sends such objects back the same way).
    when_imported("cloudpickle", _send_by_value_back)
    when_imported("wandb", _patch_wandb)
    status.append("hooks registered")


def _record_initial_warning_filters(warnings_module):
    global initial_warning_filters
    initial_warning_filters = tuple(warnings_module.filters)


def _patch_multiprocessing(spawn_module):
    from spawnfix import mp_hooks

    mp_hooks.install(spawn_module)


def _record_thread_origins(_package):
    from spawnfix import thread_sites

    thread_sites.install()


def _warm_fork_server(multiprocessing_module):
    from spawnfix import warm_forkserver

    warm_forkserver.warm_if_needed(multiprocessing_module)


def _import_multiprocessing_first(_name):
    # torch imports multiprocessing a third of the way into its import (0.3 of 1 s here):
    # importing it as ``import torch`` begins lets a warm fork server (the hook above)
    # import torch beside the parent from the start, not after the parent's first third.
    if "multiprocessing" in sys.modules:
        return
    from spawnfix import warm_forkserver

    if warm_forkserver.warm_start_enabled():
        import multiprocessing  # noqa: F401  (its import hook decides on the warm start)


def _note_default_preload(forkserver_module):
    from spawnfix import forkserver_preload

    forkserver_preload.note_default_preload(forkserver_module)


def _send_by_value_back(_cloudpickle):
    reduction = sys.modules.get("multiprocessing.reduction")
    if reduction is not None:
        from spawnfix import by_value

        by_value.install(reduction)


def _watch_pools(pool_module):
    if _bootstrapping_child():
        return
    from spawnfix import pool_watchdog

    pool_watchdog.install(pool_module)


def _watch_executors(process_module):
    if _bootstrapping_child():
        return
    from spawnfix import pool_watchdog

    pool_watchdog.install_executor(process_module)


def _bootstrapping_child():
    # A forkserver worker imports the pool module to unpickle its target: it is a worker,
    # not a program that creates pools (spawn workers never register the hook at all).
    process = sys.modules.get("multiprocessing.process")
    return process is not None and getattr(process.current_process(), "_inheriting", False)


def _patch_wandb(wandb_module):
    from spawnfix import wandb_hook

    wandb_hook.install(wandb_module)


def _report_unknown_mode(raw):
    # Said once per process tree: children inherit the marker with the environment.
    if os.environ.get(_CONFIG_REPORTED):
        return
    os.environ[_CONFIG_REPORTED] = "1"
    import warnings

    from spawnfix import messages
    from spawnfix.errors import SpawnfixConfigWarning

    warnings.warn(messages.unknown_mode(raw), SpawnfixConfigWarning, stacklevel=2)


def when_imported(name, callback):
    """Call ``callback(module)`` once module ``name`` has been imported, or now if it is.

    The callback runs after the module body, before the importer gets the module back,
    so ``from wandb import init`` already sees a patch. A failing callback is logged and
    skipped: it never breaks the program's import.
    """
    module = sys.modules.get(name)
    if module is not None:
        _run_failing_open(callback, module)
        return
    _pending.setdefault(name, []).append(callback)
    if not any(isinstance(finder, PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder())


def when_importing(name, callback):
    """Call ``callback(name)`` once, when an import of module ``name`` begins (before its
    body runs); a failing callback is logged and skipped."""
    if name in sys.modules:
        return
    _before.setdefault(name, []).append(callback)
    if not any(isinstance(finder, PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder())


def _run_failing_open(callback, module):
    try:
        callback(module)
    except Exception as error:
        from spawnfix.diagnostics import log_decision

        log_decision("post-import hook %r failed and was skipped: %r", callback, error)


class PostImportFinder:
    """A ``sys.meta_path`` finder that answers only for watched names, to add a hook.

    It asks the other finders for the real spec and wraps its loader; for any other name
    it returns None at once, which costs well under a microsecond per import.
    """

    def find_spec(self, fullname, path=None, target=None):
        """Find the real spec with the other finders and wrap its loader."""
        if fullname in _before:
            for callback in _before.pop(fullname):
                _run_failing_open(callback, fullname)
        if fullname not in _pending:
            return None
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if isinstance(finder, PostImportFinder) or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HookedLoader(spec.loader, fullname)
        return spec

    def invalidate_caches(self):
        """Nothing is cached here; present for the finder protocol."""


class _HookedLoader:
    """Delegates to the real loader and runs the callbacks after ``exec_module``."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # Put the real loader back first: pickle, pkgutil and importlib.resources should
        # never see this wrapper.
        module.__loader__ = self._loader
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self._loader
        self._loader.exec_module(module)
        for callback in _pending.pop(self._fullname, []):
            _run_failing_open(callback, module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
