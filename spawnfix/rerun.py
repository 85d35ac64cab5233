"""Child side of the multiprocessing repair: re-run the main script under control.

The parent sends a ``RerunPlan`` inside the preparation data. Unpickling it in the child
(``spawn._main``, before ``spawn.prepare``) calls ``_arrive_in_child``, which takes over
``spawn._fixup_main_from_path`` / ``_fixup_main_from_name`` for this one call. Everything
else ``prepare`` does (name, authkey, ``sys.path``, ``sys.argv``, working directory, start
method) stays the standard library's. Children that get no plan never import this module's
machinery, so they pay nothing.

``rerun_main_until`` then runs the main script as ``__mp_main__`` the way ``runpy`` would
(same ``__file__``, ``__spec__``, ``sys.argv[0]``, module registration, and tracebacks
that point at the real file and lines), except that:

- when the plan names a simple top-level statement (``pool.map(f, xs)``), only the
  statements before it run: never that statement, never anything after it;
- otherwise (a compound statement such as ``with Pool() as p:``, no statement, or a source
  file that changed since the parent read it) the script runs natively;
- in both cases any process start stops the re-run where it is, keeping what is defined,
  and a ``set_start_method()`` that would fail with "context has already been set" does
  nothing.

Limits: a process start from another thread during the re-run is not stopped; a script
that is not a ``.py`` source file (zip application, ``.pyc``) is re-run by the standard
library, with the same stop and ``set_start_method`` rules.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from spawnfix.diagnostics import log_decision

TYPE_CHECKING = False  # typing costs milliseconds at startup; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Optional


class RerunPlan:
    """What the child needs to re-run the main script safely; pickled with the prep data.

    Only standard types travel: the child unpickles it before ``__main__`` exists.
    """

    __slots__ = ("digest", "path", "stop_before_index", "stop_before_line")

    def __init__(
        self,
        path: str,
        digest: str,
        stop_before_index: Optional[int],
        stop_before_line: Optional[int],
    ) -> None:
        self.path = path
        self.digest = digest
        self.stop_before_index = stop_before_index
        self.stop_before_line = stop_before_line

    @classmethod
    def for_statement(cls, script: Any, statement: Any) -> RerunPlan:
        """Plan for a spawn site: stop before a simple statement, else run natively."""
        if statement is not None and statement.kind == "simple":
            return cls(script.path, script.digest, statement.index, statement.first_line)
        return cls(script.path, script.digest, None, None)

    def __reduce__(self) -> Any:
        fields = (self.path, self.digest, self.stop_before_index, self.stop_before_line)
        return (_arrive_in_child, fields)

    def __repr__(self) -> str:
        where = (
            f"stop before line {self.stop_before_line}"
            if self.stop_before_index is not None
            else "run natively until the first process start"
        )
        return f"RerunPlan({self.path!r}, {where})"


class RerunStopped(BaseException):
    """Raised inside the re-run to stop it at a process start.

    A ``BaseException`` so that the user's ``except Exception:`` blocks do not swallow it.
    """


def _arrive_in_child(
    path: str, digest: str, stop_before_index: Optional[int], stop_before_line: Optional[int]
) -> RerunPlan:
    """Unpickling hook: runs in the child while the preparation data is loaded."""
    plan = RerunPlan(path, digest, stop_before_index, stop_before_line)
    spawn = sys.modules.get("multiprocessing.spawn")
    if spawn is not None:
        take_over_main_fixup(spawn, plan)
    return plan


def take_over_main_fixup(spawn: Any, plan: RerunPlan) -> None:
    """Replace the main-module fix-up of ``spawn.prepare`` for its next (only) call."""
    original_from_path = spawn._fixup_main_from_path
    original_from_name = spawn._fixup_main_from_name

    def restore() -> None:
        spawn._fixup_main_from_path = original_from_path
        spawn._fixup_main_from_name = original_from_name

    def fixup_main_from_path(main_path: str) -> None:
        restore()
        rerun_main_from_path(spawn, plan, main_path, original_from_path)

    def fixup_main_from_name(mod_name: str) -> None:
        restore()
        rerun_main_from_name(spawn, plan, mod_name, original_from_name)

    spawn._fixup_main_from_path = fixup_main_from_path
    spawn._fixup_main_from_name = fixup_main_from_name
    log_decision("child received %r", plan)


def rerun_main_from_path(
    spawn: Any, plan: RerunPlan, main_path: str, original: Callable[[str], None]
) -> None:
    """Controlled twin of ``spawn._fixup_main_from_path`` (``runpy.run_path`` semantics)."""
    # No plan is ever sent for what spawn.prepare skips (main_script.rerun_path); a main
    # already in place (fork server preload) or a non-source file is left to the stdlib.
    current_main = sys.modules["__main__"]
    if getattr(current_main, "__file__", None) == main_path or not main_path.endswith(".py"):
        with bootstrap_guards():
            original(main_path)
        return
    module_globals = {
        "__name__": "__mp_main__",
        "__file__": main_path,
        "__cached__": None,
        "__doc__": None,
        "__loader__": None,
        "__package__": "",
        "__spec__": None,
    }
    namespace = rerun_main_until(plan, main_path, module_globals)
    _install_as_main(spawn, namespace)


def rerun_main_from_name(
    spawn: Any, plan: RerunPlan, mod_name: str, original: Callable[[str], None]
) -> None:
    """Controlled twin of ``spawn._fixup_main_from_name`` (``runpy.run_module`` semantics)."""
    import importlib.util

    current_main = sys.modules["__main__"]
    if getattr(current_main.__spec__, "name", None) == mod_name:
        return
    spec = importlib.util.find_spec(mod_name)
    origin = getattr(spec, "origin", None)
    if spec is None or not isinstance(origin, str) or not origin.endswith(".py"):
        with bootstrap_guards():
            original(mod_name)
        return
    module_globals = {
        "__name__": "__mp_main__",
        "__file__": origin,
        "__cached__": spec.cached,
        "__doc__": None,
        "__loader__": spec.loader,
        "__package__": spec.parent,
        "__spec__": spec,
    }
    namespace = rerun_main_until(plan, origin, module_globals)
    _install_as_main(spawn, namespace)


def rerun_main_until(plan: RerunPlan, path: str, module_globals: dict[str, Any]) -> dict[str, Any]:
    """Run the main script in ``module_globals`` as far as the plan allows; return them.

    Mirrors ``runpy._run_module_code``: a temporary ``__mp_main__`` module is registered and
    ``sys.argv[0]`` is the script's path while the code runs.
    """
    import io
    import types

    with io.open_code(path) as handle:
        source = handle.read()
    code = _compile_plan(plan, source, path)
    temp_module = types.ModuleType("__mp_main__")
    temp_module.__dict__.update(module_globals)
    saved_module = sys.modules.get("__mp_main__")
    saved_argv0 = sys.argv[0] if sys.argv else None
    sys.modules["__mp_main__"] = temp_module
    if sys.argv:
        sys.argv[0] = path
    try:
        with bootstrap_guards():
            try:
                exec(code, temp_module.__dict__)
            except RerunStopped as stop:
                log_decision("re-run of %s stopped: %s", path, stop)
    finally:
        if saved_module is None:
            sys.modules.pop("__mp_main__", None)
        else:
            sys.modules["__mp_main__"] = saved_module
        if sys.argv:
            sys.argv[0] = saved_argv0
    return temp_module.__dict__.copy()


def _compile_plan(plan: RerunPlan, source: bytes, path: str) -> Any:
    from spawnfix.main_script import parse_module, source_digest

    tree = parse_module(source, path)
    if plan.stop_before_index is None:
        log_decision("re-running %s natively, stopping at the first process start", path)
    elif source_digest(source) != plan.digest:
        log_decision("%s changed since the parent read it: re-running natively", path)
    else:
        tree.body = tree.body[: plan.stop_before_index]
        log_decision("re-running %s up to line %d (excluded)", path, plan.stop_before_line)
    return compile(tree, path, "exec", dont_inherit=True)


def _install_as_main(spawn: Any, namespace: dict[str, Any]) -> None:
    # Exactly what spawn._fixup_main_from_* do with runpy's result.
    import types

    spawn.old_main_modules.append(sys.modules["__main__"])
    main_module = types.ModuleType("__mp_main__")
    main_module.__dict__.update(namespace)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


# The thread running a controlled re-run, if any. Process starts from that thread stop the
# re-run; set while ``bootstrap_guards`` is active.
_rerun_thread: Optional[threading.Thread] = None


@contextmanager
def bootstrap_guards() -> Iterator[None]:
    """Neutralise the calls that are fatal during the bootstrapping phase, for a re-run."""
    global _rerun_thread
    import multiprocessing
    from multiprocessing import process

    original_start = process.BaseProcess.start
    original_set_start_method = multiprocessing.set_start_method

    def start(self: Any) -> None:
        if _rerun_thread is threading.current_thread():
            raise RerunStopped(f"{type(self).__name__}.start() reached during the re-run")
        original_start(self)

    def set_start_method(method: Optional[str], force: bool = False) -> None:
        context = multiprocessing.context._default_context
        already_set = getattr(context, "_actual_context", None) is not None
        if _rerun_thread is threading.current_thread() and already_set and not force:
            log_decision("ignored set_start_method(%r) during the re-run", method)
            return
        original_set_start_method(method, force=force)

    start.__wrapped__ = original_start  # type: ignore[attr-defined]
    set_start_method.__wrapped__ = original_set_start_method  # type: ignore[attr-defined]
    process.BaseProcess.start = start  # type: ignore[method-assign]
    multiprocessing.set_start_method = set_start_method
    _rerun_thread = threading.current_thread()
    try:
        yield
    finally:
        _rerun_thread = None
        process.BaseProcess.start = original_start  # type: ignore[method-assign]
        multiprocessing.set_start_method = original_set_start_method
