"""spawnfix: unguarded scripts that work under the spawn and forkserver start methods.

The startup hook (``spawnfix.pth``) does not import this package: it runs
``_spawnfix_startup.watch_imports()``, which watches imports for the modules spawnfix acts
on and imports this package at the first of them. Importing the package while that watcher
is waiting (from the watcher, or ``import spawnfix`` in a program) activates spawnfix in its
place; ``activate()`` does the same without the watcher (the sitecustomize stub, a program).
Activation is cheap, standard library only, idempotent and fail-open:

- unless spawnfix is off, it registers post-import hooks: each entry of ``_PARENT_HOOKS``
  and ``_HOOKS`` names a watched module and the spawnfix function that patches it once the
  program imports it (at once if it already has). Those functions live in their own
  modules, imported only then;
- it imports neither wrapt, nor multiprocessing, nor wandb, nor ``typing``;
  ``spawnfix.config`` is imported only when a ``SPAWNFIX*`` variable is set, since the
  defaults need no parsing. The public exception classes come from ``spawnfix.errors``
  on first access;
- a second call does nothing, and no exception ever escapes.

The post-import finder does not cope with module reloads (the callback does not run
again) or with loaders that lack ``exec_module``; neither applies to the modules watched.
"""

import os
import sys

__version__ = "0.1.0"  # the package's one version (pyproject.toml reads it from here)

__all__ = [
    "ChildPicklingError",
    "SentByValueWarning",
    "SpawnfixConfigWarning",
    "UnguardedMainError",
    "UnguardedMainWarning",
    "WorkerStartupError",
    "__version__",
    "activate",
    "is_active",
]

# Type checkers read the real names; at run time importing them is deferred (typing and
# the exception module cost every interpreter its start).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from spawnfix.errors import (
        ChildPicklingError,
        SentByValueWarning,
        SpawnfixConfigWarning,
        UnguardedMainError,
        UnguardedMainWarning,
        WorkerStartupError,
    )

# Whether activate() has run in this process, and what it decided (for `spawnfix doctor`).
_activated = False
status = []
# The .pth or .start file whose line started spawnfix (site's frame says), or None.
started_by = None
# warnings.filters as the interpreter set them up (children get only the program's own
# changes): taken by the startup watcher before the program ran; without it (the stub, a
# program's activate()), at activation.
initial_warning_filters = None
# The startup hook's module (spawnfix.pth runs its watch_imports()).
WATCHER_MODULE = "_spawnfix_startup"

# Hooks waiting for their module, by module name; an entry is removed when it runs. A
# hook is a callable or a "module:function" of this package (imported when it runs).
_pending = {}
# Hooks to run when the import of a module begins (before its body), by module name.
_before = {}

# multiprocessing.spawn.get_command_line() passes it to every spawned child.
SPAWN_CHILD_FLAG = "--multiprocessing-fork"
_VARIABLES = ("SPAWNFIX", "SPAWNFIX_DEBUG", "SPAWNFIX_PRELOAD")
# Skipped in a child that is still unpickling its task: a forkserver worker imports the
# pool modules for that, and is no pool's parent (spawn workers never register them).
_NOT_WHILE_BOOTSTRAPPING = ("pool_watchdog:install", "pool_watchdog:install_executor")

# The patches for a program that starts children. A spawned child's own top-level code
# is never on the stack when it starts a process (it runs the parent's target), so they
# are useless there and would cost every worker their imports: its re-run of the main
# script is handled by the child's start (spawnfix.child_start), which installs the
# patch for grandchildren at the child's first launch
# (``install_parent_side_at_first_launch``). multiprocess and billiard are
# multiprocessing's forks with the same spawn module.
_PARENT_HOOKS = (
    ("multiprocessing.spawn", "mp_hooks:install"),
    ("multiprocess.spawn", "mp_hooks:install"),
    ("billiard.spawn", "mp_hooks:install"),
    # Threads started before the first child need their origin recorded too.
    ("multiprocessing", "thread_sites:install"),
    ("multiprocess", "thread_sites:install"),
    ("billiard", "thread_sites:install"),
    # Which start methods the program chooses itself (its children are then spawn's).
    ("multiprocessing", "start_method_choice:install"),
    ("multiprocess", "start_method_choice:install"),
    ("billiard", "start_method_choice:install"),
    # A script that will start forkserver children gets its fork server now, so that its
    # preload imports beside the program's own (spawnfix.warm_forkserver).
    ("multiprocessing", "warm_forkserver:warm_if_needed"),
    ("multiprocessing.forkserver", "forkserver_preload:note_default_preload"),
    ("multiprocessing.pool", "pool_watchdog:install"),
    ("concurrent.futures.process", "pool_watchdog:install_executor"),
)
# Run as the import of these begins: torch imports multiprocessing a third of the way in,
# and the warm fork server should import torch beside the parent from the start.
_PARENT_HOOKS_BEFORE = (("torch", "warm_forkserver:import_multiprocessing_first"),)
# The patches every process needs: by-value pickling (a worker that received something
# by value sends such objects back the same way; spawnfix.mp_hooks installs it at the
# first launch elsewhere) and wandb's.
_HOOKS = (
    ("cloudpickle", "by_value:install_after_cloudpickle"),
    ("wandb", "wandb_hook:install"),
)


def activate() -> None:
    """Install spawnfix's lazy hooks in this interpreter (idempotent, never raises)."""
    if not _activated:
        _activate_once(_startup_file(sys._getframe(1)), None)


def start_from_watcher(watcher: object) -> None:
    """Take the startup watcher (``_spawnfix_startup``) out of ``sys.meta_path`` and
    activate spawnfix in its place, with what it recorded at startup (idempotent, never
    raises). Called by the watcher at the first watched import, and by this module's import
    while the watcher waits."""
    try:
        while watcher in sys.meta_path:
            sys.meta_path.remove(watcher)
    except Exception:
        pass
    _activate_once(getattr(watcher, "started_by", None), getattr(watcher, "warning_filters", None))


def _activate_once(startup_file, warning_filters):
    global _activated, started_by, initial_warning_filters
    if _activated:
        return
    _activated = True
    try:
        started_by = startup_file
        if warning_filters is None:
            warning_filters = tuple(getattr(sys.modules.get("_warnings"), "filters", ()))
        initial_warning_filters = warning_filters
        _activate()
    except Exception as error:  # fail open: the user's program must start regardless
        status.append(f"activation failed: {error!r}")
        try:
            from spawnfix.diagnostics import log_decision

            log_decision("activation failed, spawnfix is inactive: %r", error)
        except Exception:
            pass


def is_active() -> bool:
    """Whether the hooks were installed in this process."""
    return _activated and "hooks registered" in status


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


def _activate():
    if any(name in os.environ for name in _VARIABLES):
        from spawnfix import config

        settings = config.current()
        if not settings.understood:
            config.warn_unknown_mode(settings.raw_mode or "")
        if not settings.active:
            status.append("off: SPAWNFIX disables it")
            return
    # An embedded interpreter may have no sys.argv.
    if SPAWN_CHILD_FLAG not in (getattr(sys, "argv", None) or ()):
        for name, target in _PARENT_HOOKS:
            when_imported(name, target)
        for name, target in _PARENT_HOOKS_BEFORE:
            when_importing(name, target)
    for name, target in _HOOKS:
        when_imported(name, target)
    status.append("hooks registered")


def when_imported(name, hook):
    """Call ``hook(module)`` once module ``name`` has been imported, or now if it is.

    The hook runs after the module body, before the importer gets the module back, so
    ``from wandb import init`` already sees a patch. ``hook`` is a callable or a
    ``"module:function"`` of this package, imported only when it runs. A failing hook is
    logged and skipped: it never breaks the program's import.
    """
    module = sys.modules.get(name)
    if module is not None:
        _run_failing_open(hook, module)
        return
    _pending.setdefault(name, []).append(hook)
    _install_finder()


def when_importing(name, hook):
    """Call ``hook(name)`` once, when an import of module ``name`` begins (before its
    body runs); ``hook`` as for ``when_imported``, and failing open the same way."""
    if name in sys.modules:
        return
    _before.setdefault(name, []).append(hook)
    _install_finder()


def _install_finder():
    if not any(isinstance(finder, PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder())


def _run_failing_open(hook, argument):
    try:
        if isinstance(hook, str):
            if hook in _NOT_WHILE_BOOTSTRAPPING and _bootstrapping_child():
                return
            target, _, function = hook.partition(":")
            module = __import__(f"spawnfix.{target}", fromlist=[function])
            hook = getattr(module, function)
        hook(argument)
    except Exception as error:
        try:  # the handler must not raise either: the program's import goes on
            from spawnfix.diagnostics import log_decision

            log_decision("post-import hook %r failed and was skipped: %r", hook, error)
        except Exception:
            pass


def install_parent_side_at_first_launch(spawn_module):
    """In a child: install the parent side (``spawnfix.mp_hooks``) on ``spawn_module``
    when this child first launches a child of its own. Spawned children skip the parent
    hooks at startup (``_PARENT_HOOKS``): most never start a process."""
    original = spawn_module.get_preparation_data

    def get_preparation_data(name):
        spawn_module.get_preparation_data = original
        _run_failing_open("mp_hooks:install", spawn_module)
        return spawn_module.get_preparation_data(name)

    spawn_module.get_preparation_data = get_preparation_data


def _bootstrapping_child():
    process = sys.modules.get("multiprocessing.process")
    return process is not None and getattr(process.current_process(), "_inheriting", False)


class PostImportFinder:
    """A ``sys.meta_path`` finder that answers only for watched names, to add a hook.

    It asks the other finders for the real spec and wraps its loader; for any other name
    it returns None at once, which costs well under a microsecond per import.
    """

    def find_spec(self, fullname, path=None, target=None):
        """Find the real spec with the other finders and wrap its loader."""
        _run_before_hooks(fullname)
        if fullname not in _pending:
            return None
        return _with_hooks(fullname, _spec_from_other_finders(fullname, path, target))

    def invalidate_caches(self):
        """Nothing is cached here; present for the finder protocol."""


def find_watched_spec(name, path=None, target=None):
    """The startup watcher's answer for the import that started spawnfix, found with the
    other finders: the watcher has left ``sys.meta_path`` during that import, so it answers
    in full, with spawnfix's hooks, as ``PostImportFinder`` would have."""
    _run_before_hooks(name)
    return _with_hooks(name, _spec_from_other_finders(name, path, target))


def _run_before_hooks(name):
    if name in _before:
        for hook in _before.pop(name):
            _run_failing_open(hook, name)


def _spec_from_other_finders(name, path, target):
    watcher = sys.modules.get(WATCHER_MODULE)
    for finder in list(sys.meta_path):
        find_spec = getattr(finder, "find_spec", None)
        if isinstance(finder, PostImportFinder) or finder is watcher or find_spec is None:
            continue
        spec = find_spec(name, path, target)
        if spec is not None:
            return spec
    return None


def _with_hooks(name, spec):
    if name not in _pending or spec is None or spec.loader is None:
        return spec
    if hasattr(spec.loader, "exec_module"):
        spec.loader = _HookedLoader(spec.loader, name)
    return spec


class _HookedLoader:
    """Delegates to the real loader and runs the hooks after ``exec_module``."""

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
        for hook in _pending.pop(self._fullname, []):
            _run_failing_open(hook, module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def __getattr__(name: str) -> object:
    if name in __all__:
        from spawnfix import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'spawnfix' has no attribute {name!r}")


def _take_over_waiting_watcher():
    watcher = sys.modules.get(WATCHER_MODULE)
    if watcher is not None and watcher in sys.meta_path:
        start_from_watcher(watcher)


# `import spawnfix` while the startup watcher waits (a program, `spawnfix doctor`) activates
# spawnfix as the watcher would have at the first watched import.
_take_over_waiting_watcher()
